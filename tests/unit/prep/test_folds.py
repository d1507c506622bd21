from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rdkit import Chem
from rdkit.Chem.Scaffolds import MurckoScaffold

from fedqsar.prep.folds import generic_scaffold, parse_dates, scaffold_fold, time_folds
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


def test_parse_dates_reads_years_and_iso_and_flags_the_rest() -> None:
    raw = pd.Series(["2015-03-01", 2016, "2017", None, "not a date", "2014-01-01T10:00:00Z", 2018.0])
    parsed, bad = parse_dates(raw)
    assert bad.tolist() == [False, False, False, True, True, False, False]
    assert parsed[1] == pd.Timestamp("2016-01-01") and parsed[6] == pd.Timestamp("2018-01-01")
    assert parsed[0] == pd.Timestamp("2015-03-01") and parsed[5].year == 2014


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
