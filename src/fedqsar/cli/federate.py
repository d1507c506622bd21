"""``fedqsar federate --partners A/ B/ C/ --out RUN/``: a federated run in Flower's simulation engine."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from fedqsar.cli.common import StageProgress, console, reports_errors, say
from fedqsar.config import from_dict
from fedqsar.errors import ConfigError
from fedqsar.federation.config import STRATEGY_NAMES, FederationConfig
from fedqsar.model.config import ModelConfig, TrainConfig
from fedqsar.progress import ROUNDS_STAGE

if TYPE_CHECKING:  # Flower, Ray and torch load when the verb runs, not for --help
    from fedqsar.federation.simulation import FederatedRun

SUMMARY_METRICS = ("val_auc_roc", "val_auc_pr", "val_rmse", "val_loss")


def read_tables(
    config_file: Path | None, allowed: tuple[str, ...] = ("federation", "model", "train")
) -> dict[str, Any]:
    """The tables of a TOML config file (none when no file is given), only those in ``allowed``."""
    if config_file is None:
        return {}
    listed = ", ".join(f"[{name}]" for name in allowed)
    try:
        tables = tomllib.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {config_file}: {exc}", f"give a TOML file with {listed} tables") from exc
    unknown = sorted(set(tables) - set(allowed))
    if unknown:
        raise ConfigError(f"unknown table(s) {unknown} in {config_file}", f"use only {listed}")
    return tables


def partner_folders(folders: list[Path]) -> dict[str, Path]:
    """Partner name (the folder's name) -> PreparedSet folder; two folders with one name are refused."""
    names: dict[str, Path] = {}
    for folder in folders:
        name = folder.resolve().name
        if name in names:
            raise ConfigError(
                f"two partner folders are named {name!r}: {names[name]} and {folder}",
                "give every partner's PreparedSet folder a distinct name (it is the partner's name)",
            )
        names[name] = folder
    return names


def _configs(
    tables: dict[str, Any],
    overrides: dict[str, Any],
    secagg: bool | None,
    dp: bool,
    dp_noise: float | None,
    dp_clip: float | None,
) -> tuple[FederationConfig, ModelConfig, TrainConfig]:
    fed = dict(tables.get("federation", {}))
    fed.update({k: v for k, v in overrides.items() if v is not None})
    if secagg is not None:
        fed["secagg"] = {**fed.get("secagg", {}), "enabled": secagg}
    if dp or dp_noise is not None or dp_clip is not None:
        dp_table = {**fed.get("dp", {}), "enabled": True}
        dp_table.update(
            {k: v for k, v in (("noise_multiplier", dp_noise), ("clipping_norm", dp_clip)) if v is not None}
        )
        fed["dp"] = dp_table
    return (
        from_dict(FederationConfig, fed, where="federation"),
        from_dict(ModelConfig, tables.get("model", {}), where="model"),
        from_dict(TrainConfig, tables.get("train", {}), where="train"),
    )


@reports_errors
def federate(
    partners: list[Path] = typer.Option(
        ..., "--partners", "-p", help="PreparedSet folders, one per partner (folder name = partner name)"
    ),
    more_partners: list[Path] = typer.Argument(
        None, help="more PreparedSet folders (so `--partners A/ B/ C/` works)", show_default=False
    ),
    out: Path = typer.Option(..., "--out", "-o", help="run folder (an existing one with checkpoints is resumed)"),
    config_file: Path | None = typer.Option(
        None, "--config", help="TOML with \\[federation], \\[model], \\[train] tables"
    ),
    rounds: int | None = typer.Option(None, "--rounds", help="federated rounds"),
    local_epochs: int | None = typer.Option(None, "--local-epochs", help="epochs each partner trains per round"),
    strategy: str | None = typer.Option(None, "--strategy", help=f"one of {', '.join(STRATEGY_NAMES)}"),
    secagg: bool | None = typer.Option(
        None, "--secagg/--no-secagg", help="SecAgg+ secure aggregation (default on; needs >= 3 partners)"
    ),
    dp: bool = typer.Option(False, "--dp", help="central differential privacy (client clipping + server noise)"),
    dp_noise: float | None = typer.Option(None, "--dp-noise", help="DP noise multiplier (implies --dp)"),
    dp_clip: float | None = typer.Option(None, "--dp-clip", help="DP clipping norm of each update (implies --dp)"),
    wire_dtype: str | None = typer.Option(
        None, "--wire-dtype", help="float32 or float16 (halves bytes; only with --no-secagg)"
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bar"),
) -> None:
    """Train one model per partner (shared trunk, private heads) with Flower; only trunk updates leave a partner."""
    from fedqsar.federation.simulation import run_simulation

    overrides = {"rounds": rounds, "local_epochs": local_epochs, "strategy": strategy, "wire_dtype": wire_dtype}
    fed_cfg, model_cfg, train_cfg = _configs(read_tables(config_file), overrides, secagg, dp, dp_noise, dp_clip)
    folders = partner_folders(list(partners) + list(more_partners or []))
    with StageProgress(enabled=not quiet) as progress:
        progress(ROUNDS_STAGE, 0, fed_cfg.rounds)
        run = run_simulation(folders, model_cfg, train_cfg, fed_cfg, out, progress=progress)
    _print_summary(run, fed_cfg)


def _print_summary(run: FederatedRun, fed_cfg: FederationConfig) -> None:
    from rich.table import Table

    history = run.history
    last = history[history["round"] == history["round"].max()]
    rounds = int(run.summary.get("rounds", fed_cfg.rounds))
    stop = "converged" if run.summary.get("converged") else "round cap reached"
    table = Table(
        title=f"round {rounds} of at most {fed_cfg.rounds} ({stop}): validation fold, computed by each partner"
    )
    shown = [m for m in SUMMARY_METRICS if m in set(last["metric"])]
    table.add_column("partner")
    for metric in shown:
        table.add_column(metric.removeprefix("val_"), justify="right")
    for partner in sorted(run.partner_models):
        values = last[last["partner"] == partner].set_index("metric")["value"]
        table.add_row(partner, *(f"{values[m]:.3f}" if m in values else "-" for m in shown))
    console.print(table)
    seconds = run.summary.get("round_seconds", {})
    if seconds:
        say(
            f"{len(seconds)} round(s), median {sorted(seconds.values())[len(seconds) // 2]:.2f} s per round; "
            f"secure aggregation: {'SecAgg+' if fed_cfg.secagg.enabled else 'off'}"
        )
    if run.summary.get("dp_epsilon") is not None:
        say(f"differential privacy: epsilon {run.summary['dp_epsilon']:.3g} at delta {run.summary['dp_delta']:g}")
    for partner, folder in sorted(run.partner_models.items()):
        say(f"  {partner}: model {folder}")
    say(f"history {run.out / 'history.csv'}, ledger {run.out / 'ledger.sqlite'}, Flower log {run.out / 'flower.log'}")
    say(f"consortium trunk to publish to candidates (fedqsar probe --trunk): {run.out / 'trunk'}")


def register(app: typer.Typer) -> None:
    app.command("federate")(federate)
