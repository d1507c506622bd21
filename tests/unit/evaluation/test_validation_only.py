"""Every model choice reads validation folds only: test-fold labels never change a prediction.

The protocol is run twice on the same PreparedSets, once as they are and once with every
test-fold label replaced by random values. Training, early stopping, federated best-round
selection, fine-tuning and the per-task personalisation choice all happen before the test
fold's labels are read by the final scoring, so every model kind's test-fold predictions
must be identical in both runs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fedqsar.evaluation.config import EvalConfig, RandomForestConfig
from fedqsar.evaluation.predictions import PREDICTIONS_FILE
from fedqsar.evaluation.protocol import run_protocol
from fedqsar.evaluation.uplift import UpliftConfig
from fedqsar.federation.config import FederationConfig, SecAggConfig
from fedqsar.model.config import ModelConfig, TrainConfig
from fedqsar.model.personalise import PersonalisationConfig
from fedqsar.prepared import PreparedSet

from .synthetic import synthetic_prepared

pytestmark = pytest.mark.slow

MODEL = ModelConfig(hidden_sizes=(16, 8), dropout=0.1)
TRAIN = TrainConfig(epochs=4, batch_size=64, lr=3e-3, early_stopping_patience=2, validation_fold=3, test_fold=4)
FEDERATION = FederationConfig(
    rounds=3,
    min_partners=3,
    secagg=SecAggConfig(enabled=False),
    personalisation=PersonalisationConfig(head_epochs=2, full_epochs=2, patience=1),
)
EVAL = EvalConfig(
    model_kinds=("local", "federated", "personalised", "pooled", "rf"),
    compound_bootstrap=0,
    uplift=UpliftConfig(n_bootstrap=50),
    rf=RandomForestConfig(n_estimators=10),
)


def _poisoned(prepared: PreparedSet, seed: int) -> PreparedSet:
    """The same set with random labels (of the right kind) on the test fold."""
    rng = np.random.default_rng(seed)
    test = prepared.folds == TRAIN.test_fold
    Y = prepared.Y.copy()
    rows_of_entries = np.repeat(np.arange(Y.shape[0]), np.diff(Y.indptr))
    hit = test[rows_of_entries]
    regression = prepared.tasks.sort_values("task_id")["kind"].to_numpy()[Y.indices] == "regression"
    Y.data[hit & regression] = rng.normal(0, 5, int((hit & regression).sum()))
    Y.data[hit & ~regression] = rng.integers(0, 2, int((hit & ~regression).sum()))
    return PreparedSet(
        prepared.X, Y, prepared.censor, prepared.compounds, prepared.tasks, prepared.accounting, prepared.manifest
    )


def test_test_fold_labels_never_influence_any_model(tmp_path: Path) -> None:
    clean = {f"p{i}": synthetic_prepared(n=200, seed=i, shift=0.3 * i) for i in range(3)}
    runs = {}
    for label, sets in (("clean", clean), ("poisoned", {n: _poisoned(p, 7) for n, p in clean.items()})):
        folders = {name: prepared.save(tmp_path / label / "prepared" / name) for name, prepared in sets.items()}
        run_protocol(folders, MODEL, TRAIN, FEDERATION, EVAL, tmp_path / label / "run")
        runs[label] = pd.read_parquet(tmp_path / label / "run" / "evaluation" / PREDICTIONS_FILE)
    assert set(runs["clean"]["model_kind"]) == set(EVAL.model_kinds)
    pd.testing.assert_frame_equal(runs["clean"], runs["poisoned"])
    metrics = pd.read_csv(tmp_path / "clean" / "run" / "evaluation" / "metrics.csv")
    poisoned = pd.read_csv(tmp_path / "poisoned" / "run" / "evaluation" / "metrics.csv")
    assert not metrics["value"].equals(poisoned["value"])  # the scoring itself does read the test labels
