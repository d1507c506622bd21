"""Helpers shared by CLI verbs: error reporting, consoles, config output."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.text import Text

from fedqsar.errors import FedQSARError

P = ParamSpec("P")
R = TypeVar("R")

console = Console(soft_wrap=True)  # paths and commands are never wrapped mid-token
ALLOW_OPEN_KEY = typer.Option(
    False,
    "--allow-open-key",
    help="accept a key file group/others can read (containers whose mounts cannot keep file modes)",
)
err_console = Console(stderr=True, soft_wrap=True)


def reports_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn a ``FedQSARError`` into a two-line message on stderr and its exit code."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except FedQSARError as exc:
            print_error(exc)
            raise typer.Exit(code=exc.exit_code) from exc

    return wrapper


def say(text: str, style: str | None = None) -> None:
    """Print ``text`` as it is: no markup (SMILES like ``[nH]`` stay intact), no highlighting, never wrapped."""
    console.print(Text(text, style=style or ""), soft_wrap=True, highlight=False)


def print_error(exc: FedQSARError) -> None:
    """Write ``error: ...`` and ``fix: ...`` to stderr, never wrapped and never read as markup.

    A path or command in the message must stay on one line so that a user can copy it,
    whatever the terminal width; ``soft_wrap`` lets the terminal fold it instead of rich.
    """
    err_console.print(Text.assemble(("error:", "bold red"), " ", exc.what), soft_wrap=True, highlight=False)
    if exc.fix:
        err_console.print(Text.assemble(("fix:", "bold"), " ", exc.fix), soft_wrap=True, highlight=False)


class StageProgress:
    """Rich progress bars, one per stage: a ``fedqsar.progress.Progress``.

    Use as a context manager; pass the instance as a library's ``progress``. Each new stage gets a
    bar; ``progress(stage, done, total, detail)`` moves it to ``done`` of ``total``.
    Disabled (no output) when ``enabled`` is false, e.g. for ``--quiet``.
    """

    def __init__(self, enabled: bool = True) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=err_console,
            disable=not enabled,
            transient=False,
        )
        self._tasks: dict[str, Any] = {}  # stage -> rich task id

    def __enter__(self) -> StageProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def __call__(self, stage: str, done: int, total: int | None = None, detail: str = "") -> None:
        description = f"{stage} {detail}" if detail else stage
        if stage not in self._tasks:
            self._tasks[stage] = self._progress.add_task(description, total=total)
        self._progress.update(self._tasks[stage], completed=done, total=total, description=description)
