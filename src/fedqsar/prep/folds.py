"""Folds: keyed generic-scaffold folds, and time folds from dates or integer ordinals.

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
from fedqsar.prep.reasons import MISSING_DATE, NOT_A_DATE, NOT_AN_ORDINAL

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


YEARS = (1900, 2100)
_INTEGER = r"[+-]?\d+(\.0+)?"


def parse_time_values(series: pd.Series, kind: str | None = None) -> tuple[np.ndarray, list[str | None], str]:
    """Read a time column as dates or as integer ordinals, with a reason for every value that is neither.

    Parameters
    ----------
    series
        (n,) raw cells (text or numbers; missing as None/NaN).
    kind
        ``"date"``: ISO dates, dates, or bare years 1900-2100 (Jan 1 of that year); any other
        integer is ``not_a_date`` — never silently a year or missing. ``"ordinal"``: integers
        only (else ``not_an_ordinal``). ``"auto"`` / None: ``"ordinal"`` when every present
        value is an integer (a column of years then orders the same way), else ``"date"``.

    Returns
    -------
    tuple
        ``values`` float64 (n,) sortable (ordinal, or nanoseconds since 1970), NaN where
        unusable; ``reasons`` (n,) None or ``missing_date`` / ``not_a_date`` / ``not_an_ordinal``;
        the kind used.
    """
    text = pd.Series(series, dtype=object).map(lambda v: None if v is None or v is pd.NA else str(v).strip())
    text = text.map(lambda v: None if v in (None, "", "nan", "NaN", "NaT", "None") else v)
    present = text.notna().to_numpy()
    is_int = text.str.fullmatch(_INTEGER).fillna(False).to_numpy(dtype=bool)
    if kind in (None, "auto"):
        kind = "ordinal" if present.any() and bool(is_int[present].all()) else "date"
    values = np.full(len(text), np.nan)
    reasons: list[str | None] = [MISSING_DATE if not p else None for p in present]
    if kind == "ordinal":
        values[is_int] = pd.to_numeric(text[is_int]).to_numpy(dtype=float)
        bad = present & ~is_int
        reasons = [NOT_AN_ORDINAL if b else r for b, r in zip(bad, reasons, strict=True)]
        return values, reasons, kind
    numbers = pd.to_numeric(text.where(is_int), errors="coerce").to_numpy(dtype=float)
    is_year = is_int & (numbers >= YEARS[0]) & (numbers <= YEARS[1])
    as_dates = text.where(~is_int)
    as_dates[is_year] = [f"{int(y):04d}-01-01" for y in numbers[is_year]]
    parsed = pd.to_datetime(as_dates, errors="coerce", format="mixed", utc=True).dt.tz_localize(None)
    parsed = parsed.astype("datetime64[ns]")
    ok = parsed.notna().to_numpy()
    values[ok] = parsed[ok].astype("int64").to_numpy(dtype=float)
    reasons = [NOT_A_DATE if p and not o else r for p, o, r in zip(present, ok, reasons, strict=True)]
    return values, reasons, kind


def time_folds(
    dates: pd.Series | np.ndarray, n_folds: int, test_share: float | None = None, valid_share: float | None = None
) -> np.ndarray:
    """Folds by time: oldest compounds -> fold 0 ... newest -> fold ``n_folds - 1`` (the test fold).

    Without shares, folds are time quantiles (each ``1 / n_folds`` of the compounds). With
    ``test_share``, the newest ``test_share`` of compounds is fold ``n_folds - 1``, the next
    ``valid_share`` (default ``test_share``) fold ``n_folds - 2`` and the rest are quantiles of
    folds ``0 .. n_folds - 3``. Equal times always share a fold (the older one: a compound's
    position is that of the first of its ties), and the fold never decreases with time; see
    :func:`time_split_report` for when ties keep a requested share from being honoured.

    Parameters
    ----------
    dates
        (n,) datetime64 Series or float values (``parse_time_values``); NaT / NaN rows get fold -1.

    Returns
    -------
    np.ndarray
        int64 (n,).
    """
    if n_folds < 1:
        raise ValueError(f"n_folds must be >= 1, got {n_folds}")
    values = _as_float(dates)
    folds = np.full(len(values), -1, dtype=np.int64)
    valid = np.isfinite(values)
    n_valid = int(valid.sum())
    if not n_valid:
        return folds
    first_rank = pd.Series(values[valid]).rank(method="min").to_numpy(dtype=np.int64) - 1  # 0-based
    if test_share is None:
        folds[valid] = first_rank * n_folds // n_valid
        return folds
    share_valid = test_share if valid_share is None else valid_share
    position = first_rank / n_valid
    train_end, valid_end = 1.0 - test_share - share_valid, 1.0 - test_share
    n_train = n_folds - 2
    assigned = np.minimum((position / train_end * n_train).astype(np.int64), n_train - 1)
    assigned[position >= train_end - 1e-12] = n_folds - 2
    assigned[position >= valid_end - 1e-12] = n_folds - 1
    folds[valid] = assigned
    return folds


def _as_float(dates: pd.Series | np.ndarray) -> np.ndarray:
    series = pd.Series(dates).reset_index(drop=True)
    if pd.api.types.is_numeric_dtype(series):
        return series.to_numpy(dtype=float)
    parsed = pd.to_datetime(series, errors="coerce").astype("datetime64[ns]")
    out = np.full(len(parsed), np.nan)
    ok = parsed.notna().to_numpy()
    out[ok] = parsed[ok].astype("int64").to_numpy(dtype=float)
    return out


def time_split_report(
    folds: np.ndarray, n_folds: int, test_share: float | None = None, valid_share: float | None = None
) -> dict[str, object]:
    """Requested vs realised share of the test and validation folds, and warnings where they differ.

    A time split cannot be honoured when many compounds share a time (ties share a fold), when
    there are fewer distinct times than folds, or when a test share above ``1 / n_folds`` is
    wanted from quantile folds (give ``test_share`` instead of a fold count). A realised share
    off by more than half of the requested one, or an empty fold, is a warning.
    """
    valid = folds[folds >= 0]
    n = max(len(valid), 1)
    wanted_test = test_share if test_share is not None else 1.0 / n_folds
    wanted_valid = (valid_share or test_share) if test_share is not None else 1.0 / n_folds
    realised = {f: float((valid == f).sum()) / n for f in range(n_folds)}
    warnings = []
    for fold, wanted, what in ((n_folds - 1, wanted_test, "test"), (n_folds - 2, wanted_valid, "validation")):
        got = realised.get(fold, 0.0)
        if got == 0.0:
            warnings.append(
                f"the {what} fold (fold {fold}) is empty: too few distinct times, or the newest compounds share "
                "one time with older ones; give folds.test_share or more precise dates"
            )
        elif abs(got - wanted) > 0.5 * wanted:
            warnings.append(
                f"the {what} fold (fold {fold}) holds {got:.1%} of the compounds instead of {wanted:.1%}: "
                "compounds with equal times share a fold"
            )
    empty_train = [f for f in range(max(n_folds - 2, 0)) if realised.get(f, 0.0) == 0.0]
    if empty_train:
        warnings.append(f"training folds {empty_train} are empty (fewer distinct times than folds)")
    return {
        "requested_test_share": wanted_test,
        "requested_validation_share": wanted_valid,
        "fold_shares": {str(k): round(v, 4) for k, v in realised.items()},
        "warnings": warnings,
    }
