"""Predictions fit to send outside the partner: no membership oracle in the domain columns.

``fedqsar predict`` writes, for the partner's own use, ``nearest_similarity`` (Tanimoto to
the single nearest training compound), ``domain_similarity`` (mean over the k nearest) and
``embedding_distance``. Sent to anyone else they tell which compounds the partner trained
on: a training compound's nearest neighbour is itself, so its ``nearest_similarity`` is
exactly 1.0 and no other compound's is (unless it has the same fingerprint).

``fedqsar predict --share`` writes the copy that may leave:

* ``nearest_similarity`` and ``domain_similarity`` are computed as if the query's own
  fingerprint were not in the training set (``shared_domain_columns``: training compounds
  with an identical fingerprint are skipped, for members and non-members alike), so a
  training compound reads like a new compound of the same series;
* both are then cut into bins of ``SIMILARITY_BIN`` and reported as the bin's lower edge,
  the top bin being ``SIMILARITY_TOP`` (0.9 means "0.9 or more"): never 1.0;
* ``embedding_distance`` (a continuous distance to the training set in the partner's own
  trunk space) is dropped;
* everything else (predictions, conformal sets and intervals, ``in_domain``) is kept.

What remains is measured, not assumed: ``fedqsar audit privacy`` reports the membership AUC
of the shared ``nearest_similarity`` next to the raw one (docs/privacy.md).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from fedqsar.trust.calibrate import TrustArtefacts
from fedqsar.trust.domain import tanimoto_knn

SIMILARITY_BIN = 0.1
SIMILARITY_TOP = 0.9
SIMILARITY_COLUMNS = ("nearest_similarity", "domain_similarity")
DROPPED_COLUMNS = ("embedding_distance",)
IDENTICAL = 1.0 - 1e-6
"""Tanimoto at or above this is an identical fingerprint (skipped in the shared columns)."""
IDENTICAL_SLACK = 4
"""Extra neighbours fetched so that k remain after skipping identical ones (duplicates, stereoisomers)."""


def binned_similarity(values: np.ndarray | pd.Series) -> np.ndarray:
    """Similarities floored to multiples of ``SIMILARITY_BIN``, capped at ``SIMILARITY_TOP``; NaN stays NaN."""
    x = np.asarray(values, dtype=np.float64)
    steps = np.floor(np.clip(x, 0.0, 1.0) / SIMILARITY_BIN + 1e-9)
    return np.round(np.minimum(steps * SIMILARITY_BIN, SIMILARITY_TOP), 1)


def shared_domain_columns(artefacts: TrustArtefacts, X: sp.csr_matrix) -> pd.DataFrame:
    """``nearest_similarity`` / ``domain_similarity`` of rows ``X`` skipping identical training fingerprints, binned.

    Parameters
    ----------
    artefacts
        The partner's trust artefacts (its training fingerprints are the reference).
    X
        CSR (n, n_bits) query fingerprints (empty rows: similarity 0).

    Returns
    -------
    pandas.DataFrame
        n rows, the two columns, values in ``{0.0, 0.1, ..., SIMILARITY_TOP}``.
    """
    k = artefacts.config.k
    sims, _ = tanimoto_knn(
        X, artefacts.reference, k=k + IDENTICAL_SLACK, max_block_bytes=artefacts.config.max_block_bytes
    )
    kept = np.where(sims >= IDENTICAL, np.nan, sims.astype(np.float64))
    order = np.argsort(np.isnan(kept), axis=1, kind="stable")  # the non-identical neighbours first, in rank order
    kept = np.take_along_axis(kept, order, axis=1)[:, :k]
    nearest = np.nan_to_num(kept[:, 0], nan=0.0) if kept.shape[1] else np.zeros(X.shape[0])
    with np.errstate(invalid="ignore"):
        mean = np.nan_to_num(np.nanmean(kept, axis=1), nan=0.0) if kept.shape[1] else np.zeros(X.shape[0])
    return pd.DataFrame(
        {"nearest_similarity": binned_similarity(nearest), "domain_similarity": binned_similarity(mean)}
    )


def shareable(table: pd.DataFrame, domain: pd.DataFrame | None = None) -> pd.DataFrame:
    """A copy of a ``fedqsar predict`` table fit to leave the partner (see module docstring).

    ``domain`` (``shared_domain_columns`` of the same rows) replaces the similarity columns;
    without it the table's own similarities are binned (identical fingerprints then read 0.9).
    """
    out = table.drop(columns=[c for c in DROPPED_COLUMNS if c in table.columns])
    for column in SIMILARITY_COLUMNS:
        if column not in out.columns:
            continue
        values = domain[column].to_numpy() if domain is not None else binned_similarity(out[column])
        out[column] = np.where(pd.isna(out[column]), np.nan, values)
    return out
