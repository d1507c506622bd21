"""The RDKit 2D descriptor block: values, the charge-state approximation, config checks, prep path."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from rdkit import Chem
from rdkit.Chem import Crippen, rdMolDescriptors

from fedqsar.config import config_hash
from fedqsar.errors import ConfigError
from fedqsar.prep import descriptors as D
from fedqsar.prep.config import DescriptorConfig, PrepConfig
from fedqsar.prep.keys import ConsortiumKey
from fedqsar.prep.structures import process_structures

CFG = DescriptorConfig()
KEY = ConsortiumKey(b"descriptors test key 0123456789ab")


def _values(smiles: str, cfg: DescriptorConfig = CFG) -> dict[str, float]:
    return dict(zip(cfg.names, D.descriptor_vector(Chem.MolFromSmiles(smiles), cfg).tolist(), strict=True))


def test_every_default_name_is_registered_and_documented() -> None:
    assert set(CFG.names) <= set(D.DESCRIPTORS)
    for name in CFG.names:
        assert name in D.__doc__  # the module docstring is the documented list


def test_plain_descriptors_match_rdkit() -> None:
    smiles = "CC(=O)Nc1ccc(O)cc1"  # paracetamol
    mol = Chem.MolFromSmiles(smiles)
    got = _values(smiles)
    assert got["mol_logp"] == pytest.approx(Crippen.MolLogP(mol), abs=1e-5)
    assert got["tpsa"] == pytest.approx(rdMolDescriptors.CalcTPSA(mol), abs=1e-4)
    assert got["hbd"] == 2 and got["hba"] == 2 and got["heavy_atoms"] == 11
    assert got["aromatic_proportion"] == pytest.approx(6 / 11)
    assert got["fraction_sp3"] == pytest.approx(1 / 8)
    assert got["amide_bonds"] == 1 and got["rings"] == 1 and got["aromatic_rings"] == 1


@pytest.mark.parametrize(
    ("smiles", "charge", "acids", "bases"),
    [
        ("CC(C)Cc1ccc(C(C)C(=O)O)cc1", -1.0, 1, 0),  # ibuprofen: carboxylic acid, pKa ~4.2
        ("CC(C)NCC(O)COc1cccc2ccccc12", 0.96, 0, 1),  # propranolol: amine with a beta OH, pKa ~9.5
        ("CCN(CC)CC(=O)Nc1c(C)cccc1C", 0.72, 0, 1),  # lidocaine: amine beside a carbonyl, pKa ~7.9
        ("CC(N)=O", 0.0, 0, 0),  # acetamide: not ionisable
        ("Nc1ccccc1", 0.0, 0, 0),  # aniline, pKa 4.6: not counted
        ("CN(C)C(=N)N=C(N)N", 1.0, 0, 1),  # metformin: guanidine
        ("OC(=O)COCCN1CCN(C(c2ccccc2)c2ccc(Cl)cc2)CC1", 0.0, 1, 1),  # cetirizine: zwitterion
    ],
)
def test_charge_state_at_ph74(smiles: str, charge: float, acids: int, bases: int) -> None:
    got = _values(smiles)
    assert got["charge_ph74"] == pytest.approx(charge, abs=0.05)
    assert (got["acidic_groups"], got["basic_groups"]) == (acids, bases)
    assert got["zwitterion"] == float(acids > 0 and bases > 0)


def test_second_nearby_base_is_weaker_and_logd_follows_neutral_fraction() -> None:
    groups = sorted(D.ionisable_groups(Chem.MolFromSmiles("C1CNCCN1")), reverse=True)  # piperazine
    assert [p for p, _ in groups] == pytest.approx([10.0, 10.0 - D.COULOMB_SHIFT])
    got = _values("CC(C)Cc1ccc(C(C)C(=O)O)cc1")
    assert got["log_fraction_neutral"] == pytest.approx(-(7.4 - 4.2), abs=1e-3)
    assert got["logd_estimate"] == pytest.approx(got["mol_logp"] + got["log_fraction_neutral"], abs=1e-4)


def test_ph_changes_the_charge() -> None:
    acid = "CC(C)Cc1ccc(C(C)C(=O)O)cc1"
    assert _values(acid, dataclasses.replace(CFG, ph=2.0))["charge_ph74"] == pytest.approx(0.0, abs=0.01)


def test_rdkit_names_and_errors() -> None:
    cfg = DescriptorConfig(names=("mol_logp", "rdkit:BertzCT"))
    D.check_config(cfg)
    assert np.isfinite(D.descriptor_vector(Chem.MolFromSmiles("c1ccccc1O"), cfg)).all()
    assert "rdkit:MolLogP" in D.rdkit_descriptor_names()
    with pytest.raises(ConfigError, match="unknown descriptor"):
        D.check_config(DescriptorConfig(names=("not_a_descriptor",)))
    with pytest.raises(ConfigError, match="repeat"):
        D.check_config(DescriptorConfig(names=("tpsa", "tpsa")))
    with pytest.raises(ConfigError, match="pH"):
        D.check_config(DescriptorConfig(ph=15.0))


def test_descriptors_are_part_of_the_prep_hash() -> None:
    base = PrepConfig()
    assert config_hash(base) != config_hash(dataclasses.replace(base, descriptors=DescriptorConfig(enabled=False)))
    assert config_hash(base) != config_hash(dataclasses.replace(base, descriptors=DescriptorConfig(names=("tpsa",))))


def test_structure_path_computes_the_block_per_input_in_parallel_and_in_process() -> None:
    smiles = ["CCC(=O)[O-].[Na+]", "CCC(=O)O", "not a smiles", "c1ccccc1N"]
    smiles += [f"C{'C' * (i % 30)}N" for i in range(300)]  # enough distinct SMILES for worker processes
    serial = process_structures(smiles, PrepConfig(), KEY, n_jobs=1)
    parallel = process_structures(smiles, PrepConfig(), KEY, n_jobs=2)
    assert serial.descriptors.shape == (len(smiles), len(CFG.names)) and serial.descriptors.dtype == np.float32
    np.testing.assert_array_equal(serial.descriptors, parallel.descriptors)
    assert np.isnan(serial.descriptors[2]).all()  # rejected input
    np.testing.assert_array_equal(serial.descriptors[0], serial.descriptors[1])  # salt form = parent acid
    expected = D.descriptor_vector(Chem.MolFromSmiles(serial.std_smiles[3]), CFG)
    np.testing.assert_array_equal(serial.descriptors[3], expected)
    off = process_structures(
        smiles[:4], dataclasses.replace(PrepConfig(), descriptors=DescriptorConfig(enabled=False)), KEY
    )
    assert off.descriptors.shape == (4, 0)
