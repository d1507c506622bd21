"""Extra columns that make a prediction trustworthy: uncertainty and applicability domain.

Columns of :func:`annotate_predictions` (one row per predicted compound):

* ``domain_similarity`` — mean Tanimoto similarity to the ``k`` nearest training compounds;
* ``nearest_similarity`` — Tanimoto similarity to the single nearest training compound;
* ``embedding_distance`` — k-NN distance in the trunk embedding / calibration median
  (only when an embedding function is given);
* ``in_domain`` — bool, see :mod:`fedqsar.trust.domain` for the thresholds;
* per classification task ``T``: ``T:set`` (conformal prediction set at the confidence:
  ``"0"``, ``"1"``, ``"0,1"`` — uncertain — or ``""`` — empty, an unusual compound),
  ``T:p_calibrated`` (Venn-ABERS probability of class 1), ``T:p_low`` / ``T:p_high``
  (its Venn-ABERS multiprobability interval);
* per regression task ``T``: ``T:low`` / ``T:high`` (normalised conformal interval).

Column names join the task name and the field with ``:`` so they cannot collide with task
names ending in ``_low`` etc. Tasks without calibration observations get NaN (or an empty string for sets).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from fedqsar.trust.calibrate import EmbedFn, TrustArtefacts, domain_scores

SET_LABELS = {(False, False): "", (True, False): "0", (False, True): "1", (True, True): "0,1"}


def annotate_predictions(
    artefacts: TrustArtefacts,
    predictions: np.ndarray,
    X: sp.csr_matrix,
    embed: EmbedFn | None = None,
    confidence: float | None = None,
    embed_input: object | None = None,
) -> pd.DataFrame:
    """Trust columns for predictions of fingerprint rows ``X``.

    Parameters
    ----------
    artefacts
        The partner's fitted trust artefacts (:func:`fedqsar.trust.store.load_trust`).
    predictions
        (n, n_tasks) model outputs, columns in the tasks table's order.
    X
        CSR (n, n_bits), the fingerprints the predictions were made from (rejected
        structures: empty rows; their scores are 0 similarity and out of domain).
    embed
        Trunk embedding function, or None to skip the embedding distance.
    embed_input
        What ``embed`` reads for these rows when it is not ``X`` (``ModelInputs`` of a
        descriptor or graph trunk; see ``trust.calibrate.model_rows``).
    confidence
        Confidence of sets and intervals; default ``artefacts.config.confidence``.

    Returns
    -------
    pandas.DataFrame
        n rows, columns as described in the module docstring.
    """
    confidence = artefacts.config.confidence if confidence is None else float(confidence)
    predictions = np.asarray(predictions, dtype=np.float64)
    scores = domain_scores(artefacts, X, embed, embed_input)
    columns: dict[str, np.ndarray] = {
        "domain_similarity": scores.similarity,
        "nearest_similarity": scores.nearest_similarity,
    }
    if scores.embedding_distance is not None:
        columns["embedding_distance"] = scores.embedding_distance
    columns["in_domain"] = scores.in_domain
    for task, (name, kind) in enumerate(zip(artefacts.tasks["task_name"], artefacts.tasks["kind"], strict=True)):
        columns.update(
            _task_columns(artefacts, task, str(name), str(kind), predictions[:, task], X, scores.similarity, confidence)
        )
    return pd.DataFrame(columns)


def _task_columns(
    artefacts: TrustArtefacts,
    task: int,
    name: str,
    kind: str,
    prediction: np.ndarray,
    X: sp.csr_matrix,
    similarity: np.ndarray,
    confidence: float,
) -> dict[str, np.ndarray]:
    """One task's columns; rows without a finite prediction (rejected structures) get NaN / ""."""
    fields = ("set", "p_calibrated", "p_low", "p_high") if kind == "classification" else ("low", "high")
    columns = {
        f: (np.full(prediction.size, "", dtype=object) if f == "set" else np.full(prediction.size, np.nan))
        for f in fields
    }
    ok = np.flatnonzero(np.isfinite(prediction))
    p = prediction[ok]
    classifier = artefacts.classifiers.get(task) if kind == "classification" else None
    regressor = artefacts.regressors.get(task) if kind != "classification" else None
    if classifier is not None and ok.size:
        sets = classifier.prediction_sets(p, confidence)
        columns["set"][ok] = [SET_LABELS[(bool(a), bool(b))] for a, b in sets]
        columns["p_calibrated"][ok], columns["p_low"][ok], columns["p_high"][ok] = classifier.calibrated_probability(p)
    if regressor is not None and ok.size:
        intervals = regressor.intervals(p, artefacts.sigma(task, X[ok], similarity[ok]), confidence)
        columns["low"][ok], columns["high"][ok] = intervals[:, 0], intervals[:, 1]
    return {f"{name}:{field}": values for field, values in columns.items()}
