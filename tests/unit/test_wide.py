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
    ],
)
def test_unit_from_header(header: str, unit: str) -> None:
    assert unit_from_header(header) == unit


def test_wide_to_long_keeps_every_filled_cell(tmp_path: Path) -> None:
    path = tmp_path / "w.csv"
    pd.DataFrame(
        {
            "ID": ["a", "b", "c"],
            "Vendor": [1, 2, 3],
            "SMILES": ["CCO", "CCN", "CCC"],
            "IC50 (nM)": [10, None, "<5"],
            "LOG ER (B-A/A-B)": [0.1, 0.2, None],
        }
    ).to_csv(path, index=False)
    long = wide_to_long(path, smiles_column="SMILES", id_column="ID")
    assert len(long) == 4  # 6 cells, 2 empty
    assert set(long["assay_id"]) == {"IC50 (nM)", "LOG ER (B-A/A-B)"}  # "Vendor" has no unit: not an assay
    assert long.loc[long["compound_id"] == "c", "value"].tolist() == ["<5"]
    assert set(long["unit"]) == {"nM", "log10(B-A/A-B)"}


def test_wide_missing_smiles_column_is_named(tmp_path: Path) -> None:
    path = tmp_path / "w.csv"
    pd.DataFrame({"ID": ["a"], "x (nM)": [1]}).to_csv(path, index=False)
    with pytest.raises(InputSchemaError, match="smiles"):
        wide_to_long(path)
