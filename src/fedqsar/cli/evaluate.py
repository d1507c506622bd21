"""``fedqsar evaluate --partners A/ B/ C/ --out RUN``: the uplift protocol on the user's own PreparedSets.

Simulation only (all partners' PreparedSets on this machine): local, federated (Flower),
personalised, pooled and random-forest models per partner, scored on each partner's test
fold, with bootstrap intervals; then ``fedqsar report RUN`` renders the HTML report.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from fedqsar.cli.common import console, reports_errors, say
from fedqsar.cli.federate import partner_folders, read_tables
from fedqsar.config import from_dict, save_toml
from fedqsar.errors import ConfigError

TABLES = ("model", "train", "federation", "evaluation", "trust")


def _config(tables: dict[str, Any], kinds: str | None, rounds: int | None, secagg: bool | None) -> Any:
    from fedqsar.consortium import EvaluateConfig

    config = from_dict(EvaluateConfig, tables, where="evaluate config")
    federation = config.federation
    if rounds is not None:
        federation = dataclasses.replace(federation, rounds=rounds)
    if secagg is not None:
        federation = dataclasses.replace(federation, secagg=dataclasses.replace(federation.secagg, enabled=secagg))
    evaluation = config.evaluation
    if kinds:
        try:
            evaluation = dataclasses.replace(evaluation, model_kinds=tuple(k.strip() for k in kinds.split(",")))
        except ValueError as exc:
            raise ConfigError(str(exc), "give --kinds as a comma list, e.g. local,federated,personalised") from exc
    return dataclasses.replace(config, federation=federation, evaluation=evaluation)


@reports_errors
def evaluate(
    partners: list[Path] = typer.Option(
        ..., "--partners", "-p", help="PreparedSet folders, one per partner (folder name = partner name)"
    ),
    more_partners: list[Path] = typer.Argument(
        None, help="more PreparedSet folders (so `--partners A/ B/ C/` works)", show_default=False
    ),
    out: Path = typer.Option(..., "--out", "-o", help="run folder to write (never overwritten once finished)"),
    config_file: Path | None = typer.Option(
        None, "--config", help="TOML with \\[model], \\[train], \\[federation], \\[evaluation], \\[trust] tables"
    ),
    kinds: str | None = typer.Option(
        None, "--kinds", help="model kinds, comma-separated (default local,federated,personalised,pooled,rf)"
    ),
    rounds: int | None = typer.Option(None, "--rounds", help="most federated rounds (stops earlier on convergence)"),
    secagg: bool | None = typer.Option(None, "--secagg/--no-secagg", help="SecAgg+ (default on; needs >= 3 partners)"),
) -> None:
    """Compare local, federated, personalised, pooled and random-forest models on each partner's test fold."""
    from fedqsar.cli.uplift_table import uplift_console_table
    from fedqsar.consortium import evaluate_consortium

    config = _config(read_tables(config_file, TABLES), kinds, rounds, secagg)
    folders = partner_folders(list(partners) + list(more_partners or []))
    result = evaluate_consortium(folders, config, out, say=say)
    save_toml(config, Path(out) / "config.toml")
    wide = console if console.is_terminal else Console(width=120, soft_wrap=True)
    wide.print(uplift_console_table(result.protocol.uplift))
    say(f"results in {Path(out) / 'evaluation'}; render the report with: fedqsar report {out}")


def register(app: typer.Typer) -> None:
    """Add the ``evaluate`` verb to ``app``."""
    app.command("evaluate")(evaluate)
