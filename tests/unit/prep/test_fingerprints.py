from __future__ import annotations

import numpy as np
import pytest
from rdkit import Chem
from rdkit.Chem import rdFingerprintGenerator

from fedqsar.errors import ConfigError
from fedqsar.prep.config import FingerprintConfig
from fedqsar.prep.fingerprints import bit_environments, fingerprint_bits, rows_to_csr
from fedqsar.prep.keys import ConsortiumKey, generate_key

KEY = ConsortiumKey(b"fingerprint test key 0123456789ab")
CFG = FingerprintConfig(counts=False)  # bits (1.0); counts are tested on their own below
PERM = KEY.permutation(CFG.n_bits)
MOLECULES = ["CC(=O)Nc1ccc(O)cc1", "c1ccc2[nH]ccc2c1", "CCN(CC)CCOC(=O)c1ccc(N)cc1", "CCO"]


def rdkit_folded(smiles: str, radius: int = 3, n_bits: int = 32768) -> np.ndarray:
    generator = rdFingerprintGenerator.GetMorganGenerator(radius=radius, fpSize=n_bits)
    return generator.GetCountFingerprintAsNumPy(Chem.MolFromSmiles(smiles))


@pytest.mark.parametrize("smiles", MOLECULES)
def test_bits_are_rdkit_morgan_bits_moved_by_the_permutation(smiles: str) -> None:
    bits, values = fingerprint_bits(smiles, CFG, PERM)
    dense = rdkit_folded(smiles)
    assert bits.dtype == np.int64 and values.dtype == np.float32
    assert np.all(np.diff(bits) > 0)
    assert set(bits.tolist()) == set(PERM[np.flatnonzero(dense)].tolist())
    assert np.all(values == 1.0)


def test_counts_are_occurrence_counts() -> None:
    cfg = FingerprintConfig(counts=True)
    bits, values = fingerprint_bits("CCCCCCO", cfg, PERM)
    dense = rdkit_folded("CCCCCCO")
    inverse = np.argsort(PERM)  # column -> folded bit
    assert np.array_equal(values, dense[inverse[bits]].astype(np.float32))
    assert values.max() > 1


def test_size_and_radius_are_configurable() -> None:
    small = FingerprintConfig(n_bits=1024, radius=1)
    bits, _ = fingerprint_bits(MOLECULES[0], small, KEY.permutation(1024))
    assert bits.max() < 1024
    assert len(bits) == np.count_nonzero(rdkit_folded(MOLECULES[0], radius=1, n_bits=1024))
    assert len(bits) < len(fingerprint_bits(MOLECULES[0], CFG, PERM)[0])


def test_same_key_same_columns_other_key_other_columns() -> None:
    bits, _ = fingerprint_bits(MOLECULES[2], CFG, PERM)
    again, _ = fingerprint_bits(
        Chem.MolFromSmiles(MOLECULES[2]), CFG, ConsortiumKey(KEY.secret).permutation(CFG.n_bits)
    )
    other, _ = fingerprint_bits(MOLECULES[2], CFG, generate_key().permutation(CFG.n_bits))
    assert np.array_equal(bits, again)
    assert len(set(bits.tolist()) & set(other.tolist())) < len(bits) // 2


def test_wrong_permutation_length_and_bad_config_are_refused() -> None:
    with pytest.raises(ValueError, match="permutation"):
        fingerprint_bits("CCO", CFG, KEY.permutation(1024))
    with pytest.raises(ConfigError):
        fingerprint_bits("CCO", FingerprintConfig(kind="maccs"), PERM)
    with pytest.raises(ValueError, match="parse"):
        fingerprint_bits("C1CC", CFG, PERM)


def test_bit_environments_cover_every_bit_with_valid_atoms() -> None:
    smiles = MOLECULES[0]
    environments = bit_environments(smiles, CFG, PERM)
    bits, _ = fingerprint_bits(smiles, CFG, PERM)
    assert set(environments) == set(bits.tolist())
    n_atoms = Chem.MolFromSmiles(smiles).GetNumAtoms()
    centres_at_radius_0 = set()
    for found in environments.values():
        for atom, radius in found:
            assert 0 <= atom < n_atoms and 0 <= radius <= CFG.radius
            if radius == 0:
                centres_at_radius_0.add(atom)
    assert centres_at_radius_0 == set(range(n_atoms))


def test_rows_stack_into_float32_csr_with_empty_rows_for_rejects() -> None:
    rows = [fingerprint_bits(s, CFG, PERM) for s in MOLECULES[:2]]
    matrix = rows_to_csr([rows[0], None, rows[1]], CFG.n_bits)
    assert matrix.shape == (3, CFG.n_bits) and matrix.dtype == np.float32
    assert matrix[1].nnz == 0
    assert np.array_equal(matrix[2].indices, rows[1][0])
    assert rows_to_csr([], CFG.n_bits).shape == (0, CFG.n_bits)
