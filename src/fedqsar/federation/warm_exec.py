"""Low-latency process runners for a Flower deployment (``python -m fedqsar.federation.warm_exec``).

Flower 1.42 runs every ClientApp message (and every ServerApp run) in a fresh process:
its SuperExec polls the Runtime API for a task every second and starts ``flwr-clientapp``
with a one-time token, which re-imports flwr, torch and the app (1-3 s per message). On top,
an idle SuperNode polls the SuperLink every 3 s and a ServerApp polls for replies every 3 s.

This module removes that per-message cost without changing Flower's protocol, TLS or node
authentication:

``warm_exec superexec --runtime-api-address HOST:PORT [--insecure | --root-certificates CA]
[--preload MODULE ...] [--poll SECONDS]``
    A long-running SuperExec for ``--isolation process``: it imports flwr's task entry points
    and the preload modules (e.g. torch and the fedqsar ClientApp) once, then *forks* a child
    per task that runs Flower's own ``flwr-clientapp`` / ``flwr-serverapp`` entry with the
    task's token. Each task still runs in its own process (isolation kept), but starts warm.
    In ServerApp children the reply-polling interval is capped at ``--poll``.

``warm_exec supernode ARGS...``
    Flower's ``flower-supernode`` with its idle polling interval capped at ``--poll``
    (environment ``FEDQSAR_NODE_POLL``, default 0.2 s).

POSIX only (uses ``os.fork``). This is a process entry point: it logs to stderr and exits.

This is the only module that patches Flower internals (the SuperExec executor protocol,
``run_superexec.get_executor`` and the ``time`` of Flower's polling loops). They were written
against Flower ``TESTED_FLOWER`` (the version ``pyproject.toml`` pins); every patch first calls
:func:`check_flower_version`, which raises :class:`~fedqsar.errors.UnsupportedFlowerError`
(naming the installed and the supported version) on any other Flower, so a Flower upgrade
fails loudly here instead of misbehaving silently. The deployment's ``"flower"`` profile needs
none of this.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import logging
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

from fedqsar.errors import FedQSARError, UnsupportedFlowerError

LOGGER = logging.getLogger("fedqsar.warm_exec")
TESTED_FLOWER = "1.42.0"  # the one Flower whose internals the patches below were written against
NODE_POLL_ENV = "FEDQSAR_NODE_POLL"
DEFAULT_POLL = 0.2


class _CappedTime:
    """Stand-in for the ``time`` module whose ``sleep`` never exceeds ``cap`` seconds."""

    def __init__(self, cap: float) -> None:
        self._cap = cap

    def sleep(self, seconds: float) -> None:
        time.sleep(min(seconds, self._cap))

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


def installed_flower() -> str:
    """Version of the Flower this process imports (``flwr.__version__``)."""
    import flwr

    return str(getattr(flwr, "__version__", "unknown"))


def check_flower_version() -> None:
    """Refuse to patch any Flower but ``TESTED_FLOWER``.

    Raises
    ------
    UnsupportedFlowerError
        Naming the installed and the supported version.
    """
    found = installed_flower()
    if found != TESTED_FLOWER:
        raise UnsupportedFlowerError(
            f"fedqsar.federation.warm_exec patches Flower {TESTED_FLOWER} internals, but Flower {found} is installed",
            f"install flwr=={TESTED_FLOWER} (the version pyproject.toml pins), or deploy with the "
            f'"flower" profile, which does not use warm_exec',
        )


def cap_module_sleep(module: ModuleType, cap: float) -> None:
    """Make ``module``'s ``time.sleep`` calls sleep at most ``cap`` seconds (Flower ``TESTED_FLOWER`` only)."""
    check_flower_version()
    module.__dict__["time"] = _CappedTime(cap)


def _console_entry(name: str) -> Callable[[], Any]:
    matches = importlib.metadata.entry_points(group="console_scripts", name=name)
    for entry in matches:
        return entry.load()
    raise RuntimeError(f"console script {name!r} is not installed in this environment")


class ForkExecutor:
    """A SuperExec executor that forks a pre-warmed child per task.

    Implements the executor protocol of ``flwr.supercore.superexec.executor`` (1.42):
    ``get_eligible_capacity``, ``wait_for_capacity``, ``launch``, ``reconcile``, ``close``.
    """

    def __init__(self, poll: float) -> None:
        check_flower_version()
        from flwr.supercore.constant import TASK_TYPE_TO_COMMAND, TaskType

        self._poll = poll
        self._children: set[int] = set()
        self._server_type = TaskType.SERVER_APP
        self._entries = {}
        for task_type in (TaskType.CLIENT_APP, TaskType.SERVER_APP):
            command = TASK_TYPE_TO_COMMAND[task_type]
            self._entries[task_type] = (command, _console_entry(command))

    def get_eligible_capacity(
        self, supported_task_types: set[Any], *, insecure: bool = False, root_certificates_path: str | None = None
    ) -> tuple[set[Any], set[str]]:
        del insecure, root_certificates_path
        return {t for t in supported_task_types if t in self._entries}, set()

    def wait_for_capacity(self, task_type: Any = None, **kwargs: Any) -> None:
        del task_type, kwargs

    def launch(self, spec: Any) -> Any:
        from flwr.supercore.constant import TASK_TYPE_TO_APPIO_API_ADDRESS_ARG
        from flwr.supercore.superexec.executor.types import LaunchResult

        if spec.task_type not in self._entries:
            return LaunchResult.failed(f"warm executor cannot run task type {spec.task_type}")
        command, entry = self._entries[spec.task_type]
        argv = [
            command,
            TASK_TYPE_TO_APPIO_API_ADDRESS_ARG[spec.task_type],
            spec.runtime_api_address,
            "--token",
            spec.token,
        ]
        if spec.insecure:
            argv.append("--insecure")
        elif spec.root_certificates_path is not None:
            argv.extend(["--root-certificates", spec.root_certificates_path])
        if spec.parent_pid is not None:
            argv.extend(["--parent-pid", str(spec.parent_pid)])
        pid = os.fork()
        if pid == 0:  # child: never returns
            self._run_child(argv, entry, spec.task_type == self._server_type)
        self._children.add(pid)
        return LaunchResult.accepted()

    def _run_child(self, argv: list[str], entry: Callable[[], Any], is_server: bool) -> None:
        code = 1
        try:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            if is_server:
                cap_module_sleep(importlib.import_module("flwr.superlink.grid.http_grid"), self._poll)
            sys.argv = argv
            entry()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except BaseException:  # noqa: BLE001 - the child must report and exit, whatever happened
            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)

    def reconcile(self) -> None:
        for pid in list(self._children):
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done = pid
            if done:
                self._children.discard(pid)

    def close(self) -> None:
        for pid in list(self._children):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 5.0
        while self._children and time.monotonic() < deadline:
            self.reconcile()
            time.sleep(0.05)


def _preload(modules: Sequence[str]) -> None:
    for name in modules:
        started = time.perf_counter()
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - a failed preload only costs speed
            LOGGER.warning("preload of %s failed (%s); tasks will import it themselves", name, exc)
            continue
        LOGGER.info("preloaded %s in %.2f s", name, time.perf_counter() - started)


def _run_superexec(args: argparse.Namespace) -> None:
    check_flower_version()
    os.environ.setdefault("FLWR_SUPEREXEC_TASK_POLL_INTERVAL", str(args.poll))
    import flwr.supercore.superexec.run_superexec as superexec_module

    _preload(args.preload)
    executor = ForkExecutor(args.poll)
    superexec_module.get_executor = lambda *a, **k: executor
    superexec_module.run_superexec(
        runtime_api_address=args.runtime_api_address,
        insecure=args.insecure,
        root_certificates_path=args.root_certificates,
        parent_pid=args.parent_pid,
        runtime_dependency_install=False,
    )


def _run_supernode(argv: list[str]) -> None:
    check_flower_version()
    poll = float(os.environ.get(NODE_POLL_ENV, DEFAULT_POLL))
    import flwr.supernode.start_client_internal as node_loop
    from flwr.supernode.cli import flower_supernode

    cap_module_sleep(node_loop, poll)
    sys.argv = ["flower-supernode", *argv]
    flower_supernode()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m fedqsar.federation.warm_exec", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    exec_parser = sub.add_parser("superexec", help="long-running SuperExec that forks warm task processes")
    exec_parser.add_argument("--runtime-api-address", required=True)
    exec_parser.add_argument("--insecure", action="store_true")
    exec_parser.add_argument("--root-certificates", default=None)
    exec_parser.add_argument("--parent-pid", type=int, default=None)
    exec_parser.add_argument("--preload", action="append", default=[])
    exec_parser.add_argument("--poll", type=float, default=DEFAULT_POLL)
    sub.add_parser("supernode", help="flower-supernode with a short idle poll", add_help=False)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point: ``superexec`` or ``supernode`` mode (see module docstring)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    LOGGER.setLevel(logging.INFO)
    try:
        if argv[:1] == ["supernode"]:
            _run_supernode(argv[1:])
            return
        _run_superexec(_parser().parse_args(argv))
    except FedQSARError as exc:
        print(f"error: {exc.what}\n  fix: {exc.fix}", file=sys.stderr, flush=True)
        raise SystemExit(exc.exit_code) from exc


if __name__ == "__main__":
    main()
