"""Small learnable PreparedSets sharing one structure-activity rule, so a consortium trunk can help."""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from fedqsar.prepared import TASK_COLUMNS, PreparedSet

N_BITS = 1024
ACTIVE = np.random.default_rng(12345).choice(N_BITS, 40, replace=False)  # shared by every partner


def partner_set(seed: int, n_rows: int, key_id: str, prep_hash: str = "hash-A", n_cls: int = 3) -> PreparedSet:
    """``n_cls`` classification tasks and one regression task; labels follow the shared active bits."""
    rng = np.random.default_rng(seed)
    rows = np.repeat(np.arange(n_rows), 30)
    cols = np.concatenate([rng.choice(N_BITS, 30, replace=False) for _ in range(n_rows)])
    X = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(n_rows, N_BITS))
    score = np.asarray(X[:, ACTIVE[:20]].sum(axis=1) - X[:, ACTIVE[20:]].sum(axis=1)).ravel()
    Y = np.zeros((n_rows, n_cls + 1), np.float32)
    for t in range(n_cls):
        Y[:, t] = score + rng.normal(0, 0.5, n_rows) > t * 0.3 - 0.3
    Y[:, n_cls] = score + rng.normal(0, 0.3, n_rows)
    r, c = np.nonzero(rng.random(Y.shape) < 0.8)
    Ycsr = sp.csr_matrix((Y[r, c], (r, c)), shape=Y.shape)
    censor = sp.csr_matrix((np.zeros(Ycsr.nnz, np.int8), Ycsr.indices.copy(), Ycsr.indptr.copy()), shape=Y.shape)
    kinds = ["classification"] * n_cls + ["regression"]
    tasks = pd.DataFrame(
        {
            "task_id": range(n_cls + 1),
            "task_name": [f"t{i}" for i in range(n_cls + 1)],
            "assay_id": "a",
            "endpoint": "pXC50",
            "kind": kinds,
            "unit": "log",
            "threshold": [6.5] * n_cls + [np.nan],
            "training_weight": 1.0,
            "aggregation_weight": 1.0,
            "n_observed": 10,
            "n_positive": 5,
            "n_negative": 5,
            "n_censored": 0,
            "passes_quorum": True,
        }
    )[list(TASK_COLUMNS)]
    compounds = pd.DataFrame(
        {"row": range(n_rows), "compound_id": [f"c{seed}_{i}" for i in range(n_rows)], "fold": np.arange(n_rows) % 5}
    )
    fingerprint = {"n_bits": N_BITS, "radius": 3}
    manifest = {
        "prep_hash": prep_hash,
        "key_id": key_id,
        "prep_config": {"fingerprint": fingerprint},
        "fingerprint": fingerprint,
    }
    return PreparedSet(X, Ycsr, censor, compounds, tasks, {"input_rows": n_rows}, manifest)
