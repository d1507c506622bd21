from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from fedqsar.errors import InputSchemaError
from fedqsar.prep.wide import unit_from_header, wide_to_long


@pytest.mark.parametrize(
    "header, unit",
    [
        ("LOG HLM_CLint (mL/min/kg)", "log10(mL/min/kg)"),
        ("LOG PLASMA PROTEIN BINDING (HUMAN) (% unbound)", "log10(% unbound)"),
        ("Solubility (uM)", "uM"),
        ("logD", ""),
        ("LOG thing", "log"),
        ("exp_mean [nM]", "nM"),  # MoleculeACE writes units in brackets
        ("PLASMA PROTEIN BINDING (HUMAN)", ""),  # "(HUMAN)" is no unit
        ("LogD (pH 7.4)", ""),
    ],
)
def test_unit_from_header(header: str, unit: str) -> None:
    assert unit_from_header(header) == unit


def test_wide_to_long_keeps_every_filled_cell(tmp_path: Path) -> None:
    path = tmp_path / "w.csv"
    pd.DataFrame(
        {
            "ID": ["a", "b", "c"],
            "Vendor ID": [1, 2, 3],
            "SMILES": ["CCO", "CCN", "CCC"],
            "IC50 (nM)": [10, None, "<5"],
            "LOG ER (B-A/A-B)": [0.1, 0.2, None],
        }
    ).to_csv(path, index=False)
    long = wide_to_long(path, smiles_column="SMILES", id_column="ID")
    assert len(long) == 4  # 6 cells, 2 empty
    assert set(long["assay_id"]) == {"IC50 (nM)", "LOG ER (B-A/A-B)"}  # "Vendor ID" is an identifier
    assert long.loc[long["compound_id"] == "c", "value"].tolist() == ["<5"]
    assert set(long["unit"]) == {"nM", "log10(B-A/A-B)"}


def test_wide_missing_smiles_column_is_named(tmp_path: Path) -> None:
    path = tmp_path / "w.csv"
    pd.DataFrame({"ID": ["a"], "x (nM)": [1]}).to_csv(path, index=False)
    with pytest.raises(InputSchemaError, match="smiles"):
        wide_to_long(path)


def test_wide_columns_without_unit_dates_units_and_labels(tmp_path: Path) -> None:
    path = tmp_path / "w.csv"
    pd.DataFrame(
        {
            "Molecule Name": ["m1", "m2", "m3"],
            "SMILES": ["CCO", "CCN", "CCC"],
            "Date": ["2021-01-04", "2021-02-01", "2022-03-07"],
            "LogD": [1.2, 2.5, None],  # no unit in the header, still an assay (it used to be dropped)
            "KSOL": [12.0, 150.0, 3.0],
            "CID": [101, 102, 103],  # an identifier, not an assay
            "hERG active": [0, 1, 1],  # 0/1: labels or a flag? only a name or the endpoint map can say
        }
    ).to_csv(path, index=False)
    long = wide_to_long(
        path, smiles_column="SMILES", id_column="Molecule Name", date_column="Date", units={"ksol": "uM"}
    )
    assert set(long["assay_id"]) == {"LogD", "KSOL", "hERG active"}
    units = long.groupby("assay_id")["unit"].first().to_dict()
    assert units == {"LogD": "", "KSOL": "uM", "hERG active": ""}
    assert long.loc[long["compound_id"] == "m3", "date"].unique().tolist() == ["2022-03-07"]


def test_wide_unit_option_mistakes_stop(tmp_path: Path) -> None:
    path = tmp_path / "w.csv"
    pd.DataFrame({"SMILES": ["CCO", "CCN"], "KSOL (uM)": [1.0, 2.0]}).to_csv(path, index=False)
    with pytest.raises(InputSchemaError, match="header"):
        wide_to_long(path, smiles_column="SMILES", units={"KSOL (uM)": "nM"})
    with pytest.raises(InputSchemaError, match="not a value column"):
        wide_to_long(path, smiles_column="SMILES", units={"Solubility": "uM"})
    with pytest.raises(InputSchemaError, match="unknown unit"):
        wide_to_long(path, smiles_column="SMILES", units={"KSOL (uM)": "furlongs"})
    with pytest.raises(InputSchemaError, match="--date-column"):
        wide_to_long(path, smiles_column="SMILES", date_column="Date")
