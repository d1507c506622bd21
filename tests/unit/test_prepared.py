from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from fedqsar.errors import PreparedSetError
from fedqsar.prepared import TASK_COLUMNS, PreparedSet, read_manifest


def _tasks(n: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "task_id": range(n),
            "task_name": [f"t{i}" for i in range(n)],
            "assay_id": "a",
            "endpoint": "pXC50",
            "kind": ["classification", "regression"][:n],
            "unit": "log",
            "threshold": [6.5, np.nan][:n],
            "training_weight": 1.0,
            "aggregation_weight": 1.0,
            "n_observed": 2,
            "n_positive": 1,
            "n_negative": 1,
            "n_censored": 0,
            "passes_quorum": True,
        }
    )[list(TASK_COLUMNS)]


def _prepared() -> PreparedSet:
    X = sp.csr_matrix(np.array([[1, 0, 1], [0, 1, 0], [1, 1, 0]], dtype=np.float32))
    # explicit zero label at (1, 0) and regression value 0.0 at (2, 1) are observations
    Y = sp.csr_matrix(
        (np.array([1.0, 0.0, 0.0], np.float32), np.array([0, 0, 1]), np.array([0, 1, 2, 3])), shape=(3, 2)
    )
    censor = sp.csr_matrix((np.array([0, 0, -1], np.int8), Y.indices.copy(), Y.indptr.copy()), shape=(3, 2))
    compounds = pd.DataFrame({"row": [0, 1, 2], "compound_id": ["c0", "c1", "c2"], "fold": [0, 1, 2]})
    return PreparedSet(X, Y, censor, compounds, _tasks(2), {"input_rows": 3}, {"prep_hash": "h"})


def test_save_load_keeps_explicit_zeros(tmp_path: Path) -> None:
    folder = _prepared().save(tmp_path / "p")
    loaded = PreparedSet.load(folder)
    assert loaded.Y.nnz == 3
    assert loaded.censor.toarray()[2, 1] == -1
    assert read_manifest(folder)["prep_hash"] == "h"
    assert json.loads((folder / "manifest.json").read_text())["format_version"] == 1


def test_subset_and_folds() -> None:
    prepared = _prepared()
    rows = prepared.rows_in_folds([0, 2])
    assert rows.tolist() == [0, 2]
    sub = prepared.subset(rows)
    assert sub.Y.nnz == 2 and sub.compounds["row"].tolist() == [0, 1]


def test_missing_file_is_named(tmp_path: Path) -> None:
    folder = _prepared().save(tmp_path / "p")
    (folder / "tasks.parquet").unlink()
    with pytest.raises(PreparedSetError, match="tasks.parquet"):
        PreparedSet.load(folder)


def test_mismatched_censor_pattern_is_refused() -> None:
    prepared = _prepared()
    prepared.censor = sp.csr_matrix(
        (2 * np.ones(3, np.int8), np.array([1, 0, 1]), np.array([0, 1, 2, 3])), shape=(3, 2)
    )
    with pytest.raises(PreparedSetError, match="sparsity pattern"):
        prepared.validate()
