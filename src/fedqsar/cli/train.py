"""``fedqsar train --data PREPARED --out MODEL``: local training of one partner's model.

A model for use trains on every fold except the validation fold that early stopping watches.
``--hold-out-test`` also keeps the test fold (``TrainConfig.test_fold``, default 4) out, for an
honest estimate on it; a ``--train-config`` file that sets ``test_fold`` is honoured as written
(``test_fold = -1``: none). The model folder's ``train_config.toml`` says which was done.
"""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from fedqsar.cli.common import console, reports_errors, say
from fedqsar.config import load_toml, save_toml
from fedqsar.errors import ConfigError, ModelFileError
from fedqsar.filemodes import seal
from fedqsar.model.config import ModelConfig, TrainConfig
from fedqsar.versions import write_versions

if TYPE_CHECKING:  # heavy imports happen when the verb runs, not for --help
    import pandas as pd
    from rich.table import Table

    from fedqsar.prepared import PreparedSet

TABLE_METRICS = {
    "classification": ("auc_roc", "auc_pr", "auc_pr_cal", "log_loss", "brier"),
    "regression": ("rmse", "r2", "spearman", "rmse_censored"),
}

SHORT_NAMES = {
    "n_positive": "pos",
    "n_uncensored": "exact",
    "auc_roc": "AUC",
    "auc_pr": "AUCPR",
    "auc_pr_cal": "AUCPRc",
    "log_loss": "logloss",
    "rmse_censored": "rmse_c",
    "spearman": "rho",
}


def _configs(
    model_file: Path | None,
    train_file: Path | None,
    epochs: int | None,
    hidden: str | None,
    batch_size: int | None,
    lr: float | None,
    seed: int | None,
) -> tuple[ModelConfig, TrainConfig]:
    model_cfg = load_toml(ModelConfig, model_file) if model_file else ModelConfig()
    train_cfg = load_toml(TrainConfig, train_file) if train_file else TrainConfig()
    try:
        if hidden:
            model_cfg = dataclasses.replace(model_cfg, hidden_sizes=tuple(int(h) for h in hidden.split(",")))
        overrides: dict[str, Any] = {
            k: v
            for k, v in {"epochs": epochs, "batch_size": batch_size, "lr": lr, "seed": seed}.items()
            if v is not None
        }
        train_cfg = dataclasses.replace(train_cfg, **overrides)
    except ValueError as exc:
        raise ConfigError(f"invalid option: {exc}", "e.g. --hidden 512 or --hidden 1000,200; --epochs 20") from exc
    return model_cfg, train_cfg


def _test_fold_in_file(train_file: Path | None) -> bool:
    """True when a TrainConfig TOML sets ``test_fold`` explicitly (load_toml has validated it)."""
    if train_file is None:
        return False
    return "test_fold" in tomllib.loads(train_file.read_text(encoding="utf-8"))


def _resolve_test_fold(train_cfg: TrainConfig, train_file: Path | None, hold_out_test: bool | None) -> TrainConfig:
    """Apply ``--hold-out-test`` / ``--no-hold-out-test`` (default: hold out only if the config file says so)."""
    if hold_out_test is None and _test_fold_in_file(train_file):
        return train_cfg
    if hold_out_test:
        fold = train_cfg.test_fold if train_cfg.test_fold is not None else TrainConfig().test_fold
        try:
            return dataclasses.replace(train_cfg, test_fold=fold)
        except ValueError as exc:
            raise ConfigError(f"invalid folds: {exc}", "choose a test_fold other than validation_fold") from exc
    return dataclasses.replace(train_cfg, test_fold=None)


def _select(prepared: PreparedSet, tasks: str | None, task_kind: str | None) -> PreparedSet:
    """The PreparedSet restricted to ``--tasks`` / ``--task-kind`` (unchanged when neither is given)."""
    from fedqsar.prepared import match_tasks

    if not tasks and not task_kind:
        return prepared
    names = [name for name in (tasks or "").split(",") if name.strip()]
    return prepared.select_tasks(match_tasks(prepared.tasks, names, task_kind))


def _metrics_tables(long_df: pd.DataFrame, tasks: pd.DataFrame, fold: int) -> list[Table]:
    """One rich table per task kind: task, counts, then that kind's metrics."""
    import pandas as pd
    from rich.table import Table

    wide = long_df.pivot_table(index="task", columns="metric", values="value", aggfunc="first")
    counts = {"classification": ("n", "n_positive"), "regression": ("n", "n_uncensored")}
    tables = []
    from fedqsar.prepared import in_column_order

    ordered = in_column_order(tasks)
    for kind, names in TABLE_METRICS.items():
        kind_tasks = ordered[ordered["kind"] == kind]
        if kind_tasks.empty:
            continue
        table = Table(title=f"validation fold {fold}: {kind} tasks")
        table.add_column("task", overflow="ellipsis", no_wrap=True, max_width=20)
        for name in counts[kind] + names:
            table.add_column(SHORT_NAMES.get(name, name), justify="right", no_wrap=True)
        for name in kind_tasks["task_name"].astype(str):
            row = wide.loc[name] if name in wide.index else pd.Series(dtype=float)
            cells = [f"{row.get(m, 0):.0f}" for m in counts[kind]] + [f"{row.get(m, float('nan')):.3f}" for m in names]
            table.add_row(name, *cells)
        tables.append(table)
    return tables


@reports_errors
def train(
    data: Path = typer.Option(..., "--data", "-d", help="PreparedSet folder (fedqsar prepare --out)"),
    out: Path = typer.Option(..., "--out", "-o", help="model folder to write"),
    partner: str | None = typer.Option(
        None, "--partner", help="name of this partner's head (default: the data folder's name)"
    ),
    model_config: Path | None = typer.Option(
        None, "--model-config", help="ModelConfig TOML (hidden_sizes, dropout, ...)"
    ),
    train_config: Path | None = typer.Option(None, "--train-config", help="TrainConfig TOML (epochs, lr, folds, ...)"),
    epochs: int | None = typer.Option(None, "--epochs", help="maximum epochs (early stopping on the validation fold)"),
    hidden: str | None = typer.Option(None, "--hidden", help="trunk widths, e.g. 512 or 2000,500"),
    batch_size: int | None = typer.Option(None, "--batch-size"),
    lr: float | None = typer.Option(None, "--lr"),
    seed: int | None = typer.Option(None, "--seed"),
    hold_out_test: bool | None = typer.Option(
        None,
        "--hold-out-test/--no-hold-out-test",
        help="also keep the test fold (TrainConfig.test_fold, default 4) out of training; "
        "default: train on every fold but the validation fold, unless --train-config sets test_fold",
    ),
    tasks: str | None = typer.Option(
        None, "--tasks", help="train only these tasks: comma-separated task names, assay ids or endpoints"
    ),
    task_kind: str | None = typer.Option(
        None, "--task-kind", help="train only tasks of this kind: regression or classification"
    ),
    force: bool = typer.Option(False, "--force", help="overwrite an existing model folder"),
    threads: int = typer.Option(2, "--threads", help="torch CPU threads"),
) -> None:
    """Train a local model on one PreparedSet; print and save validation metrics per task."""
    import pandas as pd
    import torch

    from fedqsar.model.io import CONFIG_FILE, save_model
    from fedqsar.model.metrics import aggregate_metrics
    from fedqsar.model.network import HeadSpec, MultitaskModel
    from fedqsar.model.training import fit
    from fedqsar.prepared import PreparedSet
    from fedqsar.trust.model_adapter import fit_trust_for_saved_model

    torch.set_num_threads(max(1, threads))
    if (out / CONFIG_FILE).exists() and not force:
        raise ModelFileError(f"{out} already holds a model", "choose another --out or pass --force to overwrite it")
    model_cfg, train_cfg = _configs(model_config, train_config, epochs, hidden, batch_size, lr, seed)
    train_cfg = _resolve_test_fold(train_cfg, train_config, hold_out_test)
    prepared = _select(PreparedSet.load(data), tasks, task_kind)
    partner = partner or data.resolve().name
    model = MultitaskModel(
        prepared.n_bits, model_cfg, {partner: HeadSpec.from_tasks(prepared.tasks)}, len(prepared.descriptor_names)
    )
    say(
        f"training {partner!r}: {prepared.n_compounds} compounds, {prepared.n_tasks} tasks, "
        f"hidden {model_cfg.hidden_sizes}, up to {train_cfg.epochs} epochs; validation fold {train_cfg.validation_fold} "
        + (
            f"(early stopping), test fold {train_cfg.test_fold} held out"
            if train_cfg.test_fold is not None
            else "(early stopping), every other fold trained on (--hold-out-test keeps a test fold out)"
        )
    )

    def report(stage: str, done: int, total: int | None = None, detail: str = "") -> None:
        say(f"{stage} {done:3d}  {detail}")

    result = fit(model, partner, prepared, train_cfg, progress=report)
    save_model(out, model, model_cfg, train_cfg, prepared.tasks, prepared.manifest, partner=partner)
    save_toml(model_cfg, out / "model_config.toml")
    save_toml(train_cfg, out / "train_config.toml")
    write_versions(out)
    metrics = result.validation_metrics.assign(fold=train_cfg.validation_fold)[["task", "fold", "metric", "value"]]
    metrics.to_csv(out / "metrics.csv", index=False)
    pd.DataFrame([dataclasses.asdict(h) for h in result.history]).to_csv(out / "history.csv", index=False)
    seal(out)
    for table in _metrics_tables(result.validation_metrics, prepared.tasks, train_cfg.validation_fold):
        console.print(table)
    summary = aggregate_metrics(result.validation_metrics, prepared.tasks).dropna(subset=["value"])
    if not summary.empty:
        console.print("aggregation-weighted means over tasks passing quorum:")
        console.print(summary.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    say(
        f"best epoch {result.best_epoch} (validation loss {result.best_validation_loss:.4f}"
        f"{', stopped early' if result.stopped_early else ''}); model written to {out}"
    )
    trust = fit_trust_for_saved_model(out, prepared)  # trust step: conformal calibration on the validation fold
    say(f"trust artefacts (conformal calibration, applicability domain) written to {trust}")


def register(app: typer.Typer) -> None:
    app.command("train")(train)
