"""Peer baseline: a scikit-learn random forest per task on the same fingerprints and folds.

Each task gets its own forest (classifier or regressor), trained on the partner's
training folds only (validation and test folds held out, exactly the rows the network
trains on; the forest has no early stopping, so it does not use the validation fold) with
fixed settings (``RandomForestConfig``) — nothing is tuned on any fold. Censored regression
values are used at their bound, as most QSAR pipelines do with ChEMBL-style qualifiers.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

from fedqsar.evaluation.config import RandomForestConfig
from fedqsar.prepared import PreparedSet

FOREST_BY_KIND = {"classification": RandomForestClassifier, "regression": RandomForestRegressor}


def _forest(kind: str, cfg: RandomForestConfig, task_index: int) -> RandomForestClassifier | RandomForestRegressor:
    return FOREST_BY_KIND[kind](
        n_estimators=cfg.n_estimators,
        max_features=cfg.max_features,
        min_samples_leaf=cfg.min_samples_leaf,
        n_jobs=cfg.n_jobs,
        random_state=cfg.seed + task_index,
    )


def _observed(Y: sp.csc_matrix, column: int, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(row indices among ``rows`` observed in ``column``, their values)."""
    start, stop = Y.indptr[column], Y.indptr[column + 1]
    observed_rows, values = Y.indices[start:stop], Y.data[start:stop]
    mask = np.isin(observed_rows, rows)
    return observed_rows[mask], values[mask]


def _predict_task(
    forest_kind: str,
    X_train: sp.csr_matrix,
    y: np.ndarray,
    X_test: sp.csr_matrix,
    cfg: RandomForestConfig,
    task_index: int,
) -> np.ndarray:
    if forest_kind == "classification":
        labels = (y > 0.5).astype(np.int64)
        if labels.min() == labels.max():  # one class only: predict its rate
            return np.full(X_test.shape[0], float(labels[0]), dtype=np.float32)
        forest = _forest(forest_kind, cfg, task_index).fit(X_train, labels)
        return forest.predict_proba(X_test)[:, list(forest.classes_).index(1)].astype(np.float32)
    forest = _forest(forest_kind, cfg, task_index).fit(X_train, y)
    return forest.predict(X_test).astype(np.float32)


def random_forest_predictions(
    prepared: PreparedSet, train_rows: np.ndarray, test_rows: np.ndarray, cfg: RandomForestConfig
) -> np.ndarray:
    """Per-task random-forest predictions for ``test_rows``.

    Parameters
    ----------
    prepared
        The partner's PreparedSet.
    train_rows, test_rows
        Row indices (int64) to train on and to predict.
    cfg
        Forest settings.

    Returns
    -------
    np.ndarray
        float32 (len(test_rows), n_tasks): probability of class 1 / predicted value, columns
        in task_id order. A task without training values gets a constant (0.5 / 0.0).
    """
    tasks = prepared.tasks_sorted
    Y = prepared.Y.tocsc()
    X_test = prepared.X[test_rows]
    out = np.zeros((len(test_rows), len(tasks)), dtype=np.float32)
    for column, kind in enumerate(tasks["kind"].astype(str)):
        rows, values = _observed(Y, column, np.asarray(train_rows))
        if len(rows) == 0:
            out[:, column] = 0.5 if kind == "classification" else 0.0
            continue
        out[:, column] = _predict_task(kind, prepared.X[rows], values, X_test, cfg, column)
    return out
