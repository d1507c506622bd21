"""fit_trust -> save/load -> annotate_predictions / report_tables on a synthetic PreparedSet."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from fedqsar.prepared import TASK_COLUMNS, PreparedSet
from fedqsar.trust import annotate_predictions, fit_trust, has_trust, load_trust, report_tables, save_trust
from fedqsar.trust.calibrate import TrustConfig
from fedqsar.trust.tables import write_report_tables

N_BITS = 512


def _synthetic(seed: int = 0, n: int = 1500) -> tuple[PreparedSet, np.ndarray]:
    """Clustered fingerprints; task 0 classification, task 1 regression (5 % censored)."""
    rng = np.random.default_rng(seed)
    centres = rng.random((30, N_BITS)) < 0.06
    cluster = rng.integers(0, 30, size=n)
    flips = rng.random((n, N_BITS)) < 0.02
    dense = np.logical_xor(centres[cluster], flips).astype(np.float32)
    weights = rng.normal(size=N_BITS) * 0.3
    signal = dense @ weights
    signal = (signal - signal.mean()) / signal.std()
    y_class = (signal + rng.normal(scale=0.8, size=n) > 0.3).astype(np.float32)
    y_reg = (signal + rng.normal(scale=0.5, size=n)).astype(np.float32)
    censor_reg = np.where(rng.random(n) < 0.05, 1, 0).astype(np.int8)
    observed = rng.random((n, 2)) < 0.8
    rows, cols = np.nonzero(observed)
    values = np.where(cols == 0, y_class[rows], y_reg[rows])
    censor = np.where(cols == 0, 0, censor_reg[rows])
    Y = sp.csr_matrix((values, (rows, cols)), shape=(n, 2))
    C = sp.csr_matrix((censor.astype(np.int8), Y.indices.copy(), Y.indptr.copy()), shape=(n, 2))
    tasks = pd.DataFrame(
        [
            _task(0, "active", "classification"),
            _task(1, "logD", "regression"),
        ],
        columns=list(TASK_COLUMNS),
    )
    compounds = pd.DataFrame(
        {"row": np.arange(n), "compound_id": [f"c{i}" for i in range(n)], "fold": rng.integers(0, 5, n)}
    )
    prepared = PreparedSet(sp.csr_matrix(dense), Y, C, compounds, tasks)
    return prepared, weights


def _task(task_id: int, name: str, kind: str) -> dict:
    return {
        "task_id": task_id,
        "task_name": name,
        "assay_id": name,
        "endpoint": name,
        "kind": kind,
        "unit": "",
        "threshold": np.nan,
        "training_weight": 1.0,
        "aggregation_weight": 1.0,
        "n_observed": 0,
        "n_positive": 0,
        "n_negative": 0,
        "n_censored": 0,
        "passes_quorum": True,
    }


def _predictor(weights: np.ndarray):
    def predict(X: sp.csr_matrix) -> np.ndarray:
        s = np.asarray(X @ weights).ravel()
        return np.column_stack([1.0 / (1.0 + np.exp(-(s - 0.5))), 0.8 * s])

    return predict


def _embed(X: sp.csr_matrix) -> np.ndarray:
    return np.asarray(X[:, :16].todense(), dtype=np.float32)


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory):
    prepared, weights = _synthetic()
    predict = _predictor(weights)
    train, cal, test = prepared.rows_in([0, 1, 2]), prepared.rows_in([3]), prepared.rows_in([4])
    artefacts = fit_trust(predict, prepared, cal, train, embed=_embed, config=TrustConfig(k=3))
    folder = tmp_path_factory.mktemp("model")
    save_trust(artefacts, folder)
    return prepared, predict, artefacts, folder, test


def test_censored_values_are_not_calibration_rows(fitted) -> None:
    prepared, _, artefacts, _, _ = fitted
    cal = prepared.rows_in([3])
    censored = (prepared.censor[cal][:, 1].toarray().ravel() != 0).sum()
    observed = prepared.Y[cal][:, 1].getnnz()
    assert censored > 0
    assert artefacts.regressors[1].n_calibration == observed - censored
    assert artefacts.classifiers[0].n_calibration == prepared.Y[cal][:, 0].getnnz()


def test_round_trip_gives_identical_annotations(fitted) -> None:
    prepared, predict, artefacts, folder, test = fitted
    assert has_trust(folder) and not has_trust(folder / "nothing")
    X = prepared.X[test]
    before = annotate_predictions(artefacts, predict(X), X, embed=_embed)
    after = annotate_predictions(load_trust(folder), predict(X), X, embed=_embed)
    pd.testing.assert_frame_equal(before, after)
    assert {
        "domain_similarity",
        "embedding_distance",
        "in_domain",
        "active:set",
        "active:p_calibrated",
        "logD:low",
        "logD:high",
    } <= set(before.columns)
    assert set(before["active:set"]) <= {"", "0", "1", "0,1"}
    assert (before["logD:low"] <= predict(X)[:, 1]).all() and (predict(X)[:, 1] <= before["logD:high"]).all()


def test_far_compounds_are_out_of_domain(fitted) -> None:
    prepared, predict, artefacts, _, test = fitted
    rng = np.random.default_rng(9)
    alien = sp.csr_matrix((rng.random((5, N_BITS)) < 0.06).astype(np.float32))
    X = sp.vstack([prepared.X[test[:20]], alien, sp.csr_matrix((1, N_BITS), dtype=np.float32)]).tocsr()
    out = annotate_predictions(artefacts, predict(X), X)
    assert out["in_domain"].iloc[:20].mean() >= 0.8
    assert not out["in_domain"].iloc[20:].any()
    assert out["domain_similarity"].iloc[20:].max() < out["domain_similarity"].iloc[:20].min()


def test_report_tables_cover_near_nominal_and_error_grows_far_out(fitted, tmp_path: Path) -> None:
    prepared, predict, artefacts, _, test = fitted
    coverage, domain = report_tables(artefacts, predict, prepared, test, "A", confidences=(0.8, 0.9))
    assert list(coverage.columns[:5]) == ["partner", "task", "confidence", "coverage", "efficiency"]
    assert len(coverage) == 4
    for row in coverage.itertuples():
        assert abs(row.coverage - row.confidence) < 0.07, row
    assert list(domain.columns[:5]) == ["partner", "task", "decile", "similarity", "abs_error"]
    assert domain.groupby("task")["decile"].max().eq(9).all()
    for _, group in domain.groupby("task"):
        assert np.all(np.diff(group["similarity"].to_numpy()) >= 0)
    paths = write_report_tables(tmp_path, coverage, domain)
    assert pd.read_csv(paths["coverage"]).shape == coverage.shape


def test_reference_values_hold_exact_training_regression_values_only(fitted) -> None:
    prepared, _, artefacts, folder, _ = fitted
    train = prepared.rows_in([0, 1, 2])
    Y, censor = prepared.Y[train], prepared.censor[train]
    exact = (Y[:, 1].getnnz()) - int((censor[:, 1].toarray() != 0).sum())
    assert artefacts.reference_values[:, 0].getnnz() == 0  # classification column left out
    assert artefacts.reference_values[:, 1].getnnz() == exact
    assert load_trust(folder).reference_values.nnz == artefacts.reference_values.nnz


def test_rows_without_a_prediction_get_empty_trust_columns(fitted) -> None:
    prepared, predict, artefacts, _, test = fitted
    X = prepared.X[test[:4]]
    predictions = predict(X)
    predictions[1, :] = np.nan  # e.g. a rejected structure
    out = annotate_predictions(artefacts, predictions, X)
    assert out.loc[1, "active:set"] == "" and np.isnan(out.loc[1, "active:p_calibrated"])
    assert np.isnan(out.loc[1, "logD:low"]) and np.isnan(out.loc[1, "logD:high"])
    assert np.isfinite(out.loc[[0, 2, 3], "active:p_calibrated"]).all()
    assert np.isfinite(out.loc[[0, 2, 3], "logD:low"]).all()
