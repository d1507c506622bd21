"""``prepare`` on real public data: every input row accounted for, tasks as expected."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fedqsar.prep.keys import ConsortiumKey
from fedqsar.prep.pipeline import prepare
from fedqsar.prep.wide import wide_to_long
from fedqsar.prepared import PreparedSet

KEY = ConsortiumKey(bytes(range(32)))
OTHER_KEY = ConsortiumKey(bytes(range(1, 33)))


def _accounted(prepared: PreparedSet) -> int:
    acc = prepared.accounting
    return acc["used"] + acc["merged"] + sum(acc["rejected"].values())


@pytest.fixture(scope="module")
def melloddy(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> PreparedSet:
    folder = shared_data / "ci" / "melloddy_tuner" / "unit_test" / "input" / "chembl"
    return prepare(folder, tmp_path_factory.mktemp("mel") / "prep", KEY, n_jobs=2).prepared


def test_melloddy_example_accounting_sums_to_input(melloddy: PreparedSet, shared_data: Path) -> None:
    t4 = pd.read_csv(shared_data / "ci/melloddy_tuner/unit_test/input/chembl/chembl_23_example_T4.csv")
    assert melloddy.accounting["input_rows"] == len(t4)
    assert _accounted(melloddy) == len(t4)
    # one label per used row: merged replicates are folded into their representative
    assert melloddy.Y.nnz == melloddy.accounting["used"]


def test_melloddy_example_tasks_follow_t3(melloddy: PreparedSet, shared_data: Path) -> None:
    t3 = pd.read_csv(
        shared_data / "ci/melloddy_tuner/unit_test/input/chembl/chembl_23_example_T3.csv", encoding="utf-8-sig"
    )
    assert len(melloddy.tasks) == len(t3)
    assert set(melloddy.tasks["kind"]) == {"classification"}
    assert set(melloddy.tasks["assay_id"]) == set(t3["input_assay_id"])
    counts = melloddy.tasks.set_index("task_id")
    observed = np.diff(melloddy.Y.tocsc().indptr)
    assert observed.tolist() == counts["n_observed"].tolist()
    assert set(np.unique(melloddy.Y.data)) <= {0.0, 1.0}


def test_melloddy_example_folds_and_no_structures(melloddy: PreparedSet) -> None:
    folds = melloddy.compounds["fold"]
    assert folds.between(0, 4).all() and folds.nunique() == 5
    assert set(melloddy.compounds.columns) == {"row", "compound_id", "fold", "scaffold_fold"}
    assert (melloddy.compounds["fold"] == melloddy.compounds["scaffold_fold"]).all()
    assert melloddy.X.shape == (melloddy.n_compounds, 32768)


def test_no_smiles_anywhere_in_the_prepared_folder(shared_data: Path, tmp_path: Path) -> None:
    long = _aqsoldb_long(shared_data, limit=60)
    source = tmp_path / "long.csv"
    long.to_csv(source, index=False)
    out = tmp_path / "prep"
    prepare(source, out, KEY)
    written = b"".join(p.read_bytes() for p in out.iterdir() if p.name != "rejected.csv")
    for smiles in long["smiles"].head(30):
        if len(smiles) > 8:
            assert smiles.encode() not in written


def _aqsoldb_long(shared_data: Path, limit: int | None = None) -> pd.DataFrame:
    parts = []
    for name in ("G", "H"):
        table = pd.read_csv(shared_data / "ci" / "aqsoldb" / "data" / f"dataset-{name}.csv")
        table = table.head(limit) if limit else table
        parts.append(
            pd.DataFrame(
                {
                    "compound_id": table["ID"],
                    "smiles": table["SMILES"],
                    "assay_id": f"aqsoldb-{name}",
                    "value": table["Solubility"],
                    "unit": "log10(mol/L)",
                    "qualifier": "=",
                    "endpoint": "logS",
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def test_aqsoldb_two_sources(shared_data: Path, tmp_path: Path) -> None:
    long = _aqsoldb_long(shared_data)
    source = tmp_path / "aqsoldb.csv"
    long.to_csv(source, index=False)
    result = prepare(source, tmp_path / "prep", KEY, n_jobs=2)
    prepared = result.prepared
    assert prepared.accounting["input_rows"] == len(long)
    assert _accounted(prepared) == len(long)
    regression = prepared.tasks[prepared.tasks["kind"] == "regression"]
    assert set(regression["assay_id"]) == {"aqsoldb-G", "aqsoldb-H"}
    assert set(prepared.tasks["endpoint"]) == {"logS"}
    # the same structure measured by both sources is one compound with two observations
    per_compound = np.diff(prepared.Y.indptr)
    assert per_compound.max() >= 2
    # the regression values are the solubilities as given (already log10 mol/L)
    col = int(regression.iloc[0]["task_id"])
    values = prepared.Y.tocsc()[:, col].data
    assert values.min() >= long["Solubility" if "Solubility" in long else "value"].astype(float).min() - 1e-6


def test_biogen_wide_file_subset(shared_data: Path, tmp_path: Path) -> None:
    wide = pd.read_csv(shared_data / "biogen_adme" / "ADME_public_set_3521.csv").head(250)
    source = tmp_path / "biogen.csv"
    wide.to_csv(source, index=False)
    long = wide_to_long(source, id_column="Internal ID")
    assert long["assay_id"].nunique() == 6
    long_file = tmp_path / "biogen_long.parquet"
    long.to_parquet(long_file)
    prepared = prepare(long_file, tmp_path / "prep", KEY).prepared
    n_cells = int(wide.iloc[:, 4:].notna().sum().sum())
    assert prepared.accounting["input_rows"] == n_cells == len(long)
    assert _accounted(prepared) == n_cells
    regression = prepared.tasks[prepared.tasks["kind"] == "regression"]
    assert "unknown_unit" not in prepared.accounting["rejected"]  # every header unit is understood
    assert len(regression) == 6  # one regression task per Biogen endpoint column
    assert {"efflux_ratio", "PPB", "logS", "CLint_scaled"} <= set(regression["endpoint"])


def test_same_key_same_folds_other_key_other_permutation(shared_data: Path, tmp_path: Path) -> None:
    long = _aqsoldb_long(shared_data, limit=120)
    source = tmp_path / "s.csv"
    long.to_csv(source, index=False)
    a = prepare(source, tmp_path / "a", KEY).prepared
    b = prepare(source, tmp_path / "b", KEY).prepared
    c = prepare(source, tmp_path / "c", OTHER_KEY).prepared
    assert (a.X != b.X).nnz == 0 and a.compounds["fold"].tolist() == b.compounds["fold"].tolist()
    assert (a.X != c.X).nnz > 0
    assert a.manifest["key_id"] != c.manifest["key_id"] and a.manifest["prep_hash"] == c.manifest["prep_hash"]
