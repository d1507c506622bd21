"""``fedqsar demo``: a simulated consortium on real public data, ending in the HTML report."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import typer

from fedqsar.cli.common import StageProgress, console, reports_errors, say
from fedqsar.config import load_toml


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
    from rich.console import Console

    from fedqsar.cli.uplift_table import uplift_console_table
    from fedqsar.demo import DemoConfig, run_demo

    config = load_toml(DemoConfig, config_file) if config_file else DemoConfig()
    overrides: dict[str, Any] = {
        k: v for k, v in {"scenario": scenario, "max_compounds": max_compounds}.items() if v is not None
    }
    config = dataclasses.replace(config, **overrides)
    data = data_dir or (Path(os.environ["FEDQSAR_DATA"]) if os.environ.get("FEDQSAR_DATA") else None)
    with StageProgress(enabled=not quiet) as progress:
        result = run_demo(config, out, data_dir=data, n_jobs=jobs, say=say, progress=progress, overwrite=overwrite)
    wide = console if console.is_terminal else Console(width=120)  # logs and pipes: no truncated columns
    wide.print(uplift_console_table(result.protocol.uplift))
    timing = "  ".join(f"{stage} {seconds:.0f}s" for stage, seconds in result.seconds.items())
    say(f"time per stage: {timing}")
    say(f"report: {result.report.resolve()}", style="bold green")


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
