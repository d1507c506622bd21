"""Synthetic PreparedSets for federation tests (tiny: 1024 bits, a few hundred rows)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from fedqsar.prepared import TASK_COLUMNS, PreparedSet

N_BITS = 1024


def synthetic_prepared(
    seed: int,
    n_rows: int = 150,
    n_cls: int = 3,
    n_reg: int = 1,
    prep_hash: str = "hash-A",
    key_id: str = "0123456789abcdef",
    n_bits: int = N_BITS,
) -> PreparedSet:
    """A learnable PreparedSet: labels depend on a shared set of 'active' bits."""
    rng = np.random.default_rng(seed)
    active = np.random.default_rng(12345).choice(n_bits, 40, replace=False)  # shared by all partners
    rows, cols = [], []
    for r in range(n_rows):
        bits = rng.choice(n_bits, 30, replace=False)
        rows += [r] * len(bits)
        cols += list(bits)
    X = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(n_rows, n_bits))
    score = np.asarray(X[:, active[:20]].sum(axis=1)).ravel() - np.asarray(X[:, active[20:]].sum(axis=1)).ravel()
    Y = np.zeros((n_rows, n_cls + n_reg), np.float32)
    for t in range(n_cls):
        Y[:, t] = (score + rng.normal(0, 0.5, n_rows) > t * 0.3 - 0.3).astype(np.float32)
    for t in range(n_reg):
        Y[:, n_cls + t] = score + rng.normal(0, 0.3, n_rows)
    mask = rng.random(Y.shape) < 0.8
    r_idx, c_idx = np.nonzero(mask)
    Ycsr = sp.csr_matrix((Y[r_idx, c_idx], (r_idx, c_idx)), shape=Y.shape)
    Ycsr = sp.csr_matrix((Ycsr.data, Ycsr.indices, Ycsr.indptr), shape=Y.shape)
    censor = sp.csr_matrix((np.zeros(Ycsr.nnz, np.int8), Ycsr.indices.copy(), Ycsr.indptr.copy()), shape=Y.shape)
    kinds = ["classification"] * n_cls + ["regression"] * n_reg
    tasks = pd.DataFrame(
        {
            "task_id": range(n_cls + n_reg),
            "task_name": [f"t{i}" for i in range(n_cls + n_reg)],
            "assay_id": "a",
            "endpoint": "pXC50",
            "kind": kinds,
            "unit": "log",
            "threshold": [6.5] * n_cls + [np.nan] * n_reg,
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
    manifest = {
        "prep_hash": prep_hash,
        "key_id": key_id,
        "prep_config": {"fingerprint": {"n_bits": n_bits, "radius": 3}},
        "fingerprint": {"n_bits": n_bits, "radius": 3},
        "versions": {"rdkit": "x"},
    }
    return PreparedSet(X, Ycsr, censor, compounds, tasks, {"input_rows": n_rows}, manifest)


def write_partners(root: Path, names: tuple[str, ...] = ("A", "B", "C", "D"), **kwargs) -> dict[str, Path]:
    """Save one synthetic PreparedSet per name under ``root``; returns name -> folder."""
    return {name: synthetic_prepared(seed=i + 1, **kwargs).save(root / name) for i, name in enumerate(names)}


@pytest.fixture(scope="module")
def partners4(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_partners(tmp_path_factory.mktemp("prepared"))


@pytest.fixture(scope="session")
def make_prepared():
    """The ``synthetic_prepared`` builder, for tests that need an in-memory PreparedSet."""
    return synthetic_prepared
