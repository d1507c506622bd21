"""Splits users have, on real AqSolDB compounds: time folds from ordinals or dates, a fold column, a
split file; a consortium whose partners chose different schemes federates; and no compound of any
partner's test fold trains a model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from fedqsar.cli.main import app
from fedqsar.evaluation.overlap import structure_keys
from fedqsar.evaluation.sets import evaluation_sets
from fedqsar.prep.config import FoldConfig, PrepConfig
from fedqsar.prep.keys import ConsortiumKey, save_key
from fedqsar.prep.pipeline import prepare
from fedqsar.prepared import PreparedSet

KEY = ConsortiumKey(bytes(range(32)))


@pytest.fixture(scope="module")
def compounds(shared_data: Path) -> pd.DataFrame:
    """360 AqSolDB compounds (logS), one row each, in file order."""
    table = pd.read_csv(shared_data / "ci" / "aqsoldb" / "data" / "dataset-G.csv").head(360)
    return pd.DataFrame(
        {
            "compound_id": table["ID"].astype(str),
            "smiles": table["SMILES"],
            "assay_id": "aqsoldb-G",
            "value": table["Solubility"],
            "unit": "log10(mol/L)",
            "qualifier": "=",
            "endpoint": "logS",
        }
    )


def _prepare(table: pd.DataFrame, folder: Path, folds: FoldConfig) -> PreparedSet:
    source = folder.with_suffix(".csv")
    folder.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(source, index=False)
    return prepare(source, folder, KEY, PrepConfig(folds=folds), n_jobs=1).prepared


def _fold_of(prepared: PreparedSet) -> pd.Series:
    return prepared.compounds.set_index("compound_id")["fold"]


def test_ordinal_time_folds(compounds: pd.DataFrame, tmp_path: Path) -> None:
    """Compound numbers in order of synthesis (no dates): integers, never years or missing."""
    table = compounds.head(150).copy()
    table["date"] = [str(1300 + 97 * i) for i in range(len(table))]  # 1300 .. 15753: "years" and 5 digits
    table.loc[7, "date"] = "batch-7"
    prepared = _prepare(table, tmp_path / "ordinal", FoldConfig(scheme="time", time_values="ordinal"))
    assert prepared.accounting["rejected"].get("not_an_ordinal") == 1
    record = prepared.manifest["folds"]
    assert prepared.manifest["fold_scheme"] == "time" and record["time_values"] == "ordinal"
    ordinal = table.set_index("compound_id")["date"].drop(table.loc[7, "compound_id"]).astype(int)
    folds = _fold_of(prepared)
    ordinal = ordinal.reindex(folds.index)
    assert folds[ordinal.idxmin()] == 0 and folds[ordinal.idxmax()] == 4
    assert np.all(np.diff(folds[ordinal.sort_values().index].to_numpy()) >= 0)  # never older in a later fold
    assert (prepared.compounds["time_fold"] == prepared.compounds["fold"]).all()
    assert record["warnings"] == []


def test_date_time_folds_and_a_test_share(compounds: pd.DataFrame, tmp_path: Path) -> None:
    table = compounds.head(150).copy()
    days = pd.Timestamp("2012-01-01") + pd.to_timedelta(np.arange(len(table)) * 9, unit="D")
    table["date"] = days.strftime("%Y-%m-%d")
    table.loc[3, "date"], table.loc[4, "date"], table.loc[5, "date"] = "2013", "1321", "12345"
    prepared = _prepare(table, tmp_path / "dates", FoldConfig(scheme="time", test_share=0.3))
    assert prepared.accounting["rejected"].get("not_a_date") == 2  # 1321 and 12345 are not years
    assert prepared.manifest["folds"]["time_values"] == "date"
    shares = prepared.manifest["folds"]["fold_shares"]
    assert abs(shares["4"] - 0.3) < 0.02 and abs(shares["3"] - 0.3) < 0.02
    newest = table.iloc[-20:]["compound_id"]
    assert (_fold_of(prepared).reindex(newest).dropna() == 4).all()


def test_tied_dates_warn_that_the_split_cannot_be_honoured(compounds: pd.DataFrame, tmp_path: Path) -> None:
    table = compounds.head(120).copy()
    table["date"] = [f"2015-{m:02d}-01" for m in range(1, 11) for _ in range(7)] + ["2016-06-01"] * 50
    prepared = _prepare(table, tmp_path / "tied", FoldConfig(scheme="time"))  # the newest 42% share one date
    assert any("the test fold (fold 4) is empty" in w for w in prepared.manifest["folds"]["warnings"])
    runner = CliRunner().invoke(
        app,
        ["prepare", "--input", str(tmp_path / "tied.csv"), "--out", str(tmp_path / "cli"), "--fold-scheme", "time"]
        + ["--test-share", "0.25", "--quiet", "--jobs", "1"],
    )
    assert runner.exit_code == 0, runner.output
    assert "folds: time (time_values date)" in runner.output and "warning:" in runner.output


def test_fold_column_with_labels_and_numbers(compounds: pd.DataFrame, tmp_path: Path) -> None:
    table = compounds.head(150).copy()
    table["my split"] = np.where(np.arange(150) % 5 == 0, "test", np.where(np.arange(150) % 5 == 1, "Valid", "train"))
    table.loc[2, "my split"] = "2"  # a fold number
    table.loc[10, "my split"] = "holdout"  # neither
    duplicate = table.iloc[[20]].assign(compound_id="again", assay_id="aqsoldb-G2", **{"my split": "train"})
    table = pd.concat([table, duplicate], ignore_index=True)  # same structure as row 20 (test), other split
    prepared = _prepare(table, tmp_path / "column", FoldConfig(scheme="column", fold_column="my split"))
    rejected = prepared.accounting["rejected"]
    assert rejected.get("invalid_split_label") == 1 and rejected.get("conflicting_split") == 2
    folds = _fold_of(prepared)
    labels = table.set_index("compound_id")["my split"].str.lower()
    assert (folds[labels.reindex(folds.index) == "test"] == 4).all()
    assert (folds[labels.reindex(folds.index) == "valid"] == 3).all()
    assert folds[labels.reindex(folds.index) == "train"].isin([0, 1, 2]).all()
    assert prepared.manifest["fold_scheme"] == "column" and prepared.manifest["folds"]["fold_column"] == "my split"


def test_split_file_chemprop_style_and_csv(compounds: pd.DataFrame, tmp_path: Path) -> None:
    table = compounds.head(120)
    ids = table["compound_id"].tolist()
    split = {"train": ids[:80], "val": ids[80:100], "test": ids[100:118]}  # two ids in no split
    (tmp_path / "split.json").write_text(json.dumps([split]), encoding="utf-8")
    prepared = _prepare(
        table, tmp_path / "json", FoldConfig(scheme="split_file", split_file=str(tmp_path / "split.json"))
    )
    assert prepared.accounting["rejected"].get("not_in_split_file") == 2
    folds = _fold_of(prepared)
    assert (folds.reindex(ids[100:118]).dropna() == 4).all() and (folds.reindex(ids[80:100]).dropna() == 3).all()
    rows = [(cid, label) for label, members in split.items() for cid in members]
    pd.DataFrame(rows, columns=["compound_id", "split"]).to_csv(tmp_path / "split.csv", index=False)
    save_key(KEY, tmp_path / "k.key")
    result = CliRunner().invoke(
        app,
        [
            "prepare",
            "--input",
            str(tmp_path / "json.csv"),
            "--out",
            str(tmp_path / "csv"),
            "--key",
            str(tmp_path / "k.key"),
        ]
        + ["--split-file", str(tmp_path / "split.csv"), "--quiet", "--jobs", "1"],
    )
    assert result.exit_code == 0, result.output
    assert _fold_of(PreparedSet.load(tmp_path / "csv")).equals(folds)


@pytest.mark.slow
def test_a_mixed_scheme_consortium_federates(compounds: pd.DataFrame, tmp_path: Path) -> None:
    """Scaffold, time (ordinal) and user-split partners share one prep hash and federate."""
    from fedqsar.federation.config import FederationConfig, SecAggConfig
    from fedqsar.federation.simulation import run_simulation
    from fedqsar.model.config import ModelConfig, TrainConfig

    parts = [compounds.iloc[i * 120 : (i + 1) * 120].copy() for i in range(3)]
    parts[1]["date"] = [str(50_000 + i) for i in range(120)]
    parts[2]["split"] = np.where(np.arange(120) % 4 == 0, "test", np.where(np.arange(120) % 4 == 1, "valid", "train"))
    schemes = (FoldConfig(), FoldConfig(scheme="time"), FoldConfig(scheme="column", fold_column="split"))
    folders = {name: tmp_path / "sets" / name for name in ("scaffold_co", "time_co", "split_co")}
    for folder, table, folds in zip(folders.values(), parts, schemes, strict=True):
        _prepare(table, folder, folds)
    manifests = {name: PreparedSet.load(f).manifest for name, f in folders.items()}
    assert {m["fold_scheme"] for m in manifests.values()} == {"scaffold", "time", "column"}
    assert len({m["prep_hash"] for m in manifests.values()}) == 1
    diff = CliRunner().invoke(app, ["manifest-diff", str(folders["scaffold_co"]), str(folders["time_co"])])
    assert "BLOCKING" not in diff.output
    run = run_simulation(
        folders,
        ModelConfig(hidden_sizes=(32, 16)),
        TrainConfig(epochs=3, batch_size=64),
        FederationConfig(rounds=2, min_partners=3, secagg=SecAggConfig(enabled=False)),
        tmp_path / "fed",
    )
    assert set(run.partner_models) == set(folders) and (tmp_path / "fed" / "trunk" / "consortium_trunk.json").is_file()


def test_a_cross_partner_duplicate_of_a_test_compound_never_trains_a_model(
    compounds: pd.DataFrame, tmp_path: Path
) -> None:
    """Time splits put one structure in A's test fold and in B's training rows: it leaves B's training."""
    from fedqsar.model.config import ModelConfig, TrainConfig
    from fedqsar.model.network import HeadSpec, MultitaskModel
    from fedqsar.model.training import Trainer

    a = compounds.iloc[:120].copy()
    b = pd.concat([a.iloc[-15:].assign(compound_id=lambda t: "b-" + t["compound_id"]), compounds.iloc[120:225]])
    a["date"] = [str(i) for i in range(120)]  # A's newest 15 compounds are its test fold ...
    b["date"] = [str(i) for i in range(120)]  # ... and B's oldest: its training rows
    sets = {
        "A": _prepare(a, tmp_path / "A", FoldConfig(scheme="time")),
        "B": _prepare(b, tmp_path / "B", FoldConfig(scheme="time")),
    }
    folders = {"A": tmp_path / "A", "B": tmp_path / "B"}
    test_keys = set(structure_keys(sets["A"].X[sets["A"].folds == 4]))
    b_train = structure_keys(sets["B"].X[~np.isin(sets["B"].folds, [3, 4])])
    assert sum(k in test_keys for k in b_train) >= 10  # the leak exists before the rule
    result = evaluation_sets(sets, folders, tmp_path / "RUN", test_fold=4, validation_fold=3)
    row = result.folds.set_index("partner").loc["A"]
    assert row["n_test_seen_elsewhere"] >= 10 and result.folds.set_index("partner").loc["B", "n_excluded_train"] >= 10
    assert result.folders["B"] == tmp_path / "RUN" / "evaluation" / "prepared" / "B"  # Flower partners read it
    every_test = set().union(*(set(structure_keys(p.X[p.folds == 4])) for p in result.prepared.values()))
    cfg = TrainConfig(epochs=1, batch_size=16)
    for name, prepared in result.prepared.items():
        model = MultitaskModel(
            prepared.n_bits, ModelConfig(hidden_sizes=(8,)), {name: HeadSpec.from_tasks(prepared.tasks)}
        )
        trainer = Trainer(model, {name: prepared}, cfg)
        trained = np.concatenate([rows for _, rows in trainer.plan()] + [trainer.validation_rows])
        assert not set(structure_keys(prepared.X[trained])) & every_test
    reloaded = PreparedSet.load(result.folders["B"])
    assert reloaded.manifest["evaluation_copy"]["excluded_rows"] >= 10
