"""``fedqsar manifest-diff A/ B/``: explain how two PreparedSets' settings differ."""

from __future__ import annotations

from pathlib import Path

import typer

from fedqsar.cli.common import console, reports_errors
from fedqsar.prep.manifest import compare_manifests
from fedqsar.prepared import read_manifest


@reports_errors
def manifest_diff(
    left: Path = typer.Argument(..., help="first PreparedSet folder"),
    right: Path = typer.Argument(..., help="second PreparedSet folder"),
) -> None:
    """Compare two PreparedSet manifests; exit 1 if they may not federate together."""
    differences = compare_manifests(read_manifest(left), read_manifest(right))
    for difference in differences:
        console.print(difference.describe())
    blocking = [d for d in differences if d.blocking]
    if blocking:
        console.print(
            f"[bold red]{len(blocking)} blocking difference(s)[/]: re-run `fedqsar prepare` with the same config and key"
        )
        raise typer.Exit(code=1)
    console.print("[green]compatible[/]: same prep settings and consortium key")


def register(app: typer.Typer) -> None:
    app.command("manifest-diff")(manifest_diff)
