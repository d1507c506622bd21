"""The potency newcomer's raw table and its time-split folds (SIMPD)."""

from __future__ import annotations

import pandas as pd

from fedqsar.datasets.scenarios.newcomer import TEST_FOLD, VALIDATION_FOLD, newcomer_folds, newcomer_table


def _sets() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "canonical_smiles": ["CCO", "CCN", "CCC", "CCO", "c1ccccc1"] + ["C" * k for k in range(1, 41)],
            "compound_chembl_id": ["C1", "C2", "C3", "C1", "C4"] + [f"D{k}" for k in range(40)],
            "pchembl_value": [6.0, 7.0, 5.5, 6.2, 8.0] + [6.0] * 40,
            "split": ["train", "test", "train", "test", "train"] + ["train"] * 40,
            "target": ["CHEMBL1", "CHEMBL1", "CHEMBL1", "CHEMBL2", "CHEMBL2"] + ["CHEMBL3"] * 40,
        }
    )


def test_a_compound_that_is_future_in_any_set_is_test_everywhere() -> None:
    folds = newcomer_folds(_sets()).set_index("compound_id")["split"]
    assert folds["C1"] == TEST_FOLD and folds["C2"] == TEST_FOLD
    assert folds["C3"] != TEST_FOLD and folds["C4"] != TEST_FOLD
    earlier = folds.drop(["C1", "C2"])
    assert earlier.between(0, VALIDATION_FOLD).all()
    assert 0.1 < (earlier == VALIDATION_FOLD).mean() < 0.45  # a keyed quarter is validation
    assert newcomer_folds(_sets()).equals(newcomer_folds(_sets()))  # keyed: the same on every machine


def test_one_task_per_target_named_like_the_consortium() -> None:
    table = newcomer_table(_sets())
    assert set(table["assay_id"]) == {"CHEMBL1_Ki", "CHEMBL2_Ki", "CHEMBL3_Ki"}
    assert set(table["unit"]) == {"pchembl"} and len(table) == 45
