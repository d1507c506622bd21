"""Factory of small synthetic PreparedSets with a learnable structure-activity rule."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from fedqsar.prepared import TASK_COLUMNS, PreparedSet


def make_prepared(
    n_rows: int = 300,
    n_bits: int = 256,
    n_classification: int = 2,
    n_regression: int = 2,
    bits_per_row: int = 12,
    observed_fraction: float = 0.8,
    censored_fraction: float = 0.1,
    n_folds: int = 5,
    seed: int = 0,
) -> PreparedSet:
    """PreparedSet whose labels follow a sparse linear rule of the bits (plus a little noise).

    Classification tasks come first in Y's columns, then regression tasks. Regression values
    are pXC50-like (around 6); a share of them are censored: '<' values lie above the truth
    and '>' values below it, as real qualifiers do.
    """
    rng = np.random.default_rng(seed)
    n_tasks = n_classification + n_regression
    rows = np.repeat(np.arange(n_rows), bits_per_row)
    cols = np.concatenate([rng.choice(n_bits, bits_per_row, replace=False) for _ in range(n_rows)])
    X = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(n_rows, n_bits))
    X.sort_indices()
    effects = rng.normal(0, 1, (n_bits, n_tasks)) * (rng.random((n_bits, n_tasks)) < 0.3)
    signal = np.asarray(X @ effects) + rng.normal(0, 0.1, (n_rows, n_tasks))
    observed = rng.random((n_rows, n_tasks)) < observed_fraction
    values = np.zeros((n_rows, n_tasks), np.float32)
    censor = np.zeros((n_rows, n_tasks), np.int8)
    for j in range(n_classification):
        values[:, j] = signal[:, j] > np.median(signal[:, j])
    for j in range(n_classification, n_tasks):
        values[:, j] = 6.0 + 0.5 * signal[:, j]
        censored = rng.random(n_rows) < censored_fraction
        side = rng.choice([-1, 1], n_rows)
        censor[censored, j] = side[censored]
        values[censored, j] -= side[censored] * 0.5  # '<' (-1): stated value above the truth
    r, c = np.nonzero(observed)
    Y = sp.csr_matrix((values[r, c], (r, c)), shape=(n_rows, n_tasks), dtype=np.float32)
    C = sp.csr_matrix((censor[r, c].astype(np.int8), (r, c)), shape=(n_rows, n_tasks), dtype=np.int8)
    # keep explicit zeros: rebuild from the COO lists without summing away zeros
    Y = sp.csr_matrix((values[r, c], c, np.r_[0, np.cumsum(np.bincount(r, minlength=n_rows))]), shape=(n_rows, n_tasks))
    C = sp.csr_matrix((censor[r, c], c, Y.indptr.copy()), shape=(n_rows, n_tasks))
    kinds = ["classification"] * n_classification + ["regression"] * n_regression
    tasks = pd.DataFrame(
        {
            "task_id": np.arange(n_tasks),
            "task_name": [f"T{j}_{k[:3]}" for j, k in enumerate(kinds)],
            "assay_id": [f"A{j}" for j in range(n_tasks)],
            "endpoint": ["" if k == "classification" else "pXC50" for k in kinds],
            "kind": kinds,
            "unit": ["" for _ in kinds],
            "threshold": [0.5 if k == "classification" else np.nan for k in kinds],
            "training_weight": np.ones(n_tasks),
            "aggregation_weight": np.ones(n_tasks),
            "n_observed": observed.sum(0),
            "n_positive": [
                int(values[observed[:, j], j].sum()) if kinds[j] == "classification" else 0 for j in range(n_tasks)
            ],
            "n_negative": [
                int((values[observed[:, j], j] == 0).sum()) if kinds[j] == "classification" else 0
                for j in range(n_tasks)
            ],
            "n_censored": [int((censor[observed[:, j], j] != 0).sum()) for j in range(n_tasks)],
            "passes_quorum": np.ones(n_tasks, bool),
        }
    )[list(TASK_COLUMNS)]
    compounds = pd.DataFrame(
        {
            "row": np.arange(n_rows),
            "compound_id": [f"C{i}" for i in range(n_rows)],
            "fold": rng.integers(0, n_folds, n_rows),
        }
    )
    manifest = {"prep_hash": "synthetic-" + str(seed), "prep_config": {}, "key_id": "0" * 16, "versions": {}}
    prepared = PreparedSet(X=X, Y=Y, censor=C, compounds=compounds, tasks=tasks, manifest=manifest)
    prepared.validate()
    return prepared


@pytest.fixture
def synthetic_prepared() -> PreparedSet:
    return make_prepared()


@pytest.fixture
def prepared_factory():
    return make_prepared
