"""``fedqsar probe --trunk TRUNK --data MY_PREPARED/ --key KEY --out DIR``: should we join?

Runs on the candidate's machine only: fits its own head on the consortium's published trunk
(and, for a trunk federated under the default ``private_input``, its own first layer, as
every member has), fine-tunes trunk + head, trains its local-only model with the same budget,
and compares them on its own validation fold. Nothing is sent anywhere; no network connection is opened.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from fedqsar.cli.common import console, reports_errors, say
from fedqsar.cli.federate import read_tables
from fedqsar.config import from_dict
from fedqsar.progress import printing

TABLES = ("train", "personalisation", "evaluation")
VERDICT_STYLES = {"help": "bold green", "not_help": "bold red", "cannot_tell": "bold yellow"}


def _config(tables: dict[str, Any]) -> Any:
    from fedqsar.probe import ProbeConfig

    return from_dict(ProbeConfig, tables, where="probe config")


@reports_errors
def probe(
    trunk: Path = typer.Option(..., "--trunk", help="the consortium's trunk folder (RUN/trunk/) or its .json"),
    data: Path = typer.Option(..., "--data", "-d", help="your PreparedSet folder (prepared with the consortium key)"),
    key_file: Path = typer.Option(..., "--key", help="the consortium key file you prepared with"),
    out: Path = typer.Option(..., "--out", "-o", help="folder for probe.json, probe_*.csv and probe.html"),
    config_file: Path | None = typer.Option(
        None,
        "--config",
        help="TOML with \\[train], \\[personalisation], \\[evaluation] tables (default: the consortium's settings)",
    ),
) -> None:
    """Measure locally what joining the consortium would give you, before contributing anything."""
    from fedqsar.prep.keys import load_key
    from fedqsar.probe import run_probe

    config = _config(read_tables(config_file, TABLES))
    result = run_probe(trunk, data, load_key(key_file), out, config, progress=printing(say))
    _print(result)


def _print(result: Any) -> None:
    from rich.table import Table

    table = Table(title=f"probe of {result.candidate} on its validation fold (the test fold is not read)")
    for column, justify in (("model", "left"), ("metric", "left"), ("tasks", "right"), ("local", "right")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for column in ("model's", "Δ", "95% CI"):
        table.add_column(column, justify="right")
    for row in result.summary.itertuples():
        table.add_row(
            str(row.comparison).partition("_vs_")[0],
            str(row.metric),
            str(int(row.n_tasks)),
            f"{row.local:.3f}",
            f"{row.challenger:.3f}",
            f"{row.delta_abs:+.3f}",
            f"{row.ci_low:+.3f} .. {row.ci_high:+.3f}",
        )
    console.print(table)
    say(f"verdict: {result.verdict.sentence}", style=VERDICT_STYLES.get(result.verdict.code, "bold"))
    say(f"page: {result.out / 'probe.html'}; results: {result.out}")


def register(app: typer.Typer) -> None:
    """Add the ``probe`` verb to ``app``."""
    app.command("probe")(probe)
