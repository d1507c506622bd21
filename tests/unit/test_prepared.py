from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from fedqsar.errors import ConfigError, PreparedSetError
from fedqsar.hashing import hash_json
from fedqsar.prep.config import PrepConfig
from fedqsar.prep.manifest import Manifest, build_manifest
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
    rows = prepared.rows_in([0, 2])
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
    prepared.manifest = Manifest(prep_hash="h", extra={"descriptors": ["mol_logp", "tpsa"]})
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
    prepared.manifest = Manifest(extra={"descriptors": ["mol_logp"]})
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


def _real_manifest() -> Manifest:
    """A manifest as ``prepare`` writes it, plus the notes later stages add."""
    folds = {"scheme": "scaffold", "fold_shares": [0.2] * 5, "warnings": []}
    built = build_manifest(PrepConfig(), "0123456789abcdef", {"compounds": 3, "tasks": 2}, "long", folds=folds)
    semantics = {"endpoints": [{"assay": "a", "endpoint": "pXC50"}], "notes": ["µM read as uM"]}
    return built.with_extra(fold_scheme="scaffold", semantics=semantics).with_extra(
        evaluation_folds={"scheme": "user split file", "source": "s.csv", "n_unassigned": 0},
        evaluation_copy={"excluded_rows": 1, "reason": "test overlap"},
    )


def test_manifest_load_save_is_byte_identical_and_keeps_its_hashes(tmp_path: Path) -> None:
    prepared = _prepared()
    prepared.manifest = _real_manifest()
    first = prepared.save(tmp_path / "a") / "manifest.json"
    on_disk = json.loads(first.read_text(encoding="utf-8"))
    loaded = PreparedSet.load(tmp_path / "a")
    second = loaded.save(tmp_path / "b") / "manifest.json"
    assert first.read_bytes() == second.read_bytes()
    assert loaded.manifest.to_dict() == on_disk and dict(loaded.manifest) == on_disk
    assert hash_json(loaded.manifest) == hash_json(on_disk) == hash_json(dict(read_manifest(tmp_path / "b")))
    assert loaded.manifest.evaluation_copy["excluded_rows"] == 1
    assert loaded.manifest.evaluation_folds["source"] == "s.csv" and loaded.manifest.fold_scheme == "scaffold"


def test_manifest_fields_are_typed() -> None:
    manifest = Manifest.from_dict({"format_version": 1, **_real_manifest()})
    assert manifest.key_id == "0123456789abcdef" and manifest.prep_hash == PrepConfig().hash()
    assert manifest.counts["tasks"] == 2 and manifest.format_version == 1 and manifest.n_folds == 5
    assert manifest.prep_settings() == PrepConfig() and manifest.fingerprint["n_bits"] == 32768
    assert manifest.semantics["notes"] == ["µM read as uM"] and manifest.fold_record["scheme"] == "scaffold"
    assert Manifest().descriptors == () and Manifest().fold_scheme == "scaffold" and Manifest().n_folds is None
    with pytest.raises(ConfigError, match="prep_config"):
        Manifest(prep_config={"fingerprint": {"n_bits": "many"}}).prep_settings()


@pytest.mark.parametrize("dropped", ["key_id", "prep_hash", "prep_config", "versions", "counts", "format_version"])
def test_load_refuses_a_manifest_without_a_required_field(tmp_path: Path, dropped: str) -> None:
    prepared = _prepared()
    prepared.manifest = _real_manifest()
    folder = prepared.save(tmp_path / "p")
    data = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    del data[dropped]
    (folder / "manifest.json").write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(PreparedSetError, match=f"lacks \\['{dropped}'\\]") as info:
        PreparedSet.load(folder)
    assert "fedqsar prepare" in info.value.fix
    with pytest.raises(PreparedSetError, match=dropped):
        read_manifest(folder)


def test_load_refuses_a_malformed_manifest_field(tmp_path: Path) -> None:
    prepared = _prepared()
    prepared.manifest = _real_manifest()
    folder = prepared.save(tmp_path / "p")
    data = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    data["counts"], data["format_version"] = 3, "one"
    (folder / "manifest.json").write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(PreparedSetError, match="malformed \\['counts', 'format_version'\\]"):
        PreparedSet.load(folder)


def test_task_ids_must_be_the_columns_of_y() -> None:
    prepared = _prepared()
    prepared.tasks = prepared.tasks.assign(task_id=[0, 0])
    with pytest.raises(PreparedSetError, match="task ids"):
        prepared.validate()
    prepared.tasks = _tasks(2).assign(task_id=[1, 2])
    with pytest.raises(PreparedSetError, match="task ids"):
        prepared.validate()
    prepared.tasks = _tasks(2).assign(task_name=["t", "t"])
    with pytest.raises(PreparedSetError, match="more than once"):
        prepared.validate()


def test_folds_must_lie_in_the_recorded_range() -> None:
    prepared = _prepared()
    prepared.manifest = _real_manifest()  # n_folds 5
    prepared.validate()
    prepared.compounds = prepared.compounds.assign(fold=[0, 1, 5])
    with pytest.raises(PreparedSetError, match="outside 0..4"):
        prepared.validate()
    prepared.compounds = prepared.compounds.assign(fold=[0, -1, 2])
    with pytest.raises(PreparedSetError, match="folds -1..2"):
        prepared.validate()


def test_shapes_must_agree_with_compounds_and_tasks() -> None:
    prepared = _prepared()
    prepared.compounds = prepared.compounds.iloc[:2]
    with pytest.raises(PreparedSetError, match="2 compounds / 2 tasks"):
        prepared.validate()


def test_task_accessors_follow_the_columns_of_y() -> None:
    prepared = _prepared()
    prepared.tasks = _tasks(2).iloc[::-1]  # stored out of order: column order is task_id order
    assert prepared.task_names == ["t0", "t1"] and prepared.task_kinds.tolist() == ["classification", "regression"]
    assert prepared.tasks_sorted["task_id"].tolist() == [0, 1] and prepared.tasks_sorted.index.tolist() == [0, 1]
    assert prepared.column_of("t1") == 1 and prepared.column_of("0") == 0
    with pytest.raises(ConfigError, match="no task 'nope'"):
        prepared.column_of("nope")
    assert prepared.rows_in([1, 2]).tolist() == [1, 2] and prepared.rows_in([]).tolist() == []


def test_a_mapping_given_as_manifest_becomes_a_manifest() -> None:
    prepared = _prepared()
    assert isinstance(prepared.manifest, Manifest) and prepared.manifest.prep_hash == "h"
    assert prepared.manifest.to_dict() == {
        "prep_hash": "h",
        "key_id": "",
        "prep_config": {},
        "versions": {},
        "counts": {},
    }
