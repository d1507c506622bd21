"""``fedqsar keygen --out FILE``: create a new consortium key file."""

from __future__ import annotations

from pathlib import Path

import typer

from fedqsar.cli.common import reports_errors, say


@reports_errors
def keygen(
    out: Path = typer.Option(..., "--out", help="where to write the new key file (mode 0600)"),
    force: bool = typer.Option(False, "--force", help="overwrite an existing key file (its key is lost)"),
) -> None:
    """Create a consortium key; share the file with the partners only, never the server."""
    from fedqsar.prep.keys import generate_key, save_key

    key = generate_key()
    save_key(key, out, overwrite=force)
    say(f"wrote consortium key {out}  key id {key.key_id}")
    say("share this file with the partners only (never with the server); compare key ids to check it")


def register(app: typer.Typer) -> None:
    app.command("keygen")(keygen)
