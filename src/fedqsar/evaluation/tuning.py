"""Fair tuning with Optuna: one search space, the same number of trials, for every model kind.

Each model kind gets ``TuningConfig.n_trials`` trials of Optuna's seeded TPE sampler over the
same ``SearchSpace`` (learning rate, hidden width, dropout, weight decay), scored on the
*validation fold only* (the test fold is never read):

* ``local``: one study per partner, objective = its best validation loss (``run_fit``);
* ``pooled``: one study, objective = the best validation loss over all partners' rows;
* ``federated``: one study over the same space plus the federation's own knobs (local steps
  per round, server learning rate), objective = the lowest validation loss over rounds of
  the real Flower simulation (``run_simulation``), pooled over all partners' validation rows
  the way ``Trainer.validation_loss`` pools them.

No pruner: every trial trains to its own early stop, so the budget is the same for every
kind. The chosen settings come back as ``TunedConfigs`` (frozen) and are written beside the
run (``write_tuned``: one TOML per kind and partner plus ``trials.csv``).
"""

from __future__ import annotations

import dataclasses
import math
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import tomli_w

from fedqsar.config import to_dict
from fedqsar.evaluation.pooled import fit_pooled
from fedqsar.federation.config import FederationConfig
from fedqsar.model.config import ModelConfig, TrainConfig
from fedqsar.model.network import HeadSpec, MultitaskModel
from fedqsar.model.training import fit
from fedqsar.prepared import PreparedSet
from fedqsar.progress import Progress, or_silent

Configs = tuple[ModelConfig, TrainConfig, FederationConfig]


@dataclass(frozen=True)
class SearchSpace:
    """Ranges searched (log scale for ``lr``, ``weight_decay``, ``local_steps``, ``server_lr``)."""

    lr: tuple[float, float] = (3e-4, 3e-3)
    hidden: tuple[int, ...] = (128, 256, 512)
    dropout: tuple[float, float] = (0.0, 0.5)
    weight_decay: tuple[float, float] = (1e-4, 0.3)
    local_steps: tuple[int, int] = (8, 128)
    server_lr: tuple[float, float] = (0.5, 4.0)


@dataclass(frozen=True)
class TuningConfig:
    """``n_trials`` per model kind (and per partner for ``local``); 0 turns the search off."""

    n_trials: int = 0
    seed: int = 0
    space: SearchSpace = field(default_factory=SearchSpace)

    def __post_init__(self) -> None:
        if self.n_trials < 0:
            raise ValueError(f"n_trials must be >= 0, got {self.n_trials}")


@dataclass(frozen=True)
class TunedConfigs:
    """The settings a search chose for one model kind (and partner, for ``local``)."""

    kind: str
    partner: str
    model: ModelConfig
    train: TrainConfig
    federation: FederationConfig
    validation_loss: float
    n_trials: int


def apply(params: Mapping[str, float | int], base: Configs) -> Configs:
    """``base`` with the searched parameters of one trial replaced."""
    model, train, federation = base
    model = dataclasses.replace(
        model,
        hidden_sizes=(int(params.get("hidden", model.hidden_sizes[0])), *model.hidden_sizes[1:]),
        dropout=float(params.get("dropout", model.dropout)),
    )
    train = dataclasses.replace(
        train,
        lr=float(params.get("lr", train.lr)),
        weight_decay=float(params.get("weight_decay", train.weight_decay)),
    )
    if "local_steps" in params or "server_lr" in params:
        federation = dataclasses.replace(
            federation,
            local_steps=int(params["local_steps"]) if "local_steps" in params else federation.local_steps,
            server_lr=float(params["server_lr"]) if "server_lr" in params else federation.server_lr,
        )
    return model, train, federation


def _suggest(trial, space: SearchSpace, federated: bool) -> dict[str, float | int]:  # noqa: ANN001 (optuna.Trial)
    params: dict[str, float | int] = {
        "lr": trial.suggest_float("lr", *space.lr, log=True),
        "hidden": trial.suggest_categorical("hidden", list(space.hidden)),
        "dropout": trial.suggest_float("dropout", *space.dropout),
        "weight_decay": trial.suggest_float("weight_decay", *space.weight_decay, log=True),
    }
    if federated:
        params["local_steps"] = trial.suggest_int("local_steps", *space.local_steps, log=True)
        params["server_lr"] = trial.suggest_float("server_lr", *space.server_lr, log=True)
    return params


def search(
    objective: Callable[[Configs], float],
    base: Configs,
    cfg: TuningConfig,
    *,
    kind: str,
    partner: str = "all",
    federated: bool = False,
) -> tuple[TunedConfigs, pd.DataFrame]:
    """Run one seeded Optuna study minimising ``objective(configs)``; the base configs are trial 0.

    Returns
    -------
    TunedConfigs
        The best trial's settings.
    pd.DataFrame
        One row per trial: kind, partner, trial, value and every searched parameter.
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction="minimize", sampler=optuna.samplers.TPESampler(seed=cfg.seed), pruner=optuna.pruners.NopPruner()
    )
    study.enqueue_trial(_base_params(base, federated))

    def run(trial) -> float:  # noqa: ANN001
        value = float(objective(apply(_suggest(trial, cfg.space, federated), base)))
        return value if math.isfinite(value) else float("inf")

    study.optimize(run, n_trials=cfg.n_trials)
    best = apply(study.best_trial.params, base)
    tuned = TunedConfigs(kind, partner, *best, validation_loss=float(study.best_value), n_trials=cfg.n_trials)
    trials = pd.DataFrame(
        [{"kind": kind, "partner": partner, "trial": t.number, "value": t.value, **t.params} for t in study.trials]
    )
    return tuned, trials


def _base_params(base: Configs, federated: bool) -> dict[str, float | int]:
    model, train, federation = base
    params: dict[str, float | int] = {
        "lr": train.lr,
        "hidden": model.hidden_sizes[0],
        "dropout": model.dropout,
        "weight_decay": max(train.weight_decay, 1e-4),
    }
    if federated:
        params["local_steps"] = int(federation.local_steps or 32)
        params["server_lr"] = float(federation.server_lr or 1.0)
    return params


def local_objective(name: str, prepared: PreparedSet) -> Callable[[Configs], float]:
    """Best validation loss of ``name``'s local model trained with the trial's configs."""

    def objective(configs: Configs) -> float:
        model_cfg, train_cfg, _ = configs
        model = MultitaskModel(prepared.n_bits, model_cfg, {name: HeadSpec.from_tasks(prepared.tasks)})
        return fit(model, name, prepared, train_cfg).best_validation_loss

    return objective


def pooled_objective(prepared: Mapping[str, PreparedSet]) -> Callable[[Configs], float]:
    """Best validation loss (all partners' validation rows) of the pooled model."""

    def objective(configs: Configs) -> float:
        model_cfg, train_cfg, _ = configs
        return fit_pooled(prepared, model_cfg, train_cfg).best_validation_loss

    return objective


def federated_objective(folders: Mapping[str, Path], prepared: Mapping[str, PreparedSet]) -> Callable[[Configs], float]:
    """Lowest validation loss over rounds of a Flower simulation, pooled over all partners' rows."""
    from fedqsar.federation.simulation import run_simulation

    def objective(configs: Configs) -> float:
        model_cfg, train_cfg, fed_cfg = configs
        with tempfile.TemporaryDirectory(prefix="fedqsar-tune-") as tmp:
            run = run_simulation(folders, model_cfg, train_cfg, fed_cfg, Path(tmp) / "federation")
        return pooled_validation_curve(run.history, prepared, train_cfg.validation_fold).min()

    return objective


def pooled_validation_curve(history: pd.DataFrame, prepared: Mapping[str, PreparedSet], fold: int) -> pd.Series:
    """Validation loss per round over all partners' validation rows (each row weighs the same).

    Parameters
    ----------
    history
        A federation's long history (round, partner, metric, value); rows ``val_loss`` are used.
    """
    sizes = pd.Series({name: len(p.rows_in([fold])) for name, p in prepared.items()})
    loss = history[history["metric"] == "val_loss"].pivot_table(index="round", columns="partner", values="value")
    loss = loss.dropna()
    return (loss * sizes[loss.columns]).sum(axis=1) / sizes[loss.columns].sum()


def tune_kinds(
    prepared: Mapping[str, PreparedSet],
    folders: Mapping[str, Path],
    base: Configs,
    kinds: tuple[str, ...],
    cfg: TuningConfig,
    progress: Progress | None = None,
) -> tuple[dict[tuple[str, str], TunedConfigs], pd.DataFrame]:
    """One search per model kind of ``kinds`` (``local``: one per partner), each ``cfg.n_trials`` trials.

    ``personalised`` is built from the local and federated models, so it uses their searches.
    The federated trials run without personalisation (it does not change the trunk).

    Returns
    -------
    dict
        (kind, partner or "all") -> chosen settings.
    pd.DataFrame
        Every trial of every search.
    """
    say = or_silent(progress)
    tuned: dict[tuple[str, str], TunedConfigs] = {}
    tables: list[pd.DataFrame] = []
    wanted = set(kinds) | ({"local", "federated"} if "personalised" in kinds else set())
    if "local" in wanted:
        for done, (name, part) in enumerate(prepared.items()):
            say("tuning", done, len(prepared), f"local {name}")
            entry, trials = search(local_objective(name, part), base, cfg, kind="local", partner=name)
            tuned[("local", name)], tables = entry, [*tables, trials]
    if "pooled" in wanted:
        say("tuning", 0, 1, "pooled")
        entry, trials = search(pooled_objective(prepared), base, cfg, kind="pooled")
        tuned[("pooled", "all")], tables = entry, [*tables, trials]
    if "federated" in wanted:
        say("tuning", 0, 1, "federated")
        model_cfg, train_cfg, fed_cfg = base
        quiet = dataclasses.replace(
            fed_cfg, personalisation=dataclasses.replace(fed_cfg.personalisation, enabled=False)
        )
        entry, trials = search(
            federated_objective(folders, prepared), (model_cfg, train_cfg, quiet), cfg, kind="federated", federated=True
        )
        tuned[("federated", "all")], tables = entry, [*tables, trials]
    return tuned, (pd.concat(tables, ignore_index=True) if tables else pd.DataFrame())


def write_tuned(folder: Path, tuned: list[TunedConfigs], trials: pd.DataFrame) -> list[Path]:
    """Write ``<kind>[_<partner>].toml`` per chosen setting and ``trials.csv`` into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for entry in tuned:
        name = entry.kind if entry.partner == "all" else f"{entry.kind}_{entry.partner}"
        path = folder / f"{name}.toml"
        path.write_text(tomli_w.dumps(to_dict(entry)), encoding="utf-8")
        paths.append(path)
    trials.to_csv(folder / "trials.csv", index=False)
    return paths + [folder / "trials.csv"]
