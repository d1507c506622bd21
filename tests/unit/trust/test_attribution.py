"""Occlusion attributions: exact for a linear model, deterministic, conserved, faithful."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from fedqsar.trust.attribution import (
    atom_contributions,
    bits_touching_atoms,
    deletion_ratio,
    deletion_test,
    environment_atoms,
    occlusion_sensitivity,
)

from ._chem import N_BITS, fingerprint_with_environments


def _linear(weights: np.ndarray):
    def predict(X: sp.csr_matrix) -> np.ndarray:
        return np.asarray(X @ weights).reshape(X.shape[0], -1)

    return predict


def test_occlusion_of_a_linear_model_recovers_its_weights() -> None:
    _, row, _ = fingerprint_with_environments("CC(=O)Nc1ccc(O)cc1")
    weights = np.random.default_rng(0).normal(size=(N_BITS, 2))
    bits, scores, base = occlusion_sensitivity(_linear(weights), row)
    np.testing.assert_array_equal(bits, np.sort(row.indices))
    np.testing.assert_allclose(scores, weights[bits], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(base, weights[bits].sum(axis=0), rtol=1e-5)


def test_atom_contributions_conserve_the_bit_scores_and_are_deterministic() -> None:
    mol, row, envs = fingerprint_with_environments("CC(=O)Nc1ccc(O)cc1")
    weights = np.random.default_rng(1).normal(size=(N_BITS, 1))
    bits, scores, _ = occlusion_sensitivity(_linear(weights), row)
    first = atom_contributions(mol, bits, scores[:, 0], envs)
    bits_again, scores_again, _ = occlusion_sensitivity(_linear(weights), row)
    second = atom_contributions(mol, bits_again, scores_again[:, 0], envs)
    assert first.shape == (mol.GetNumAtoms(),)
    np.testing.assert_allclose(first.sum(), scores[:, 0].sum(), rtol=1e-9)
    np.testing.assert_array_equal(first, second)


def test_environment_atoms_grow_with_radius() -> None:
    mol, _, _ = fingerprint_with_environments("CCCCCC")
    assert environment_atoms(mol, 2, 0) == (2,)
    assert environment_atoms(mol, 2, 1) == (1, 2, 3)
    assert environment_atoms(mol, 2, 2) == (0, 1, 2, 3, 4)


def test_model_that_reads_only_the_nitrogen_points_at_it() -> None:
    mol, row, envs = fingerprint_with_environments("CCCCc1ccccc1CCNCCCC")
    nitrogen = next(a.GetIdx() for a in mol.GetAtoms() if a.GetSymbol() == "N")
    weights = np.zeros((N_BITS, 1))
    n_bits = bits_touching_atoms({b: [(c, r) for c, r in e if c == nitrogen] for b, e in envs.items()}, mol, [nitrogen])
    weights[n_bits, 0] = 1.0  # only bits centred on the N count
    bits, scores, _ = occlusion_sensitivity(_linear(weights), row)
    contributions = atom_contributions(mol, bits, scores[:, 0], envs)
    assert int(np.argmax(contributions)) == nitrogen
    result = deletion_test(_linear(weights), row, 0, mol, contributions, envs, top_fraction=0.05, n_random=50, seed=3)
    assert result is not None
    assert result.top_change > result.random_change
    assert deletion_ratio([result, None]) > 2.0


def test_deletion_test_is_seeded() -> None:
    mol, row, envs = fingerprint_with_environments("CC(=O)Nc1ccc(O)cc1")
    weights = np.random.default_rng(2).normal(size=(N_BITS, 1))
    bits, scores, _ = occlusion_sensitivity(_linear(weights), row)
    contributions = atom_contributions(mol, bits, scores[:, 0], envs)
    first = deletion_test(_linear(weights), row, 0, mol, contributions, envs, seed=7)
    assert first == deletion_test(_linear(weights), row, 0, mol, contributions, envs, seed=7)
