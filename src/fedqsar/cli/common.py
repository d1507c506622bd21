"""Helpers shared by CLI verbs: error reporting, consoles, config output."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.console import Console

from fedqsar.errors import FedQSARError

F = TypeVar("F", bound=Callable[..., Any])

console = Console()
err_console = Console(stderr=True)


def reports_errors(func: F) -> F:
    """Turn a ``FedQSARError`` into a two-line message on stderr and its exit code."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except FedQSARError as exc:
            err_console.print(f"[bold red]error:[/] {exc.what}")
            if exc.fix:
                err_console.print(f"[bold]fix:[/] {exc.fix}")
            raise typer.Exit(code=exc.exit_code) from exc

    return wrapper  # type: ignore[return-value]
