from __future__ import annotations

import numpy as np

from fedqsar.evaluation.baselines import random_forest_predictions
from fedqsar.evaluation.config import EvalConfig, RandomForestConfig
from fedqsar.evaluation.scoring import score

from .synthetic import synthetic_prepared


def test_random_forest_learns_and_is_scored_on_the_test_fold() -> None:
    prepared = synthetic_prepared()
    train = prepared.rows_in([0, 1, 2])
    test = prepared.rows_in([4])
    cfg = RandomForestConfig(n_estimators=50)
    prediction = random_forest_predictions(prepared, train, test, cfg)
    assert prediction.shape == (len(test), 2)
    metrics = score(prepared, test, prediction, "p1", "rf", 4, EvalConfig())
    assert set(metrics.columns) >= {"partner", "task", "endpoint", "model_kind", "fold", "metric", "value"}
    value = metrics.set_index(["task", "metric"])["value"]
    positives = prepared.Y[test].toarray()[:, 0].mean()
    assert value[("cls", "auc_pr")] > positives + 0.2  # far above a random ranking
    reg_y = prepared.Y[test].tocsc()[:, 1].data
    assert value[("reg", "rmse")] < 0.85 * reg_y.std()  # a constant prediction scores ~1.0 * std
    assert value[("reg", "r2")] > 0.25
    assert set(metrics["endpoint"]) == {"hit", "logD7.4"} and set(metrics["fold"]) == {4}
    again = random_forest_predictions(prepared, train, test, cfg)
    assert np.array_equal(prediction, again)  # seeded


def test_test_fold_quorum_drops_thin_tasks() -> None:
    prepared = synthetic_prepared(n=60)
    test = prepared.rows_in([4])  # 12 rows: fewer than 20 exact regression values
    prediction = random_forest_predictions(
        prepared, prepared.rows_in([0, 1, 2]), test, RandomForestConfig(n_estimators=10)
    )
    metrics = score(prepared, test, prediction, "p1", "rf", 4, EvalConfig(min_test_uncensored=20))
    assert set(metrics["task"]) == {"cls"}
    tasks = prepared.tasks.copy()
    tasks["passes_quorum"] = [False, True]
    prepared.tasks = tasks
    metrics = score(prepared, test, prediction, "p1", "rf", 4, EvalConfig(min_test_uncensored=5))
    assert set(metrics["task"]) == {"reg"}
