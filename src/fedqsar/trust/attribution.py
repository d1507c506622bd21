"""Atom-level explanations from per-bit sensitivities of the model.

1. **Bit sensitivity by occlusion** (:func:`occlusion_sensitivity`): for a compound with
   bits ``b_1..b_m`` set, the prediction with every bit minus the prediction with bit ``b_i``
   removed. One batch of ``m + 1`` rows, no randomness, any model (it only needs a
   ``predict(X) -> (n, n_tasks)`` callable run in evaluation mode), so attributions are
   deterministic and model-agnostic.
2. **Bits to atoms** (:func:`atom_contributions`): a bit was set by one or more circular
   environments ``(centre atom, radius)`` (``fedqsar.prep.fingerprints.bit_environments``).
   A bit's score is split equally among its environments, and an environment's share
   equally among its atoms (the centre plus every atom within ``radius`` bonds). So the atom
   contributions sum to the sum of the bit scores.
3. **Faithfulness** (:func:`deletion_test`): removing the bits set by environments that
   contain the top-attributed atoms should change the prediction more than removing the
   same number of randomly chosen present bits; the ratio of mean absolute changes is
   reported (> 1 means the attribution points at what the model uses).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from rdkit import Chem

PredictFn = Callable[[sp.csr_matrix], np.ndarray]
BitEnvironments = Mapping[int, Sequence[tuple[int, int]]]


def occlusion_sensitivity(predict: PredictFn, x: sp.spmatrix) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Change of every task's prediction when each present bit is removed on its own.

    Parameters
    ----------
    predict
        Callable mapping a CSR (n, n_bits) to predictions (n, n_tasks), deterministic.
    x
        One fingerprint row, sparse (1, n_bits).

    Returns
    -------
    bits : np.ndarray
        int64 (m,), the present bits (sorted).
    scores : np.ndarray
        float64 (m, n_tasks): ``f(x) - f(x without bit)``; positive = the bit raises the output.
    base : np.ndarray
        float64 (n_tasks,), ``f(x)``.
    """
    row = sp.csr_matrix(x, dtype=np.float32)
    row.eliminate_zeros()
    row.sort_indices()
    bits, values = row.indices.astype(np.int64), row.data
    m = bits.size
    batch = _occluded_rows(bits, values, row.shape[1])
    outputs = np.asarray(predict(batch), dtype=np.float64)
    base = outputs[0]
    return bits, base[None, :] - outputs[1 : m + 1], base


def _occluded_rows(bits: np.ndarray, values: np.ndarray, n_bits: int) -> sp.csr_matrix:
    """CSR (m + 1, n_bits): the original row, then one row per removed bit."""
    m = bits.size
    keep = ~np.eye(m, dtype=bool)
    indices = np.concatenate([bits] + [bits[keep[i]] for i in range(m)])
    data = np.concatenate([values] + [values[keep[i]] for i in range(m)])
    indptr = np.concatenate([[0], m + np.arange(m + 1) * (m - 1)]) if m else np.zeros(2, dtype=np.int64)
    return sp.csr_matrix((data, indices, indptr), shape=(m + 1, n_bits))


def environment_atoms(mol: Chem.Mol, centre: int, radius: int) -> tuple[int, ...]:
    """Atoms of the circular environment of ``radius`` bonds around ``centre`` (sorted)."""
    atoms = {int(centre)}
    if radius > 0:
        for bond_index in Chem.FindAtomEnvironmentOfRadiusN(mol, int(radius), int(centre)):
            bond = mol.GetBondWithIdx(bond_index)
            atoms.update((bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()))
    return tuple(sorted(atoms))


def atom_contributions(
    mol: Chem.Mol, bits: np.ndarray, bit_scores: np.ndarray, environments: BitEnvironments
) -> np.ndarray:
    """Share every bit's score among the atoms of the environments that set it.

    Parameters
    ----------
    mol
        The (standardised) molecule whose atoms the environments index.
    bits
        int (m,) bits with a score.
    bit_scores
        float (m,) score of each bit for one task.
    environments
        Bit -> [(centre atom, radius)]; bits missing here (e.g. from another molecule) are skipped.

    Returns
    -------
    np.ndarray
        float64 (n_atoms,), summing to the total score of the bits found in ``environments``.
    """
    contributions = np.zeros(mol.GetNumAtoms(), dtype=np.float64)
    for bit, score in zip(np.asarray(bits).tolist(), np.asarray(bit_scores, dtype=np.float64).tolist(), strict=True):
        envs = environments.get(int(bit), ())
        for centre, radius in envs:
            atoms = environment_atoms(mol, centre, radius)
            contributions[list(atoms)] += score / len(envs) / len(atoms)
    return contributions


def bits_touching_atoms(environments: BitEnvironments, mol: Chem.Mol, atoms: Sequence[int]) -> np.ndarray:
    """Bits (sorted int64) set by at least one environment containing one of ``atoms``."""
    wanted = set(int(a) for a in atoms)
    hit = [
        bit
        for bit, envs in environments.items()
        if any(wanted.intersection(environment_atoms(mol, c, r)) for c, r in envs)
    ]
    return np.array(sorted(hit), dtype=np.int64)


@dataclass(frozen=True)
class DeletionResult:
    """Outcome of the deletion test on one compound and task.

    Attributes
    ----------
    n_bits_deleted
        Bits removed in both arms.
    top_change
        |Δ prediction| when removing the top atoms' bits.
    random_change
        Mean |Δ prediction| over the random draws of the same number of present bits.
    """

    n_bits_deleted: int
    top_change: float
    random_change: float


def deletion_test(
    predict: PredictFn,
    x: sp.spmatrix,
    task: int,
    mol: Chem.Mol,
    contributions: np.ndarray,
    environments: BitEnvironments,
    top_fraction: float = 0.1,
    n_random: int = 20,
    seed: int = 0,
) -> DeletionResult | None:
    """Compare removing the top-attributed atoms' bits with removing random present bits.

    Parameters
    ----------
    predict, x
        As in :func:`occlusion_sensitivity`.
    task
        Column of ``predict``'s output.
    contributions
        (n_atoms,) atom contributions for ``task``; atoms ranked by absolute value.
    top_fraction
        Share of heavy atoms taken as "top" (at least one).
    n_random, seed
        Random draws of the control arm (seeded: deterministic).

    Returns
    -------
    DeletionResult or None
        None when the top atoms' bits are all the compound's bits (no random control possible).
    """
    row = sp.csr_matrix(x, dtype=np.float32)
    row.eliminate_zeros()
    present = row.indices.astype(np.int64)
    n_top = max(1, int(round(top_fraction * mol.GetNumAtoms())))
    top_atoms = np.argsort(-np.abs(contributions), kind="stable")[:n_top]
    top_bits = np.intersect1d(bits_touching_atoms(environments, mol, top_atoms.tolist()), present)
    if top_bits.size == 0 or top_bits.size >= present.size:
        return None
    rng = np.random.default_rng(seed)
    arms = [top_bits] + [rng.choice(present, size=top_bits.size, replace=False) for _ in range(n_random)]
    batch = sp.vstack([row] + [_without(row, bits) for bits in arms]).tocsr()
    out = np.asarray(predict(batch), dtype=np.float64)[:, task]
    changes = np.abs(out[1:] - out[0])
    return DeletionResult(int(top_bits.size), float(changes[0]), float(changes[1:].mean()))


def _without(row: sp.csr_matrix, bits: np.ndarray) -> sp.csr_matrix:
    """Copy of one CSR row with ``bits`` removed."""
    keep = ~np.isin(row.indices, bits)
    return sp.csr_matrix((row.data[keep], row.indices[keep], [0, int(keep.sum())]), shape=row.shape)


def deletion_ratio(results: Sequence[DeletionResult | None]) -> float:
    """Mean top-arm change over mean random-arm change across compounds (NaN if none)."""
    kept = [r for r in results if r is not None]
    if not kept:
        return float("nan")
    random_mean = float(np.mean([r.random_change for r in kept]))
    return float(np.mean([r.top_change for r in kept])) / random_mean if random_mean > 0 else float("inf")
