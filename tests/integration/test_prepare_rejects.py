"""Every reject reason of ``prepare`` lands in accounting.json and rejected.csv."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from fedqsar.prep.keys import ConsortiumKey
from fedqsar.prep.pipeline import prepare

KEY = ConsortiumKey(b"k" * 32)
BIG = "C" * 101  # 101 heavy atoms


def _rows() -> list[dict]:
    good = ["CCO", "CCN", "CCCO", "c1ccccc1O", "CC(=O)O", "CCOC", "CCCN", "c1ccncc1", "CC(C)O", "CCS"]
    rows = [
        dict(compound_id=f"g{i}", smiles=s, assay_id="KDR_IC50", value=5 + i * 0.3, unit="nM", qualifier="=")
        for i, s in enumerate(good)
    ]
    rows += [
        dict(compound_id="bad_smiles", smiles="C1CC(", assay_id="KDR_IC50", value=10, unit="nM", qualifier="="),
        dict(compound_id="too_big", smiles=BIG, assay_id="KDR_IC50", value=10, unit="nM", qualifier="="),
        dict(compound_id="text", smiles="CCCCO", assay_id="KDR_IC50", value="n.d.", unit="nM", qualifier="="),
        dict(compound_id="unit", smiles="CCCCN", assay_id="KDR_IC50", value=3, unit="furlongs", qualifier="="),
        dict(compound_id="qual", smiles="CCCCC", assay_id="KDR_IC50", value=3, unit="nM", qualifier="about"),
        dict(compound_id="empty", smiles="CCCCCC", assay_id="KDR_IC50", value=None, unit="nM", qualifier="="),
        dict(compound_id="rep1", smiles="CCOCC", assay_id="KDR_IC50", value=10, unit="nM", qualifier="="),
        dict(compound_id="rep2", smiles="CCOCC", assay_id="KDR_IC50", value=12, unit="nM", qualifier="="),
        dict(compound_id="conf1", smiles="CCCOCC", assay_id="KDR_IC50", value=1, unit="nM", qualifier="="),
        dict(compound_id="conf2", smiles="CCCOCC", assay_id="KDR_IC50", value=1e6, unit="nM", qualifier="="),
    ]
    return rows


def test_each_bad_row_is_rejected_with_its_reason(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    pd.DataFrame(_rows()).to_csv(source, index=False)
    out = tmp_path / "prep"
    prepare(source, out, KEY)
    accounting = json.loads((out / "accounting.json").read_text())
    rejected = pd.read_csv(out / "rejected.csv")
    by_id = dict(zip(rejected["compound_id"], rejected["reason"], strict=True))
    assert by_id["bad_smiles"] == "unparsable_smiles"
    assert by_id["too_big"] == "too_many_heavy_atoms"
    assert by_id["text"] == "non_numeric_value"
    assert by_id["unit"] == "unknown_unit"
    assert by_id["qual"] == "unknown_qualifier"
    assert by_id["empty"] == "missing_value"
    assert by_id["conf1"] == by_id["conf2"] == "duplicate_conflict"
    assert accounting["merged"] == 1  # rep2 folded into rep1
    assert accounting["input_rows"] == len(_rows())
    assert accounting["used"] + accounting["merged"] + sum(accounting["rejected"].values()) == len(_rows())
    assert sum(accounting["rejected"].values()) == len(rejected)
