"""``fedqsar ledger verify RUN/`` and ``fedqsar ledger show RUN/``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from fedqsar.cli.common import console, reports_errors, say

ledger_app = typer.Typer(help="Inspect and verify a run's hash-chained ledger.", no_args_is_help=True)

RunArg = Annotated[Path, typer.Argument(help="Run folder (or its federation/ folder, or the ledger.sqlite file).")]


@ledger_app.command("verify")
@reports_errors
def verify_command(run: RunArg) -> None:
    """Recompute the hash chain; exit 0 if intact, non-zero naming the first bad entry."""
    from fedqsar.ledger import verify

    result = verify(run)
    state = "complete (ends with run_end)" if result.complete else "open (no run_end yet)"
    say(f"ledger OK: {result.n_entries} entries, {state}", style="bold green")
    say(f"file: {result.path}")
    say(f"head hash: {result.head_hash}")
    say("kinds: " + ", ".join(f"{kind}={count}" for kind, count in sorted(result.kinds.items())))


@ledger_app.command("show")
@reports_errors
def show_command(
    run: RunArg,
    as_json: Annotated[bool, typer.Option("--json", help="Print every entry as one JSON line.")] = False,
) -> None:
    """List the entries (use `verify` to check them)."""
    from rich.table import Table

    from fedqsar.ledger import read_entries, resolve_ledger_path

    entries = read_entries(resolve_ledger_path(run))
    if as_json:
        for entry in entries:
            typer.echo(json.dumps(entry.__dict__, sort_keys=True))
        return
    table = Table(title=f"ledger of {run}")
    for column in ("seq", "time (UTC)", "kind", "payload", "hash"):
        table.add_column(column, overflow="fold")
    for entry in entries:
        payload = json.dumps(entry.payload, sort_keys=True)
        table.add_row(
            str(entry.seq),
            entry.timestamp[:19],
            entry.kind,
            payload if len(payload) <= 160 else payload[:157] + "...",
            entry.hash[:16],
        )
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add the ``ledger`` verb group."""
    app.add_typer(ledger_app, name="ledger")
