"""No test compound trains anyone: cross-partner duplicates of test compounds leave every training set.

Keyed scaffold folds put one structure into the same fold for every partner, but time folds
and user-given splits do not: a compound in one partner's test fold can sit in another
partner's training rows, and then federated and pooled models have seen it — their "uplift"
on it is memory, not generalisation. So the evaluation removes, from every partner's
training *and* validation rows, each compound whose keyed structure lies in *any* partner's
test fold (its own included: two structures with one keyed fingerprint are one compound to
the model).

Choice (``EvalConfig.test_overlap``): ``"exclude"`` (default) rather than scoring an "unseen
by anyone" subset. Excluding keeps every test compound of every partner scored, and all
model kinds train on exactly the same rows, so each comparison stays paired on the same
test set; the price is a slightly smaller training set for the partners that hold such
duplicates (counted in ``evaluation/folds.csv``). ``"keep"`` trains on them (only for
measuring how much the leak flatters a federation).

Identity is the keyed fingerprint row (bits and values of ``X``): the only structure
identity partners share, and exactly what a model sees.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from fedqsar.prepared import PreparedSet

OVERLAP_POLICIES = ("exclude", "keep")


def structure_keys(X: sp.csr_matrix) -> np.ndarray:
    """One digest per row of a keyed fingerprint matrix (equal rows, equal digests): object (n,) of bytes."""
    X = sp.csr_matrix(X)
    X.sort_indices()
    keys = np.empty(X.shape[0], dtype=object)
    for row in range(X.shape[0]):
        start, stop = X.indptr[row], X.indptr[row + 1]
        digest = hashlib.blake2b(digest_size=16)
        digest.update(X.indices[start:stop].astype(np.int64).tobytes())
        digest.update(X.data[start:stop].astype(np.float32).tobytes())
        keys[row] = digest.digest()
    return keys


@dataclass(frozen=True)
class PartnerOverlap:
    """What the test-overlap rule found for one partner.

    Attributes
    ----------
    excluded_rows
        int64 rows of the partner's training / validation folds removed (their structure is
        in some partner's test fold).
    n_excluded_train, n_excluded_validation
        How many of them were training / validation rows.
    n_test_seen_elsewhere
        The partner's test compounds whose structure another partner holds in its training or
        validation rows (what would have leaked without the rule).
    """

    excluded_rows: np.ndarray
    n_excluded_train: int
    n_excluded_validation: int
    n_test_seen_elsewhere: int


def find_overlap(
    prepared: Mapping[str, PreparedSet], test_fold: int, validation_fold: int
) -> dict[str, PartnerOverlap]:
    """Per partner: rows outside its test fold whose keyed structure is in any partner's test fold."""
    keys = {name: structure_keys(p.X) for name, p in prepared.items()}
    tests = {name: p.folds == test_fold for name, p in prepared.items()}
    in_any_test = set().union(*(set(keys[n][tests[n]]) for n in prepared))
    out = {}
    for name, p in prepared.items():
        outside = ~tests[name]
        hit = outside & np.fromiter((k in in_any_test for k in keys[name]), dtype=bool, count=len(keys[name]))
        others = set().union(*(set(keys[o][~tests[o]]) for o in prepared if o != name)) if len(prepared) > 1 else set()
        seen = sum(1 for k in keys[name][tests[name]] if k in others)
        out[name] = PartnerOverlap(
            excluded_rows=np.flatnonzero(hit).astype(np.int64),
            n_excluded_train=int((hit & (p.folds != validation_fold)).sum()),
            n_excluded_validation=int((hit & (p.folds == validation_fold)).sum()),
            n_test_seen_elsewhere=int(seen),
        )
    return out


def without_rows(prepared: PreparedSet, rows: np.ndarray, note: dict[str, object]) -> PreparedSet:
    """``prepared`` less ``rows``; its manifest records why (``evaluation_copy``)."""
    keep = np.setdiff1d(np.arange(prepared.n_compounds), np.asarray(rows, dtype=np.int64))
    subset = prepared.subset(keep)
    subset.manifest = prepared.manifest.with_extra(evaluation_copy=note)
    return subset


def folds_table(
    prepared: Mapping[str, PreparedSet],
    overlap: Mapping[str, PartnerOverlap],
    sources: Mapping[str, str],
    policy: str,
    test_fold: int,
    validation_fold: int,
) -> pd.DataFrame:
    """``evaluation/folds.csv``: per partner its fold scheme, fold sizes and what the overlap rule did.

    ``prepared`` are the sets before exclusion.
    """
    rows = []
    for name, p in sorted(prepared.items()):
        found = overlap.get(name)
        rows.append(
            {
                "partner": name,
                "scheme": scheme_of(p),
                "source": sources.get(name, "prepare"),
                "test_fold": test_fold,
                "n_test": int((p.folds == test_fold).sum()),
                "n_validation": int((p.folds == validation_fold).sum()),
                "n_train": int((~np.isin(p.folds, [test_fold, validation_fold])).sum()),
                "test_overlap": policy,
                "n_test_seen_elsewhere": found.n_test_seen_elsewhere if found else 0,
                "n_excluded_train": found.n_excluded_train if found and policy == "exclude" else 0,
                "n_excluded_validation": found.n_excluded_validation if found and policy == "exclude" else 0,
            }
        )
    return pd.DataFrame(rows)


def scheme_of(prepared: PreparedSet) -> str:
    """The fold scheme a PreparedSet's folds come from (manifest ``fold_scheme``; older sets: scaffold)."""
    override = prepared.manifest.evaluation_folds
    if override.get("scheme"):
        return str(override["scheme"])
    return prepared.manifest.fold_scheme
