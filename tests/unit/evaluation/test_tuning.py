"""Optuna tuning: seeded, validation-only, same budget per kind, settings written beside the run."""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fedqsar.evaluation.tuning import (
    SearchSpace,
    TuningConfig,
    apply,
    local_objective,
    pooled_objective,
    pooled_validation_curve,
    search,
    write_tuned,
)
from fedqsar.federation.config import FederationConfig
from fedqsar.model.config import ModelConfig, TrainConfig

from .synthetic import synthetic_prepared

BASE = (
    ModelConfig(hidden_sizes=(16,), dropout=0.0),
    TrainConfig(epochs=4, batch_size=64, lr=3e-3, early_stopping_patience=2),
    FederationConfig(),
)
SPACE = SearchSpace(lr=(1e-3, 1e-2), hidden=(8, 16), dropout=(0.0, 0.2))


def test_apply_replaces_only_the_searched_settings():
    model, train, fed = apply({"lr": 0.02, "hidden": 64, "local_steps": 12, "server_lr": 2.0}, BASE)
    assert model.hidden_sizes == (64,) and model.dropout == 0.0
    assert train.lr == 0.02 and train.epochs == 4 and train.batch_size == 64
    assert fed.local_steps == 12 and fed.server_lr == 2.0 and fed.rounds == BASE[2].rounds


def test_search_is_seeded_starts_from_the_base_and_returns_the_best_trial(tmp_path: Path):
    prepared = synthetic_prepared(n=200, seed=1)
    cfg = TuningConfig(n_trials=3, seed=5, space=SPACE)
    tuned, trials = search(local_objective("p", prepared), BASE, cfg, kind="local", partner="p")
    again, trials_again = search(local_objective("p", prepared), BASE, cfg, kind="local", partner="p")
    pd.testing.assert_frame_equal(trials, trials_again)  # same seed, same trials and values
    assert len(trials) == 3 and trials.loc[0, "lr"] == pytest.approx(BASE[1].lr)  # trial 0 = the given settings
    assert tuned.validation_loss == pytest.approx(trials["value"].min())
    best = trials.loc[trials["value"].idxmin()]
    assert tuned.train.lr == pytest.approx(best["lr"]) and tuned.model.hidden_sizes == (int(best["hidden"]),)
    assert tuned == again
    paths = write_tuned(tmp_path, [tuned], trials)
    written = tomllib.loads((tmp_path / "local_p.toml").read_text())
    assert written["train"]["lr"] == pytest.approx(tuned.train.lr) and written["n_trials"] == 3
    assert (tmp_path / "trials.csv") in paths


def test_pooled_objective_never_reads_the_test_fold():
    parts = {f"p{i}": synthetic_prepared(n=160, seed=i) for i in range(2)}
    for p in parts.values():  # poison every test-fold label: a finite objective proves it is never read
        rows = np.repeat(np.arange(p.n_compounds), np.diff(p.Y.indptr))
        p.Y.data[p.folds[rows] == 4] = np.nan
    assert np.isfinite(pooled_objective(parts)(BASE))


def test_pooled_validation_curve_weighs_every_validation_row_equally():
    parts = {"a": synthetic_prepared(n=100, seed=0), "b": synthetic_prepared(n=300, seed=1)}
    history = pd.DataFrame(
        [
            (r, name, "val_loss", loss)
            for r, losses in ((1, (1.0, 3.0)), (2, (0.5, 2.0)))
            for name, loss in zip("ab", losses, strict=True)
        ]
        + [(1, "a", "val_auc_pr", 0.7)],
        columns=["round", "partner", "metric", "value"],
    )
    curve = pooled_validation_curve(history, parts, fold=3)
    n_a, n_b = (len(p.rows_in([3])) for p in parts.values())
    assert curve.loc[1] == pytest.approx((1.0 * n_a + 3.0 * n_b) / (n_a + n_b))
    assert curve.idxmin() == 2


def test_protocol_search_switch_writes_the_chosen_settings_beside_the_run(tmp_path: Path):
    from fedqsar.evaluation.config import EvalConfig, RandomForestConfig
    from fedqsar.evaluation.protocol import run_protocol
    from fedqsar.evaluation.uplift import UpliftConfig
    from fedqsar.ledger import read_entries

    partners = {f"p{i}": synthetic_prepared(n=160, seed=i).save(tmp_path / "prepared" / f"p{i}") for i in range(2)}
    cfg = EvalConfig(
        model_kinds=("local", "pooled"),
        compound_bootstrap=0,
        uplift=UpliftConfig(n_bootstrap=50),
        rf=RandomForestConfig(n_estimators=5),
        tuning=TuningConfig(n_trials=2, space=SPACE),
    )
    run_protocol(partners, *BASE, cfg, tmp_path / "run")
    tuned = tmp_path / "run" / "evaluation" / "tuned"
    assert sorted(p.name for p in tuned.iterdir()) == ["local_p0.toml", "local_p1.toml", "pooled.toml", "trials.csv"]
    trials = pd.read_csv(tuned / "trials.csv")
    assert trials.groupby(["kind", "partner"]).size().tolist() == [2, 2, 2]  # the same budget for every kind
    recorded = next(
        e for e in read_entries(tmp_path / "run" / "evaluation" / "ledger.sqlite") if e.kind == "evaluation"
    )
    assert "evaluation/tuned/pooled.toml" in recorded.payload["files"]
