"""A small synthetic PreparedSet whose labels depend on fingerprint bits (learnable)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from fedqsar.prepared import TASK_COLUMNS, PreparedSet


def synthetic_prepared(n: int = 400, n_bits: int = 256, seed: int = 0, shift: float = 0.0) -> PreparedSet:
    """``n`` compounds, 2 tasks: ``cls`` (label = bit 0 or bit 1) and ``reg`` (sum of 5 bit weights).

    ``shift`` is added to the regression values (a partner with another assay offset).
    """
    rng = np.random.default_rng(seed)
    dense = (rng.random((n, n_bits)) < 0.08).astype(np.float32)
    dense[:, :5] = rng.random((n, 5)) < 0.35  # the informative bits are common
    weights = np.zeros(n_bits)
    weights[:5] = [1.5, -1.0, 0.8, 1.2, -0.6]
    y_cls = ((dense[:, 0] + dense[:, 1]) > 0).astype(np.float32)
    y_reg = (dense @ weights + rng.normal(scale=0.1, size=n) + shift).astype(np.float32)
    observed_reg = rng.random(n) < 0.8
    rows, cols, vals = [], [], []
    for i in range(n):
        rows.append(i)
        cols.append(0)
        vals.append(y_cls[i])
        if observed_reg[i]:
            rows.append(i)
            cols.append(1)
            vals.append(y_reg[i])
    Y = sp.csr_matrix((np.asarray(vals, np.float32), (rows, cols)), shape=(n, 2))
    Y.sort_indices()
    censor = sp.csr_matrix((np.zeros(Y.nnz, np.int8), Y.indices.copy(), Y.indptr.copy()), shape=Y.shape)
    compounds = pd.DataFrame(
        {"row": np.arange(n), "compound_id": [f"c{i}" for i in range(n)], "fold": np.arange(n) % 5}
    )
    tasks = pd.DataFrame(
        {
            "task_id": [0, 1],
            "task_name": ["cls", "reg"],
            "assay_id": ["a1", "a2"],
            "endpoint": ["hit", "logD7.4"],
            "kind": ["classification", "regression"],
            "unit": ["", "log10"],
            "threshold": [np.nan, np.nan],
            "training_weight": 1.0,
            "aggregation_weight": 1.0,
            "n_observed": [n, int(observed_reg.sum())],
            "n_positive": [int(y_cls.sum()), 0],
            "n_negative": [int(n - y_cls.sum()), 0],
            "n_censored": 0,
            "passes_quorum": True,
        }
    )[list(TASK_COLUMNS)]
    return PreparedSet(sp.csr_matrix(dense), Y, censor, compounds, tasks, {"input_rows": n}, {"prep_hash": "synthetic"})
