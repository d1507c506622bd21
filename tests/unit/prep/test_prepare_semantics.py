"""``prepare`` end to end on small hand-made tables: questions, custom endpoints, structure
conflicts, inorganic inputs, LOQ censoring and rejected rows that keep their fields."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fedqsar.errors import EndpointResolutionError
from fedqsar.prep import reasons as R
from fedqsar.prep.keys import ConsortiumKey
from fedqsar.prep.pipeline import ASSAY_ENDPOINTS_FILE, QUESTIONS_FILE, prepare
from fedqsar.prep.wide import wide_to_long

KEY = ConsortiumKey(b"s" * 32)
SMILES = ["CCO", "CCN", "CCCO", "c1ccccc1O", "CC(=O)O", "CCOC", "CCCN", "c1ccncc1", "CC(C)O", "CCS", "CCCl", "OCCO"]


def long_table(assay: str, values: list[object], unit: str = "", endpoint: str = "") -> pd.DataFrame:
    n = len(values)
    return pd.DataFrame(
        {
            "compound_id": [f"c{i}" for i in range(n)],
            "smiles": (SMILES * 3)[:n],
            "assay_id": assay,
            "value": values,
            "unit": unit,
            "qualifier": "=",
            "endpoint": endpoint,
        }
    )


def test_an_unclear_assay_stops_prepare_before_any_chemistry(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    pd.concat(
        [long_table("ASSAY-17", [10, 20, 30], "nM"), long_table("LogD", [1.0, 2.0, 3.0])], ignore_index=True
    ).to_csv(source, index=False)
    with pytest.raises(EndpointResolutionError) as info:
        prepare(source, tmp_path / "p", KEY)
    assert "'ASSAY-17'" in info.value.what and "pXC50, logS" in info.value.what and "'LogD'" not in info.value.what
    template = tmp_path / "p" / QUESTIONS_FILE
    assert str(template) in info.value.fix
    assert '"ASSAY-17" = "ENDPOINT"' in template.read_text()
    assert not (tmp_path / "p" / "manifest.json").exists()
    template.write_text('"ASSAY-17" = "pIC50"\n')  # the partner answers; prepare runs
    result = prepare(source, tmp_path / "p", KEY, endpoint_map=template)
    assert set(result.prepared.tasks["endpoint"]) == {"pXC50", "logD7.4"}
    read = pd.read_csv(tmp_path / "p" / ASSAY_ENDPOINTS_FILE).set_index("assay_id")
    assert read.loc["ASSAY-17", "how"] == "endpoint map (ASSAY-17)" and read.loc["LogD", "endpoint"] == "logD7.4"
    assert "no pH in the name" in read.loc["LogD", "note"]


def test_allow_custom_keeps_and_flags_custom_linear_endpoints(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    ratio = list(np.round(10 ** np.linspace(-0.5, 2.5, 12), 3))  # an efflux-like ratio, no name, no unit
    long_table("readout 7", ratio).to_csv(source, index=False)
    result = prepare(source, tmp_path / "p", KEY, allow_custom=True)
    semantics = json.loads((tmp_path / "p" / "manifest.json").read_text())["semantics"]
    assert semantics == result.semantics
    assert semantics["custom_endpoints"] == [{"endpoint": "readout 7", "assays": 1, "rows": 12}]
    assert [t["task"] for t in semantics["linear_scale_tasks"]] == ["readout 7"]
    assert any("custom endpoint 'readout 7'" in w for w in semantics["warnings"])
    assert any("decades on a linear scale" in w and "readout 7" in w for w in semantics["warnings"])


def test_one_id_with_two_structures_rejects_both_rows(tmp_path: Path) -> None:
    wide = tmp_path / "wide.csv"
    pd.DataFrame(
        {
            "Internal ID": ["Mol1", "Mol2", "Mol2", "Mol3", "Mol4", "Mol4"],
            "SMILES": ["CCO", "CCN", "c1ccccc1", "CCCO", "CC(=O)O", "CC(=O)[O-].[Na+]"],  # Mol4: one parent
            "LOG HLM_CLint (mL/min/kg)": [0.7, 1.1, 1.5, 0.9, 1.2, 1.3],
        }
    ).to_csv(wide, index=False)
    long = tmp_path / "long.parquet"
    wide_to_long(wide, smiles_column="SMILES", id_column="Internal ID").to_parquet(long)
    result = prepare(long, tmp_path / "p", KEY)
    rejected = result.rejected
    assert rejected.loc[rejected["reason"] == R.CONFLICTING_STRUCTURE, "compound_id"].tolist() == ["Mol2", "Mol2"]
    assert result.prepared.compounds["compound_id"].tolist() == ["Mol1", "Mol3", "Mol4"]  # salt form is no conflict


def test_inorganic_rows_are_rejected_not_modelled_as_a_fragment(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    table = long_table("KSOL", [5.0] * 6, "uM")
    table["smiles"] = ["N.N.Cl[Pt]Cl", "[Na+].[Cl-]", "[Cu+2].[O-]S(=O)(=O)[O-]", "CCO", "CCCO", "CCN"]
    table.to_csv(source, index=False)
    result = prepare(source, tmp_path / "p", KEY)
    by_id = dict(zip(result.rejected["compound_id"], result.rejected["reason"], strict=True))
    assert by_id == {"c0": R.NO_ORGANIC_PARENT, "c1": R.NO_ORGANIC_PARENT, "c2": R.NO_ORGANIC_PARENT}


def test_zero_clearance_is_kept_censored_and_counted(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    long_table("HLM_CLint", [0, 0, 5, 12, 30, 0.0, 8, 2], "mL/min/kg").to_csv(source, index=False)
    result = prepare(source, tmp_path / "p", KEY)
    assert "non_positive_value" not in result.prepared.accounting["rejected"]
    assert result.semantics["censored_at_loq"] == {"CLint_scaled": 3}
    regression = result.prepared.tasks.query("kind == 'regression'")
    assert regression["n_censored"].tolist() == [3]


def test_rejected_csv_keeps_the_fields_of_malformed_lines_and_broken_sd_records(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_text(
        "compound_id,smiles,assay_id,value,unit,qualifier\n"
        "c1,CCO,hERG IC50,12,nM,=\n"
        "c2,CCN,hERG IC50,12,5,nM,=\n"  # a decimal comma: one field too many
        "c3,CCCO,hERG IC50,40,nM,=\n"
    )
    prepare(source, tmp_path / "p", KEY)
    rejected = pd.read_csv(tmp_path / "p" / "rejected.csv", dtype=str)
    row = rejected.iloc[0]
    assert (row["reason"], row["compound_id"], row["assay_id"], row["value"]) == (
        "malformed_row",
        "c2",
        "hERG IC50",
        "12",
    )
    assert row["raw_record"] == "c2,CCN,hERG IC50,12,5,nM,="

    from rdkit import Chem

    sdf = tmp_path / "in.sdf"
    writer = Chem.SDWriter(str(sdf))
    for i, smiles in enumerate(["CCO", "CCN"]):
        mol = Chem.MolFromSmiles(smiles)
        mol.SetProp("_Name", f"good{i}")
        for key, value in (("assay_id", "KSOL"), ("value", "12"), ("unit", "uM"), ("qualifier", "=")):
            mol.SetProp(key, value)
        writer.write(mol)
    writer.close()
    broken = (
        "bad-7\n  RDKit\n\n  2  1  0  0  0  0  0  0  0  0999 V2000\nM  END\n"
        "> <assay_id>\nKSOL\n\n> <value>\n<0.5\n\n> <unit>\nuM\n\n> <qualifier>\n\n\n$$$$\n"
    )
    sdf.write_text(sdf.read_text() + broken)
    prepare(sdf, tmp_path / "s", KEY)
    rejected = pd.read_csv(tmp_path / "s" / "rejected.csv", dtype=str)
    row = rejected.iloc[0]
    assert (row["reason"], row["compound_id"], row["assay_id"], row["value"], row["unit"]) == (
        "unparsable_molblock",
        "bad-7",
        "KSOL",
        "<0.5",
        "uM",
    )
    assert row["raw_record"] == "SD record 3"
