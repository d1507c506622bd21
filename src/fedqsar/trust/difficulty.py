"""Difficulty estimates σ that normalise conformal regression intervals (a registry).

An interval is ``ŷ ± q·σ`` with ``q`` the calibration quantile of ``|y - ŷ| / σ``, so a good σ
is large where errors are large. Both estimates use only the partner's own training rows:

* ``"distance"``: ``σ = β + (1 - s)``, ``s`` the mean Tanimoto similarity to the k nearest
  training compounds (task-independent; errors grow away from the training set).
* ``"knn_spread"`` (default): ``σ = β + sd(y of the k nearest training compounds measured in
  this task) + (1 - their mean similarity)``: compounds whose close neighbours disagree
  (activity cliffs, noisy series) or that have no close neighbours get wider intervals. This
  is crepes' k-NN target-spread difficulty, plus the distance term, on Tanimoto neighbours.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from fedqsar.trust.domain import tanimoto_knn


@dataclass(frozen=True)
class DifficultyInputs:
    """What a difficulty estimate may read for one task.

    Attributes
    ----------
    X
        CSR (n, n_bits) query fingerprints.
    similarity
        (n,) mean k-NN Tanimoto similarity to all training compounds.
    reference_X
        CSR (n_ref_task, n_bits) training compounds with an exact value for the task.
    reference_y
        (n_ref_task,) those values.
    k, beta, max_block_bytes
        Neighbours, floor, memory bound of the k-NN search.
    """

    X: sp.csr_matrix
    similarity: np.ndarray
    reference_X: sp.csr_matrix
    reference_y: np.ndarray
    k: int
    beta: float
    max_block_bytes: int


def distance(inputs: DifficultyInputs) -> np.ndarray:
    """(n,) ``β + 1 - similarity``."""
    return inputs.beta + (1.0 - np.clip(np.asarray(inputs.similarity, dtype=np.float64), 0.0, 1.0))


def knn_spread(inputs: DifficultyInputs) -> np.ndarray:
    """(n,) ``β + sd(neighbour values) + 1 - mean neighbour similarity`` (distance alone without neighbours)."""
    if inputs.reference_y.size < 2:
        return distance(inputs)
    sims, idx = tanimoto_knn(inputs.X, inputs.reference_X, k=inputs.k, max_block_bytes=inputs.max_block_bytes)
    spread = inputs.reference_y[idx].std(axis=1)
    return inputs.beta + spread + (1.0 - sims.mean(axis=1).astype(np.float64))


DIFFICULTIES: dict[str, Callable[[DifficultyInputs], np.ndarray]] = {
    "distance": distance,
    "knn_spread": knn_spread,
}
