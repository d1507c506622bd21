"""Membership inference: can a model's outputs tell its training compounds from others?

The attack is the loss threshold (Yeom et al. 2018): a compound the model trained on tends
to have a lower loss. Its AUC separates the partner's training rows (members) from
non-members of two kinds:

* ``test_fold``: the keyed-scaffold test fold - other scaffolds, so part of the AUC is the
  model generalising worse to new chemistry (split shift), not memorisation;
* ``holdout``: training-fold rows no model trained on (``TrainConfig.membership_holdout``),
  drawn at random from the same scaffold distribution as the members - what remains is
  memorisation.

The loss of a compound is the mean over its observed labels of binary cross-entropy
(classification) or squared error in units of the task's training standard deviation
(regression; a censored label only counts on its wrong side). AUC 0.5: the outputs say
nothing about membership; 1.0: they reveal it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.metrics import roc_auc_score

from fedqsar.model.config import TrainConfig
from fedqsar.model.inputs import ModelInputs
from fedqsar.model.training import membership_holdout_rows, training_rows
from fedqsar.prepared import PreparedSet

Predictor = Callable[[ModelInputs], np.ndarray]  # inputs of n rows -> (n, n_tasks) task-scale predictions
MEMBERSHIP_COLUMNS = ("partner", "model_kind", "score", "reference", "auc", "n_members", "n_nonmembers")
PROBABILITY_FLOOR = 1e-6


def membership_sets(
    prepared: PreparedSet, cfg: TrainConfig, max_rows: int = 4000, seed: int = 0
) -> dict[str, np.ndarray]:
    """Rows of the members and of each non-member reference (each at most ``max_rows``, seeded sample).

    Returns
    -------
    dict
        ``"members"`` (training rows), ``"test_fold"`` (empty without a test fold) and
        ``"holdout"`` (empty when the run held none out).
    """
    rng = np.random.default_rng([seed, 0x4D49])
    test = prepared.rows_in([cfg.test_fold]) if cfg.test_fold is not None else np.zeros(0, np.int64)
    sets = {
        "members": training_rows(prepared.folds, cfg),
        "test_fold": np.asarray(test, dtype=np.int64),
        "holdout": membership_holdout_rows(prepared.folds, cfg),
    }
    return {
        name: np.sort(rng.choice(rows, max_rows, replace=False)) if len(rows) > max_rows else rows
        for name, rows in sets.items()
    }


def task_scales(prepared: PreparedSet, cfg: TrainConfig) -> np.ndarray:
    """float64 (n_tasks,): standard deviation of each regression task's exact training values (1 elsewhere)."""
    rows = training_rows(prepared.folds, cfg)
    Y = prepared.Y[rows].tocsc()
    censor = prepared.censor[rows].tocsc()
    kinds = prepared.task_kinds
    scales = np.ones(len(kinds))
    for task in np.flatnonzero(kinds == "regression"):
        start, stop = Y.indptr[task], Y.indptr[task + 1]
        values = Y.data[start:stop][censor.data[start:stop] == 0]
        if len(values) >= 2 and float(np.std(values)) > 1e-8:
            scales[task] = float(np.std(values))
    return scales


def compound_losses(prediction: np.ndarray, prepared: PreparedSet, rows: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """float64 (len(rows),): each compound's mean loss over its observed labels (NaN if none)."""
    kinds = prepared.task_kinds
    Y, censor = prepared.Y[rows].tocoo(), prepared.censor[rows].tocoo()
    p = np.asarray(prediction, dtype=np.float64)[Y.row, Y.col]
    y = Y.data.astype(np.float64)
    is_regression = kinds[Y.col] == "regression"
    clipped = np.clip(p, PROBABILITY_FLOOR, 1 - PROBABILITY_FLOOR)
    bce = -(y * np.log(clipped) + (1 - y) * np.log(1 - clipped))
    error = (p - y) / scales[Y.col]
    error = np.where(censor.data < 0, np.maximum(error, 0.0), error)
    error = np.where(censor.data > 0, np.minimum(error, 0.0), error)
    entry = np.where(is_regression, error * error, bce)
    totals = np.bincount(Y.row, weights=entry, minlength=len(rows))
    counts = np.bincount(Y.row, minlength=len(rows))
    return np.divide(totals, counts, out=np.full(len(rows), np.nan), where=counts > 0)


def membership_auc(member_scores: np.ndarray, nonmember_scores: np.ndarray) -> float:
    """AUC of ``score`` ranking members above non-members (NaN scores dropped; NaN if a side is empty)."""
    a, b = np.asarray(member_scores, np.float64), np.asarray(nonmember_scores, np.float64)
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if len(a) == 0 or len(b) == 0:
        return float("nan")
    return float(roc_auc_score(np.r_[np.ones(len(a)), np.zeros(len(b))], np.r_[a, b]))


def loss_attack(
    predictors: Mapping[str, Predictor], prepared: PreparedSet, cfg: TrainConfig, partner: str
) -> pd.DataFrame:
    """Loss-threshold AUC of every model kind against every non-member reference (``MEMBERSHIP_COLUMNS``)."""
    sets = membership_sets(prepared, cfg)
    scales = task_scales(prepared, cfg)
    inputs = ModelInputs.of(prepared)  # fingerprints, descriptors and structures: what the trunk reads
    rows = []
    for kind, predict in predictors.items():
        scores = {
            name: -compound_losses(predict(inputs.rows(idx)), prepared, idx, scales)
            for name, idx in sets.items()
            if len(idx)
        }
        for reference in ("test_fold", "holdout"):
            if reference in scores and "members" in scores:
                auc = membership_auc(scores["members"], scores[reference])
                rows.append((partner, kind, "loss", reference, auc, len(sets["members"]), len(sets[reference])))
    return pd.DataFrame(rows, columns=list(MEMBERSHIP_COLUMNS))


def score_attack(
    score_of: Mapping[str, Callable[[sp.csr_matrix], np.ndarray]],
    prepared: PreparedSet,
    cfg: TrainConfig,
    partner: str,
    model_kind: str,
) -> pd.DataFrame:
    """AUC of output columns read as membership scores (e.g. ``nearest_similarity``): name -> X -> (n,) scores."""
    sets = membership_sets(prepared, cfg)
    rows = []
    for name, score in score_of.items():
        members = score(prepared.X[sets["members"]])
        for reference in ("test_fold", "holdout"):
            if len(sets[reference]):
                auc = membership_auc(members, score(prepared.X[sets[reference]]))
                rows.append((partner, model_kind, name, reference, auc, len(sets["members"]), len(sets[reference])))
    return pd.DataFrame(rows, columns=list(MEMBERSHIP_COLUMNS))
