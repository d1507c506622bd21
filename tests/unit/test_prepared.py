from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from fedqsar.errors import PreparedSetError
from fedqsar.prepared import TASK_COLUMNS, PreparedSet, match_tasks, read_manifest


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


def _with_block() -> PreparedSet:
    prepared = _prepared()
    prepared.descriptors = np.arange(6, dtype=np.float32).reshape(3, 2)
    prepared.descriptors[1, 0] = np.nan  # a descriptor RDKit could not compute
    prepared.structures = np.array(["CCO", "c1ccccc1", "CC(=O)O"], dtype=object)
    prepared.manifest = {"prep_hash": "h", "descriptors": ["mol_logp", "tpsa"]}
    return prepared


def test_descriptors_and_local_structures_round_trip(tmp_path: Path) -> None:
    folder = _with_block().save(tmp_path / "p")
    loaded = PreparedSet.load(folder)
    np.testing.assert_array_equal(loaded.descriptors, _with_block().descriptors)
    assert loaded.descriptors.dtype == np.float32 and loaded.descriptor_names == ["mol_logp", "tpsa"]
    assert loaded.structures.tolist() == ["CCO", "c1ccccc1", "CC(=O)O"]
    sub = loaded.subset(np.array([2, 0]))
    assert sub.structures.tolist() == ["CC(=O)O", "CCO"] and sub.descriptors[0].tolist() == [4.0, 5.0]


def test_local_structures_are_private_to_the_owner(tmp_path: Path) -> None:
    folder = _with_block().save(tmp_path / "p")
    mode = (folder / "local_structures.parquet").stat().st_mode & 0o777
    assert mode == 0o600
    _with_block().save(folder)  # rewriting keeps it private
    assert (folder / "local_structures.parquet").stat().st_mode & 0o777 == 0o600
    for public in ("compounds.parquet", "manifest.json", "descriptors.npy"):
        assert b"c1ccccc1" not in (folder / public).read_bytes()


def test_without_optional_files_loads_none(tmp_path: Path) -> None:
    loaded = PreparedSet.load(_prepared().save(tmp_path / "p"))
    assert loaded.descriptors is None and loaded.structures is None and loaded.descriptor_names == []


def test_descriptor_shape_must_match_the_manifest_names() -> None:
    prepared = _with_block()
    prepared.manifest = {"descriptors": ["mol_logp"]}
    with pytest.raises(PreparedSetError, match="descriptors have shape"):
        prepared.validate()


def test_select_tasks_keeps_explicit_zeros_and_drops_unlabelled_rows() -> None:
    prepared = _with_block()
    only = prepared.select_tasks([1])  # the regression task: labelled on row 2 only (value 0.0, censored)
    assert only.n_compounds == 1 and only.Y.nnz == 1 and only.Y.data.tolist() == [0.0]
    assert only.censor.data.tolist() == [-1] and only.tasks["task_id"].tolist() == [0]
    assert only.tasks["task_name"].tolist() == ["t1"] and only.structures.tolist() == ["CC(=O)O"]
    only.validate()
    with pytest.raises(PreparedSetError, match="cannot select"):
        prepared.select_tasks([5])


def test_match_tasks_by_name_assay_endpoint_and_kind() -> None:
    tasks = _tasks(2)
    assert match_tasks(tasks, ["T1"]).tolist() == [1]
    assert match_tasks(tasks, ["a"]).tolist() == [0, 1]  # the assay id selects all its tasks
    assert match_tasks(tasks, ["pxc50"], "regression").tolist() == [1]
    assert match_tasks(tasks, [], "classification").tolist() == [0]
    with pytest.raises(PreparedSetError, match="no task is named"):
        match_tasks(tasks, ["nope"])
