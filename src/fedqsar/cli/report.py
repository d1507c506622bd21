"""``fedqsar report RUN/ [--out FILE]``: write the self-contained HTML report of a run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fedqsar.cli.common import reports_errors, say


@reports_errors
def report(
    run_dir: Annotated[Path, typer.Argument(help="Run folder written by `fedqsar demo` or `federate` + `evaluate`.")],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="HTML file to write (default RUN/report.html).")
    ] = None,
    probes: Annotated[
        list[Path] | None,
        typer.Option("--probe", help="a folder written by `fedqsar probe` to show in the report (repeat)"),
    ] = None,
) -> None:
    """Write one self-contained HTML report of a run (no network needed to view it)."""
    from fedqsar.report import write_report  # matplotlib loads only when the verb runs

    path = write_report(run_dir, out, tuple(probes or ()))
    say(f"report written to {path}")
    say(f"open it with a browser: file://{path.resolve()}")


def register(app: typer.Typer) -> None:
    """Add the ``report`` verb to ``app``."""
    app.command(name="report")(report)
