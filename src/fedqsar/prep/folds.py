"""Folds: keyed generic-scaffold folds, and time folds where dates exist.

Scaffold folds put every molecule of one generic Murcko scaffold into the same fold, chosen
by an HMAC of the scaffold under the consortium key. Every partner holding the key puts the
same scaffold into the same fold, so a test scaffold is never in anyone's training data, and
the fold number reveals nothing about the scaffold to anyone without the key.

Acyclic molecules have no scaffold. Rule: their "scaffold" is ``"acyclic:"`` followed by
their own canonical SMILES, so acyclic molecules are spread over the folds like any other
singleton scaffold instead of all landing in one fold.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from rdkit import Chem, rdBase

from fedqsar.prep.keys import ConsortiumKey

ACYCLIC_PREFIX = "acyclic:"
_CARBON = Chem.Atom(6)


def generic_scaffold(mol_or_smiles: Chem.Mol | str) -> str:
    """Generic Murcko scaffold (all atoms carbon, all bonds single) as canonical SMILES.

    The ring systems and the linkers between them: every atom that is not on a ring or on a
    path between rings is removed (atoms double-bonded to a ring go too), then all atoms
    become carbon and all bonds single. Returns ``"acyclic:<canonical SMILES>"`` for
    molecules without rings.

    Raises
    ------
    ValueError
        If a SMILES cannot be parsed.
    """
    with rdBase.BlockLogs():
        mol = mol_or_smiles if isinstance(mol_or_smiles, Chem.Mol) else Chem.MolFromSmiles(str(mol_or_smiles))
        if mol is None:
            raise ValueError(f"cannot parse SMILES {mol_or_smiles!r}; standardise structures first")
        if mol.GetRingInfo().NumRings() == 0:
            return ACYCLIC_PREFIX + Chem.MolToSmiles(mol)
        adjacency = Chem.GetAdjacencyMatrix(mol)
        return Chem.MolToSmiles(_carbon_graph(adjacency, _ring_and_linker_atoms(adjacency)))


def _ring_and_linker_atoms(adjacency: np.ndarray) -> np.ndarray:
    """bool (n,): atoms left after repeatedly pruning atoms with at most one kept neighbour."""
    keep = np.ones(len(adjacency), dtype=bool)
    degree = adjacency.sum(axis=1)
    leaves = keep & (degree <= 1)
    while leaves.any():
        keep &= ~leaves
        degree = degree - adjacency[:, leaves].sum(axis=1)
        leaves = keep & (degree <= 1)
    return keep


def _carbon_graph(adjacency: np.ndarray, keep: np.ndarray) -> Chem.Mol:
    """All-carbon, single-bonded molecule of the kept atoms (ready for canonical SMILES)."""
    kept = np.flatnonzero(keep)
    graph = Chem.RWMol()
    for _ in range(len(kept)):
        graph.AddAtom(_CARBON)
    begins, ends = np.nonzero(np.triu(adjacency[np.ix_(kept, kept)]))
    for begin, end in zip(begins.tolist(), ends.tolist(), strict=True):
        graph.AddBond(begin, end, Chem.BondType.SINGLE)
    graph.UpdatePropertyCache(strict=False)
    Chem.FastFindRings(graph)
    return graph


def scaffold_fold(scaffold: str, key: ConsortiumKey, n_folds: int) -> int:
    """Fold in ``[0, n_folds)`` of a scaffold, from the consortium key's HMAC."""
    return key.fold_of(scaffold, n_folds)


def parse_dates(series: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Parse a column of dates (ISO strings, dates, or bare years such as 2015).

    Returns
    -------
    tuple
        ``parsed`` datetime64 Series (same index, NaT where unusable) and ``bad_mask`` bool
        (n,), True where a date is missing or cannot be parsed; the caller decides what to do
        with those rows.
    """
    as_text = series.astype("string").str.strip()
    is_year = as_text.str.fullmatch(r"\d{4}(\.0+)?").fillna(False).to_numpy(dtype=bool)
    as_text = as_text.where(~is_year, as_text.str.slice(0, 4) + "-01-01")
    parsed = pd.to_datetime(as_text, errors="coerce", format="mixed", utc=True).dt.tz_localize(None)
    return parsed, parsed.isna().to_numpy(dtype=bool)


def time_folds(dates: pd.Series, n_folds: int) -> np.ndarray:
    """Folds by date quantiles: oldest compounds -> fold 0 ... newest -> fold ``n_folds - 1``.

    Equal dates always share a fold; the fold never decreases with the date.

    Parameters
    ----------
    dates
        datetime64 Series (n,), e.g. ``parse_dates(...)[0]``; NaT rows get fold -1.

    Returns
    -------
    np.ndarray
        int64 (n,).
    """
    if n_folds < 1:
        raise ValueError(f"n_folds must be >= 1, got {n_folds}")
    dates = pd.to_datetime(pd.Series(dates).reset_index(drop=True), errors="coerce")
    folds = np.full(len(dates), -1, dtype=np.int64)
    valid = dates.notna().to_numpy()
    n_valid = int(valid.sum())
    if n_valid:
        first_rank = dates[valid].rank(method="min").to_numpy(dtype=np.int64) - 1  # 0-based
        folds[valid] = first_rank * n_folds // n_valid
    return folds
