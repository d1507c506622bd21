"""``fedqsar manifest-diff A/ B/``: explain how two PreparedSets' settings differ."""

from __future__ import annotations

from pathlib import Path

import typer

from fedqsar.cli.common import console, reports_errors


@reports_errors
def manifest_diff(
    left: Path = typer.Argument(..., help="first PreparedSet folder"),
    right: Path = typer.Argument(..., help="second PreparedSet folder"),
) -> None:
    """Compare two PreparedSet manifests; exit 1 if they may not federate together."""
    from fedqsar.compatibility import differences, profile
    from fedqsar.prepared import read_manifest

    manifests = read_manifest(left), read_manifest(right)
    found = differences(profile(manifests[0]), profile(manifests[1]), *manifests)
    for difference in found:
        console.print(difference.describe(), markup=False, highlight=False)
    blocking = [d for d in found if d.blocks]
    if blocking:
        console.print(f"[bold red]{len(blocking)} blocking difference(s)[/]: ", end="")
        console.print(blocking[0].fix, markup=False, highlight=False)
        raise typer.Exit(code=1)
    console.print("[green]compatible[/]: same prep settings and consortium key")


def register(app: typer.Typer) -> None:
    app.command("manifest-diff")(manifest_diff)
