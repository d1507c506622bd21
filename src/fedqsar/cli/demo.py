"""``fedqsar demo``: a simulated consortium on real public data, ending in the HTML report."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from fedqsar.cli.common import StageProgress, console, reports_errors
from fedqsar.config import load_toml
from fedqsar.demo import DemoConfig, run_demo


@reports_errors
def demo(
    out: Path = typer.Option(Path("runs/demo"), "--out", "-o", help="run folder to write"),
    data_dir: Path | None = typer.Option(
        None, "--data-dir", help="mirror of the public data (default: env FEDQSAR_DATA, else download)"
    ),
    config_file: Path | None = typer.Option(
        None, "--config", help="DemoConfig TOML (see RUN/config.toml of a previous run)"
    ),
    scenario: str | None = typer.Option(None, "--scenario", help="admet (default) or potency"),
    max_compounds: int | None = typer.Option(
        None, "--max-compounds", help="structures kept per partner (default from config)"
    ),
    jobs: int = typer.Option(-1, "--jobs", "-j", help="processes for standardisation (-1: all cores)"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace a previous demo run in --out"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bars"),
) -> None:
    """Deal a public scenario to partners, prepare, federate, evaluate uplift, write the report."""
    config = load_toml(DemoConfig, config_file) if config_file else DemoConfig()
    overrides = {k: v for k, v in {"scenario": scenario, "max_compounds": max_compounds}.items() if v is not None}
    config = dataclasses.replace(config, **overrides)
    data = data_dir or (Path(os.environ["FEDQSAR_DATA"]) if os.environ.get("FEDQSAR_DATA") else None)
    with StageProgress(enabled=not quiet) as progress:
        result = run_demo(
            config, out, data_dir=data, n_jobs=jobs, say=console.print, progress=progress, overwrite=overwrite
        )
    wide = console if console.is_terminal else Console(width=120)  # logs and pipes: no truncated columns
    wide.print(_uplift_table(result.protocol.uplift))
    timing = "  ".join(f"{stage} {seconds:.0f}s" for stage, seconds in result.seconds.items())
    console.print(f"time per stage: {timing}")
    console.print(f"[bold green]report:[/] {result.report.resolve()}")


def _uplift_table(uplift: pd.DataFrame) -> Table:
    """Federated vs local per partner and metric, with the pooled upper bound and the 95% CI."""
    table = Table(title="federated vs local on each partner's test fold (95% bootstrap CI)")
    for column in ("partner", "metric", "local", "federated", "pooled", "delta", "95% CI", "tasks"):
        table.add_column(column, justify="left" if column in ("partner", "metric") else "right", no_wrap=True)
    rows = uplift[uplift["comparison"] == "federated_vs_local"]
    for row in rows.itertuples(index=False):
        table.add_row(
            str(row.partner),
            str(row.metric),
            f"{row.local:.3f}",
            f"{row.federated:.3f}",
            f"{row.pooled:.3f}",
            f"{row.delta_abs:+.3f}",
            f"{row.ci_low:+.3f}..{row.ci_high:+.3f}",
            str(row.n_tasks),
        )
    return table


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
