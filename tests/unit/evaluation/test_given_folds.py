"""Folds given for an evaluation (``--split-file`` / ``--fold-column``) and the folds table."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from fedqsar.errors import ConfigError
from fedqsar.evaluation.sets import evaluation_sets, given_folds

from .synthetic import synthetic_prepared


def test_a_per_partner_chemprop_split_file_replaces_the_folds(tmp_path: Path) -> None:
    sets = {"a": synthetic_prepared(n=100, seed=1), "b": synthetic_prepared(n=100, seed=2)}
    ids = [f"c{i}" for i in range(100)]
    split = {
        "a": {"train": ids[:60], "val": ids[60:80], "test": ids[80:]},
        "b": {"train": ids[:50], "valid": ids[50:70], "test": ids[70:95]},  # 5 compounds unassigned
    }
    (tmp_path / "split.json").write_text(json.dumps(split), encoding="utf-8")
    folders = {name: p.save(tmp_path / name) for name, p in sets.items()}
    result = evaluation_sets(
        sets, folders, tmp_path / "RUN", test_fold=4, validation_fold=3, split_file=str(tmp_path / "split.json")
    )
    b = result.prepared["b"]
    assert b.n_compounds == 95 and b.manifest["evaluation_folds"]["n_unassigned"] == 5
    fold = dict(zip(b.compounds["compound_id"], b.folds, strict=True))
    assert fold["c70"] == 4 and fold["c50"] == 3 and fold["c0"] in (0, 1, 2)
    table = result.folds.set_index("partner")
    assert table.loc["a", "scheme"] == "user split file" and table.loc["b", "n_test"] == 25
    assert result.folders["a"] == tmp_path / "RUN" / "evaluation" / "prepared" / "a"


def test_a_fold_column_of_compounds_parquet(tmp_path: Path) -> None:
    prepared = synthetic_prepared(n=50, seed=3)
    prepared.compounds["scaffold_fold"] = (np.arange(50) * 7) % 5
    switched = given_folds("a", prepared, None, "scaffold_fold")
    assert (switched.folds == (np.arange(50) * 7) % 5).all() and switched.manifest["evaluation_folds"][
        "scheme"
    ] == "scaffold"
    with pytest.raises(ConfigError, match="no column 'time_fold'"):
        given_folds("a", prepared, None, "time_fold")
    prepared.compounds["bad"] = ["test"] * 49 + ["later"]
    with pytest.raises(ConfigError, match="not fold numbers or train / valid / test"):
        given_folds("a", prepared, None, "bad")


def test_a_split_file_naming_one_partner_leaves_the_others_folds_alone(tmp_path: Path) -> None:
    sets = {"own": synthetic_prepared(n=40, seed=4), "newcomer": synthetic_prepared(n=40, seed=5)}
    rows = [f"c{i},{4 if i < 10 else i % 4},newcomer" for i in range(40)]
    (tmp_path / "split.csv").write_text("compound_id,split,partner\n" + "\n".join(rows) + "\n", encoding="utf-8")
    folders = {name: p.save(tmp_path / name) for name, p in sets.items()}
    result = evaluation_sets(
        sets, folders, tmp_path / "RUN", test_fold=4, validation_fold=3, split_file=str(tmp_path / "split.csv")
    )
    assert (result.prepared["own"].folds == sets["own"].folds).all()
    assert "evaluation_folds" not in result.prepared["own"].manifest
    newcomer = result.prepared["newcomer"]
    fold = dict(zip(newcomer.compounds["compound_id"], newcomer.folds, strict=True))
    assert [fold[f"c{i}"] for i in (0, 9, 10, 13)] == [4, 4, 2, 1]
