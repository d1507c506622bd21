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
from fedqsar.evaluation.kinds import MODEL_KINDS

TABLES = ("model", "train", "federation", "evaluation", "trust")


def _config(
    tables: dict[str, Any],
    kinds: str | None,
    rounds: int | None,
    secagg: bool | None,
    evaluation_overrides: dict[str, Any] | None = None,
) -> Any:
    from fedqsar.consortium import EvaluateConfig

    evaluation_table = dict(tables.get("evaluation", {}))
    evaluation_table.update({k: v for k, v in (evaluation_overrides or {}).items() if v is not None})
    config = from_dict(EvaluateConfig, {**tables, "evaluation": evaluation_table}, where="evaluate config")
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
        None, "--kinds", help=f"model kinds, comma-separated (default {','.join(MODEL_KINDS)})"
    ),
    rounds: int | None = typer.Option(None, "--rounds", help="most federated rounds (stops earlier on convergence)"),
    secagg: bool | None = typer.Option(None, "--secagg/--no-secagg", help="SecAgg+ (default on; needs >= 3 partners)"),
    leave_one_out: bool = typer.Option(
        False, "--leave-one-out", help="also re-run the federation without each partner: what each partner is worth"
    ),
    split_file: Path | None = typer.Option(
        None,
        "--split-file",
        help="evaluate on these folds: chemprop-style JSON (train/val/test compound ids; per partner allowed) or CSV",
    ),
    fold_column: str | None = typer.Option(
        None,
        "--fold-column",
        help="evaluate on this column of compounds.parquet (e.g. scaffold_fold, time_fold), or the split "
        "column of a CSV --split-file; fold numbers or train/valid/test",
    ),
    keep_test_duplicates: bool = typer.Option(
        False,
        "--keep-test-duplicates",
        help="let compounds of any partner's test fold train the other partners (default: left out, counted)",
    ),
) -> None:
    """Compare local, federated, personalised, pooled and random-forest models on each partner's test fold."""
    from fedqsar.cli.uplift_table import uplift_console_table
    from fedqsar.consortium import evaluate_consortium

    overrides = {
        "leave_one_out": True if leave_one_out else None,
        "split_file": str(split_file) if split_file else None,
        "fold_column": fold_column,
        "test_overlap": "keep" if keep_test_duplicates else None,
    }
    config = _config(read_tables(config_file, TABLES), kinds, rounds, secagg, overrides)
    folders = partner_folders(list(partners) + list(more_partners or []))
    result = evaluate_consortium(folders, config, out, say=say)
    save_toml(config, Path(out) / "config.toml")
    wide = console if console.is_terminal else Console(width=120, soft_wrap=True)
    wide.print(uplift_console_table(result.protocol.uplift))
    _print_leave_one_out(result.protocol.out)
    say(f"results in {Path(out) / 'evaluation'}; render the report with: fedqsar report {out}")


def _print_leave_one_out(run_dir: Path) -> None:
    """One line per partner: what removing it does to every other partner (``evaluation/leave_one_out.csv``)."""
    import pandas as pd

    from fedqsar.report.sections_valuation import loo_sentences

    path = Path(run_dir) / "evaluation" / "leave_one_out.csv"
    if not path.is_file():
        return
    table = pd.read_csv(path)
    kind = "personalised" if "personalised" in set(table["model_kind"]) else "federated"
    say(f"leave-one-out ({kind} models, test folds; contribution = with all - without):")
    for sentence in loo_sentences(table, kind):
        say(f"  {sentence}")


def register(app: typer.Typer) -> None:
    """Add the ``evaluate`` verb to ``app``."""
    app.command("evaluate")(evaluate)
