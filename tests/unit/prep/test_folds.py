from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rdkit import Chem
from rdkit.Chem.Scaffolds import MurckoScaffold

from fedqsar.prep.folds import (
    NOT_A_DATE,
    NOT_AN_ORDINAL,
    generic_scaffold,
    parse_time_values,
    scaffold_fold,
    time_folds,
    time_split_report,
)
from fedqsar.prep.keys import ConsortiumKey, generate_key

KEY = ConsortiumKey(b"fold test key 0123456789abcdefgh")


def test_generic_scaffold_ignores_atom_types_bonds_and_side_chains() -> None:
    benzene_like = ["c1ccccc1CCN", "C1CCCCC1CCO", "c1ccncc1C(=O)O", "O=C1CCCCN1"]
    assert {generic_scaffold(s) for s in benzene_like} == {"C1CCCCC1"}


def test_generic_scaffold_keeps_ring_systems_and_linkers() -> None:
    assert generic_scaffold("c1ccccc1CCc1ccncc1") == generic_scaffold("C1CCCCC1CCC1CCCCC1")
    assert generic_scaffold("c1ccccc1CCc1ccncc1") != generic_scaffold("c1ccccc1Cc1ccncc1")
    assert generic_scaffold("c1ccc2ccccc2c1") != generic_scaffold("c1ccccc1")


def test_acyclic_molecules_get_their_own_scaffold() -> None:
    assert generic_scaffold("OCC") == "acyclic:CCO"
    assert generic_scaffold("CCCCN") != generic_scaffold("CCCCO")


def test_unparsable_smiles_raises() -> None:
    with pytest.raises(ValueError, match="parse"):
        generic_scaffold("C1CC")


def test_same_scaffold_same_fold_in_every_partner_with_the_key() -> None:
    series = ["c1ccccc1CCN", "c1ccncc1CCO", "C1CCCCC1C(=O)N"]
    partner_a = {scaffold_fold(generic_scaffold(s), KEY, 5) for s in series}
    partner_b = {scaffold_fold(generic_scaffold(s), ConsortiumKey(KEY.secret), 5) for s in series}
    assert partner_a == partner_b and len(partner_a) == 1


def test_folds_change_with_the_key_and_stay_balanced() -> None:
    scaffolds = [f"C1CCC(CC1){'C' * i}C1CCCCC1" for i in range(400)]
    folds = np.array([scaffold_fold(s, KEY, 5) for s in scaffolds])
    other_key = generate_key()
    other = np.array([scaffold_fold(s, other_key, 5) for s in scaffolds])
    assert set(folds.tolist()) == {0, 1, 2, 3, 4}
    assert np.all(np.bincount(folds) > 40)  # expected 80 each
    assert np.mean(folds == other) < 0.4  # independent keys agree ~1/5 of the time
    assert {scaffold_fold(s, KEY, 3) for s in scaffolds} == {0, 1, 2}


def test_time_folds_run_from_oldest_to_newest() -> None:
    dates = pd.Series(
        pd.to_datetime(
            [
                "2019-01-01",
                "2010-05-01",
                "2012-01-01",
                "2015-01-01",
                "2011-01-01",
                "2013-01-01",
                "2016-01-01",
                "2018-01-01",
                "2014-01-01",
                "2017-01-01",
            ]
        )
    )
    folds = time_folds(dates, 5)
    assert folds.dtype == np.int64
    order = np.argsort(dates.to_numpy())
    assert np.all(np.diff(folds[order]) >= 0)
    assert folds[1] == 0 and folds[0] == 4
    assert np.all(np.bincount(folds) == 2)


def test_equal_dates_share_a_fold_and_missing_dates_get_minus_one() -> None:
    dates = pd.Series(pd.to_datetime(["2010-01-01"] * 4 + ["2011-01-01", None]))
    folds = time_folds(dates, 5)
    assert len(set(folds[:4].tolist())) == 1
    assert folds[4] > folds[0]
    assert folds[5] == -1


def test_dates_read_years_and_iso_and_flag_the_rest() -> None:
    raw = pd.Series(["2015-03-01", 2016, "2017", None, "not a date", "2014-01-01T10:00:00Z", 2018.0])
    values, reasons, kind = parse_time_values(raw, "date")
    assert kind == "date"
    assert reasons == [None, None, None, "missing_date", NOT_A_DATE, None, None]
    as_dates = pd.to_datetime(pd.Series(values[[0, 1, 5, 6]]).astype("int64"), unit="ns")
    assert as_dates[1] == pd.Timestamp("2016-01-01") and as_dates[3] == pd.Timestamp("2018-01-01")
    assert as_dates[0] == pd.Timestamp("2015-03-01") and as_dates[2].year == 2014


def test_integers_that_are_not_years_are_never_read_as_years_or_missing() -> None:
    values, reasons, kind = parse_time_values(pd.Series(["2015-03-01", "1321", "12345", "2016"]))
    assert kind == "date" and reasons == [None, NOT_A_DATE, NOT_A_DATE, None]  # mixed column: dates
    values, reasons, kind = parse_time_values(pd.Series(["1321", "12345", "7", "1321.0", None]))
    assert kind == "ordinal" and reasons == [None, None, None, None, "missing_date"]  # all integers: ordinals
    assert values[:4].tolist() == [1321.0, 12345.0, 7.0, 1321.0]
    _, reasons, _ = parse_time_values(pd.Series(["12", "2020-01-01", "x7"]), "ordinal")
    assert reasons == [None, NOT_AN_ORDINAL, NOT_AN_ORDINAL]


def test_ordinals_make_time_folds_in_their_order() -> None:
    values, _, _ = parse_time_values(pd.Series([str(10_000 + 7 * i) for i in range(50)][::-1]))
    folds = time_folds(values, 5)
    assert folds[0] == 4 and folds[-1] == 0 and np.all(np.bincount(folds) == 10)


def test_a_test_share_is_honoured_and_ties_are_warned_about() -> None:
    folds = time_folds(np.arange(100.0), 5, test_share=0.3)
    assert np.bincount(folds).tolist() == [14, 13, 13, 30, 30]
    assert time_split_report(folds, 5, 0.3)["warnings"] == []
    tied = np.r_[np.arange(60.0), np.full(40, 99.0)]  # the newest 40% share one date
    report = time_split_report(time_folds(tied, 5), 5)
    assert any("test fold (fold 4) is empty" in w for w in report["warnings"])
    assert any("holds 40.0% of the compounds instead of 20.0%" in w for w in report["warnings"])


def _rdkit_generic_murcko(mol: Chem.Mol) -> str:
    generic = MurckoScaffold.MakeScaffoldGeneric(MurckoScaffold.GetScaffoldForMol(mol))
    written = Chem.MolToSmiles(MurckoScaffold.GetScaffoldForMol(generic))
    return Chem.MolToSmiles(Chem.MolFromSmiles(written))  # RDKit's own output is not always canonical


def test_generic_scaffold_equals_rdkit_murcko_made_generic_and_ignores_atom_order(shared_data: Path) -> None:
    table = pd.read_csv(shared_data / "ci" / "chemprop_testdata" / "tests" / "data" / "regression.csv")
    rng = random.Random(7)
    compared = 0
    for smiles in table.iloc[:300, 0]:
        mol = Chem.MolFromSmiles(smiles)
        if mol is None or mol.GetRingInfo().NumRings() == 0:
            continue
        ours = generic_scaffold(mol)
        assert ours == _rdkit_generic_murcko(mol), smiles
        order = list(range(mol.GetNumAtoms()))
        rng.shuffle(order)
        assert generic_scaffold(Chem.RenumberAtoms(mol, order)) == ours, smiles
        compared += 1
    assert compared > 200
