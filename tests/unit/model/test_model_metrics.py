"""Per-task metrics against scikit-learn / scipy, and quorum-aware aggregation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from scipy.stats import spearmanr
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    log_loss,
    mean_squared_error,
    r2_score,
    roc_auc_score,
)

from fedqsar.model.metrics import (
    aggregate_metrics,
    calibrated_average_precision,
    classification_metrics,
    regression_metrics,
    task_metrics,
)

from .conftest import make_prepared

RNG = np.random.default_rng(0)
Y_CLS = RNG.random(200) < 0.3
P_CLS = np.clip(0.3 * Y_CLS + 0.7 * RNG.random(200), 0.01, 0.99)
P_CLS[:20] = 0.5  # ties


def test_classification_metrics_match_scikit_learn():
    got = classification_metrics(Y_CLS.astype(float), P_CLS)
    assert got["auc_roc"] == pytest.approx(roc_auc_score(Y_CLS, P_CLS))
    assert got["auc_pr"] == pytest.approx(average_precision_score(Y_CLS, P_CLS))
    assert got["log_loss"] == pytest.approx(log_loss(Y_CLS, P_CLS))
    assert got["brier"] == pytest.approx(brier_score_loss(Y_CLS, P_CLS))
    assert (got["n_positive"], got["n_negative"]) == (Y_CLS.sum(), (~Y_CLS).sum())


def test_calibrated_auc_pr_equals_average_precision_at_the_sets_own_rate_and_rises_with_the_reference():
    own_rate = Y_CLS.mean()
    assert calibrated_average_precision(Y_CLS, P_CLS, own_rate) == pytest.approx(average_precision_score(Y_CLS, P_CLS))
    assert calibrated_average_precision(Y_CLS, P_CLS, 0.8) > calibrated_average_precision(Y_CLS, P_CLS, 0.1)


def test_calibrated_auc_pr_does_not_depend_on_the_positive_rate_of_the_evaluated_set():
    """Duplicating the negatives halves the positive rate: AP drops, calibrated AP stays."""
    y2, p2 = np.r_[Y_CLS, Y_CLS[~Y_CLS]], np.r_[P_CLS, P_CLS[~Y_CLS]]
    assert average_precision_score(y2, p2) < average_precision_score(Y_CLS, P_CLS) - 0.02
    assert calibrated_average_precision(y2, p2, 0.5) == pytest.approx(
        calibrated_average_precision(Y_CLS, P_CLS, 0.5), abs=1e-9
    )


def test_single_class_gives_nan_aucs_but_counts():
    got = classification_metrics(np.zeros(10), np.linspace(0.1, 0.9, 10))
    assert np.isnan(got["auc_roc"]) and np.isnan(got["auc_pr"]) and got["n_negative"] == 10


def test_regression_metrics_match_scikit_learn_and_scipy_on_exact_values():
    y = RNG.normal(6, 1, 100)
    pred = y + RNG.normal(0, 0.5, 100)
    censor = np.zeros(100)
    censor[:10] = -1
    got = regression_metrics(y, pred, censor)
    exact = censor == 0
    assert got["rmse"] == pytest.approx(np.sqrt(mean_squared_error(y[exact], pred[exact])))
    assert got["r2"] == pytest.approx(r2_score(y[exact], pred[exact]))
    assert got["spearman"] == pytest.approx(spearmanr(y[exact], pred[exact]).statistic)
    assert got["n_uncensored"] == 90


def test_censored_values_count_only_on_their_wrong_side():
    y = np.array([5.0, 5.0, 5.0, 5.0])
    censor = np.array([-1, -1, 1, 1])  # '<5', '<5', '>5', '>5'
    pred = np.array([4.0, 7.0, 6.0, 3.0])  # right, wrong by 2, right, wrong by 2
    assert regression_metrics(y, pred, censor)["rmse_censored"] == pytest.approx(np.sqrt((0 + 4 + 0 + 4) / 4))


def test_task_metrics_use_stored_entries_including_explicit_zeros():
    Y = sp.csr_matrix((np.array([0.0, 1.0, 0.0, 1.0]), np.array([0, 0, 0, 0]), np.array([0, 1, 2, 3, 4])), shape=(4, 1))
    censor = sp.csr_matrix((np.zeros(4, np.int8), Y.indices, Y.indptr), shape=(4, 1))
    tasks = pd.DataFrame({"task_id": [0], "task_name": ["A"], "kind": ["classification"]})
    long = task_metrics(Y, censor, np.array([[0.1], [0.9], [0.2], [0.8]]), tasks)
    values = long.set_index("metric")["value"]
    assert values["n"] == 4 and values["n_negative"] == 2 and values["auc_roc"] == 1.0
    assert list(long.columns) == ["task", "metric", "value"]


def test_aggregation_is_weighted_and_applies_quorums():
    tasks = pd.DataFrame(
        {
            "task_name": ["a", "b", "c", "d"],
            "kind": ["classification"] * 4,
            "aggregation_weight": [1.0, 3.0, 1.0, 1.0],
            "passes_quorum": [True, True, False, True],
        }
    )
    rows = []
    for name, auc, n_pos in (("a", 0.6, 10), ("b", 0.8, 10), ("c", 0.1, 10), ("d", 0.0, 1)):
        rows += [(name, "auc_roc", auc), (name, "n_positive", n_pos), (name, "n_negative", 10)]
    out = aggregate_metrics(pd.DataFrame(rows, columns=["task", "metric", "value"]), tasks)
    auc = out.set_index("metric").loc["auc_roc"]
    assert auc["value"] == pytest.approx((0.6 + 3 * 0.8) / 4)  # c fails quorum, d too few positives in the fold
    assert auc["n_tasks"] == 2


def test_task_metrics_on_a_prepared_set_cover_every_task():
    prepared = make_prepared(n_rows=100)
    long = task_metrics(prepared.Y, prepared.censor, np.full((100, 4), 0.5), prepared.tasks)
    assert set(long["task"]) == set(prepared.tasks["task_name"])
