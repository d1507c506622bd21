"""Run fedqsar as a real Flower deployment: one SuperLink, one SuperNode per partner.

Two halves:

- *Command builders* (pure functions, no side effects) for ``flower-superlink`` with TLS and
  SuperNode authentication, ``flwr supernode register``, ``flower-supernode`` per partner
  (its PreparedSet path in the node config) and ``flwr run``. ``fedqsar deploy commands``
  prints them for real multi-machine deployments; docs/deployment.md explains them.
- A *loopback harness* (``LoopbackDeployment``) that starts those processes on 127.0.0.1,
  waits for readiness with deadlines, runs an app and always stops every process it started
  (process groups, descendants found through ``/proc``, ``atexit``, and ``containment``'s
  sentinel when this process is killed outright). Used by the integration test and the
  deployment benchmark.

Two latency profiles (``DeploymentSpec.profile``):

``"flower"``
    Flower's defaults: each message starts a fresh ``flwr-clientapp`` process; nodes and the
    ServerApp poll every 3 s; SuperExec polls every 1 s.
``"warm"``
    ``--isolation process`` on SuperLink and SuperNodes, each served by a long-running
    ``fedqsar.federation.warm_exec superexec`` that forks pre-imported task processes
    (torch and the app imported once), and polling capped at ``poll_interval`` seconds.

Runtime dependency installation is always off (``--disable-runtime-dependency-installation``
on the SuperLink; SuperNodes keep Flower's default of off; ``FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION=1``).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from fedqsar.errors import FederationError
from fedqsar.federation.certs import TlsFiles
from fedqsar.federation.containment import contained
from fedqsar.federation.sentinel import TOKEN_VARIABLE

CONNECTION_NAME = "fedqsar"
PROFILES = ("flower", "warm")
NodeConfigValue = str | int | float | bool


# ---------------------------------------------------------------- specs


@dataclass(frozen=True)
class NodeSpec:
    """One partner's SuperNode.

    Attributes
    ----------
    name
        Partner name (also ``partner`` in the node config).
    private_key, public_key
        The node's ECDSA key pair (OpenSSH format, see ``certs.create_node_keys``).
    node_config
        Node config passed with ``--node-config`` (``prepared``, ``state-dir``), without ``partner``.
    runtime_port
        Port of this SuperNode's local Runtime API (where its ClientApp processes connect).
    """

    name: str
    private_key: Path
    public_key: Path
    node_config: Mapping[str, NodeConfigValue] = field(default_factory=dict)
    runtime_port: int = 9094

    def full_node_config(self) -> dict[str, NodeConfigValue]:
        """Node config including ``partner`` (the ClientApp reads ``partner``, ``prepared``, ``state-dir``)."""
        return {"partner": self.name, **dict(self.node_config)}


@dataclass(frozen=True)
class DeploymentSpec:
    """Where the SuperLink listens and how processes run.

    Attributes
    ----------
    workdir
        Folder for logs, the Flower home (``FLWR_HOME``: CLI connection config, installed apps)
        and SuperLink state.
    tls
        TLS files (``certs.create_tls_certificates``); the server cert must cover ``host``.
    superlink_port
        Port of the SuperLink's HTTPS API (Fleet, Control and Runtime APIs share it in 1.42).
    host
        Address the SuperLink binds and nodes connect to.
    profile
        ``"flower"`` (Flower's defaults) or ``"warm"`` (see module docstring).
    poll_interval
        Polling cap in seconds for the ``"warm"`` profile.
    preload
        Modules the warm executors import once (e.g. ``("torch", "fedqsar.federation.client_app")``).
    database
        SuperLink state file; ``None`` keeps state in memory (a fresh federation every start).
    """

    workdir: Path
    tls: TlsFiles
    superlink_port: int
    host: str = "127.0.0.1"
    profile: str = "flower"
    poll_interval: float = 0.2
    preload: tuple[str, ...] = ()
    database: Path | None = None

    def __post_init__(self) -> None:
        if self.profile not in PROFILES:
            raise FederationError(f"unknown deployment profile {self.profile!r}", f"use one of {PROFILES}")

    @property
    def superlink_address(self) -> str:
        """``host:port`` of the SuperLink."""
        return f"{self.host}:{self.superlink_port}"

    @property
    def flwr_home(self) -> Path:
        """Flower home folder of the operator's CLI and of the local processes."""
        return self.workdir / "flwr-home"


# ---------------------------------------------------------------- command builders


def format_node_config(config: Mapping[str, NodeConfigValue]) -> str:
    """Render a node config for ``--node-config`` (strings quoted as TOML strings).

    Example: ``{"partner-name": "A", "epochs": 2}`` -> ``partner-name="A" epochs=2``.
    """
    parts = []
    for key, value in config.items():
        if not re.fullmatch(r"[A-Za-z0-9_-]+", key):
            raise FederationError(f"node config key {key!r} is not a bare TOML key", "use letters, digits, '-' and '_'")
        if isinstance(value, bool):
            rendered = "true" if value else "false"
        elif isinstance(value, (int, float)):
            rendered = repr(value)
        else:
            rendered = json.dumps(str(value))
        parts.append(f"{key}={rendered}")
    return " ".join(parts)


def _flwr_bin(name: str) -> str:
    """Path of a Flower console script next to the running interpreter (falls back to PATH)."""
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name


def superlink_command(spec: DeploymentSpec) -> list[str]:
    """``flower-superlink`` with TLS, SuperNode authentication and no runtime installs."""
    command = [
        _flwr_bin("flower-superlink"),
        "--ssl-ca-certfile",
        str(spec.tls.ca_cert),
        "--ssl-certfile",
        str(spec.tls.server_cert),
        "--ssl-keyfile",
        str(spec.tls.server_key),
        "--enable-supernode-auth",
        "--disable-runtime-dependency-installation",
        "--host",
        spec.host,
        "--port",
        str(spec.superlink_port),
    ]
    if spec.database is not None:
        command += ["--database", str(spec.database)]
    if spec.profile == "warm":
        command += ["--isolation", "process"]
    return command


def supernode_command(spec: DeploymentSpec, node: NodeSpec) -> list[str]:
    """``flower-supernode`` for one partner: TLS root cert, auth key, node config."""
    arguments = [
        "--superlink",
        spec.superlink_address,
        "--root-certificates",
        str(spec.tls.ca_cert),
        "--auth-supernode-private-key",
        str(node.private_key),
        "--node-config",
        format_node_config(node.full_node_config()),
        "--host",
        "127.0.0.1",
        "--port",
        str(node.runtime_port),
        "--max-retries",
        "3",
        "--max-wait-time",
        "30",
    ]
    if spec.profile == "warm":
        return [sys.executable, "-m", "fedqsar.federation.warm_exec", "supernode", *arguments, "--isolation", "process"]
    return [_flwr_bin("flower-supernode"), *arguments]


def warm_exec_command(
    runtime_address: str, root_certificates: Path | None, parent_pid: int | None, spec: DeploymentSpec
) -> list[str]:
    """A long-running ``warm_exec superexec`` serving one Runtime API (TLS if a CA is given).

    With ``parent_pid`` it exits when that process (its SuperLink/SuperNode) exits.
    """
    command = [
        sys.executable,
        "-m",
        "fedqsar.federation.warm_exec",
        "superexec",
        "--runtime-api-address",
        runtime_address,
        "--poll",
        str(spec.poll_interval),
    ]
    if parent_pid is not None:
        command += ["--parent-pid", str(parent_pid)]
    command += ["--root-certificates", str(root_certificates)] if root_certificates else ["--insecure"]
    for module in spec.preload:
        command += ["--preload", module]
    return command


def register_command(spec: DeploymentSpec, node: NodeSpec) -> list[str]:
    """``flwr supernode register`` of one partner's public key (run by the SuperLink operator)."""
    return [
        _flwr_bin("flwr"),
        "supernode",
        "register",
        str(node.public_key),
        CONNECTION_NAME,
        "--name",
        node.name,
        "--format",
        "json",
    ]


def run_command(
    app_dir: Path, run_config: Mapping[str, NodeConfigValue] | None = None, stream: bool = True
) -> list[str]:
    """``flwr run APP fedqsar`` (the connection named ``fedqsar`` in the Flower config)."""
    command = [_flwr_bin("flwr"), "run", str(app_dir), CONNECTION_NAME]
    if run_config:
        command += ["--run-config", format_node_config(run_config)]
    if stream:
        command.append("--stream")
    return command


def app_dir() -> Path:
    """The Flower app folder submitted with ``flwr run`` (ships no code; see its pyproject.toml)."""
    return Path(__file__).resolve().parent / "flwr_app"


def flwr_connection_toml(spec: DeploymentSpec) -> str:
    """Flower CLI config (``$FLWR_HOME/config.toml``) with a TLS connection named ``fedqsar``."""
    return (
        "[superlink]\n"
        f'default = "{CONNECTION_NAME}"\n\n'
        f"[superlink.{CONNECTION_NAME}]\n"
        f'address = "{spec.superlink_address}"\n'
        f'root-certificates = "{Path(spec.tls.ca_cert).resolve()}"\n'
    )


def deployment_env(spec: DeploymentSpec, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for every process: venv on PATH, private Flower home, no runtime installs,
    no telemetry or update checks."""
    env = dict(os.environ if base is None else base)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["FLWR_HOME"] = str(spec.flwr_home.resolve())
    env["FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION"] = "1"
    env["FLWR_TELEMETRY_ENABLED"] = "0"
    env["FLWR_DISABLE_UPDATE_CHECK"] = "1"  # no calls to the internet from any process
    env["PYTHONUNBUFFERED"] = "1"
    if spec.profile == "warm":
        env["FLWR_SUPEREXEC_TASK_POLL_INTERVAL"] = str(spec.poll_interval)
        env["FEDQSAR_NODE_POLL"] = str(spec.poll_interval)
    return env


def shell_line(command: Sequence[str]) -> str:
    """A command as one copy-pasteable shell line."""
    return " ".join(shlex.quote(part) for part in command)


def free_port(host: str = "127.0.0.1") -> int:
    """A currently free TCP port on ``host`` (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


# ---------------------------------------------------------------- processes


def _children_of(pid: int) -> list[int]:
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # field 4 (after the parenthesised command name) is the parent pid
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid:
            children.append(int(entry.name))
    return children


def descendants(pid: int, max_depth: int = 8) -> list[int]:
    """Every live descendant of ``pid`` (children first, bounded depth); Linux ``/proc``."""
    found: list[int] = []
    frontier = [pid]
    for _ in range(max_depth):
        frontier = [child for parent in frontier for child in _children_of(parent)]
        if not frontier:
            break
        found.extend(frontier)
    return found


def _signal_quietly(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


@dataclass
class ManagedProcess:
    """A started process, its log file and name."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        """Process id."""
        return self.popen.pid

    def alive(self) -> bool:
        """True while the process runs."""
        return self.popen.poll() is None

    def log_text(self) -> str:
        """Everything the process wrote so far (stdout and stderr)."""
        return self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path.exists() else ""

    def wait_for_log(self, pattern: str, timeout: float) -> bool:
        """Wait until ``pattern`` (regex) appears in the log; False on timeout or exit."""
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern)
        while time.monotonic() < deadline:
            if regex.search(self.log_text()):
                return True
            if not self.alive():
                return bool(regex.search(self.log_text()))
            time.sleep(0.1)
        return False

    def wait_exit(self, timeout: float) -> int | None:
        """Exit code, or None if still running after ``timeout`` seconds."""
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None


class ProcessGroup:
    """Starts processes in their own sessions and guarantees they all stop.

    ``stop_all`` sends SIGTERM to every process group and every descendant (found before
    signalling, so detached grandchildren like Flower's SuperExec are included), waits up to
    ``grace`` seconds, then SIGKILLs what is left. Registered with ``atexit``.
    """

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.processes: list[ManagedProcess] = []
        atexit.register(self.stop_all)

    def start(
        self, name: str, command: Sequence[str], env: Mapping[str, str], cwd: Path | None = None
    ) -> ManagedProcess:
        """Start ``command`` with its output in ``log_dir/<name>.log``."""
        log_path = self.log_dir / f"{name}.log"
        env = dict(env)
        if TOKEN_VARIABLE in os.environ:  # inside ``containment.contained()``: mark it for the sentinel
            env[TOKEN_VARIABLE] = os.environ[TOKEN_VARIABLE]
        with log_path.open("ab") as log:
            popen = subprocess.Popen(  # noqa: S603 - commands are built above, not from user text
                list(command),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=dict(env),
                cwd=cwd,
                start_new_session=True,
            )
        process = ManagedProcess(name, popen, log_path)
        self.processes.append(process)
        return process

    def all_pids(self) -> list[int]:
        """Started pids and their live descendants."""
        pids: list[int] = []
        for process in self.processes:
            if process.alive():
                pids.append(process.pid)
            pids.extend(descendants(process.pid))
        return list(dict.fromkeys(pids))

    def stop_all(self, grace: float = 8.0) -> list[int]:
        """Stop everything; returns pids that were still alive after SIGKILL (should be empty)."""
        targets = self.all_pids()
        for process in reversed(self.processes):
            if process.alive():
                try:
                    os.killpg(process.pid, signal.SIGTERM)
                except (ProcessLookupError, PermissionError):
                    pass
        for pid in targets:
            _signal_quietly(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(pid_alive(pid) for pid in targets):
            self._reap()
            time.sleep(0.1)
        for pid in targets:
            if pid_alive(pid):
                _signal_quietly(pid, signal.SIGKILL)
        deadline = time.monotonic() + 5.0  # SIGKILLed processes can take a moment to vanish
        while time.monotonic() < deadline and any(pid_alive(pid) for pid in targets):
            self._reap()
            time.sleep(0.05)
        return [pid for pid in targets if pid_alive(pid)]

    def _reap(self) -> None:
        for process in self.processes:
            process.popen.poll()


def pid_alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie (Linux ``/proc``)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


# ---------------------------------------------------------------- loopback deployment


@dataclass(frozen=True)
class RunOutcome:
    """Result of ``LoopbackDeployment.run``: exit code, seconds and the ``flwr run`` output."""

    returncode: int
    seconds: float
    output: str


class LoopbackDeployment:
    """SuperLink + SuperNodes on one machine, for tests, benchmarks and demos.

    Use as a context manager; every process it started is stopped on exit, even on error.

    Parameters
    ----------
    spec
        Where and how to run (``DeploymentSpec``).
    """

    def __init__(self, spec: DeploymentSpec) -> None:
        self.spec = spec
        self.env = deployment_env(spec)
        self.processes = ProcessGroup(spec.workdir / "logs")
        self.superlink: ManagedProcess | None = None
        self.nodes: dict[str, ManagedProcess] = {}
        self.node_ids: dict[str, int] = {}
        self._containment = contextlib.ExitStack()
        spec.flwr_home.mkdir(parents=True, exist_ok=True)
        (spec.flwr_home / "config.toml").write_text(flwr_connection_toml(spec), encoding="utf-8")

    def __enter__(self) -> LoopbackDeployment:
        self._containment.enter_context(contained())
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.close()
        finally:
            self._containment.close()

    def close(self) -> list[int]:
        """Stop every process; returns pids that survived (empty when cleanup worked)."""
        return self.processes.stop_all()

    def start_superlink(self, timeout: float = 60.0) -> ManagedProcess:
        """Start the SuperLink (and its warm executor) and wait until its port accepts TLS."""
        self.superlink = self.processes.start("superlink", superlink_command(self.spec), self.env)
        self._wait_port(self.spec.host, self.spec.superlink_port, self.superlink, timeout)
        if self.spec.profile == "warm":
            self.processes.start(
                "superlink-exec",
                warm_exec_command(self.spec.superlink_address, self.spec.tls.ca_cert, self.superlink.pid, self.spec),
                self.env,
            )
        return self.superlink

    def register(self, node: NodeSpec, timeout: float = 60.0) -> int:
        """Register the node's public key at the SuperLink; returns the node id."""
        done = subprocess.run(  # noqa: S603
            register_command(self.spec, node),
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        match = re.search(r'"node-id"\s*:\s*(\d+)', done.stdout)
        if done.returncode != 0 or match is None:
            raise FederationError(
                f"registering {node.name}'s public key failed (exit {done.returncode}): {done.stdout[-500:]} {done.stderr[-500:]}",
                "check that the SuperLink runs with --enable-supernode-auth and that the key is an ECDSA NIST-curve OpenSSH key",
            )
        self.node_ids[node.name] = int(match.group(1))
        return self.node_ids[node.name]

    def start_node(self, node: NodeSpec) -> ManagedProcess:
        """Start one SuperNode (and, in the warm profile, its warm executor)."""
        process = self.processes.start(f"supernode-{node.name}", supernode_command(self.spec, node), self.env)
        self.nodes[node.name] = process
        if self.spec.profile == "warm":
            self.processes.start(
                f"supernode-{node.name}-exec",
                warm_exec_command(f"127.0.0.1:{node.runtime_port}", None, process.pid, self.spec),
                self.env,
            )
        return process

    def wait_node_connected(self, name: str, timeout: float = 60.0) -> None:
        """Wait until the SuperNode logs its node id (it was authenticated and activated)."""
        process = self.nodes[name]
        if not process.wait_for_log(r"SuperNode ID: \d+", timeout):
            raise FederationError(
                f"SuperNode {name} did not connect within {timeout:.0f} s (exit code {process.popen.poll()}); "
                f"log tail:\n{process.log_text()[-1500:]}",
                "check the SuperLink address, the TLS root certificate and that the node's key is registered",
            )

    def start_federation(self, nodes: Sequence[NodeSpec], timeout: float = 90.0) -> None:
        """SuperLink, registration of every node, then every SuperNode, connected."""
        self.start_superlink(timeout)
        for node in nodes:
            self.register(node)
        for node in nodes:
            self.start_node(node)
        for node in nodes:
            self.wait_node_connected(node.name, timeout)

    def run(
        self, app_dir: Path, run_config: Mapping[str, NodeConfigValue] | None = None, timeout: float = 300.0
    ) -> RunOutcome:
        """``flwr run`` the app and stream its logs until the run ends (bounded by ``timeout``)."""
        started = time.monotonic()
        log_path = self.processes.log_dir / f"flwr-run-{int(time.time() * 1000)}.log"
        process = self.processes.start(log_path.stem, run_command(app_dir, run_config), self.env)
        code = process.wait_exit(timeout)
        if code is None:
            raise FederationError(
                f"flwr run did not finish within {timeout:.0f} s; output tail:\n{process.log_text()[-2000:]}",
                "look at the SuperLink and SuperNode logs in the deployment workdir",
            )
        return RunOutcome(code, time.monotonic() - started, process.log_text())

    def _wait_port(self, host: str, port: int, process: ManagedProcess, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not process.alive():
                raise FederationError(
                    f"{process.name} exited with code {process.popen.poll()}:\n{process.log_text()[-2000:]}",
                    "check the certificate paths and that the port is free",
                )
            try:
                with socket.create_connection((host, port), timeout=1.0):
                    return
            except OSError:
                time.sleep(0.1)
        raise FederationError(f"{process.name} did not open {host}:{port} within {timeout:.0f} s", "see its log")
