"""Fit a partner's trust artefacts: conformal calibrators per task and the domain reference.

Everything here runs on the partner's machine and stays there: calibration rows are the
partner's *validation* fold (never its test fold), the applicability-domain reference is its
*training* rows. Nothing is shared with the consortium.

Caveat, measured in BENCHMARKS.md: ``fit`` also picks its best epoch on the validation fold,
so the calibration rows are not perfectly exchangeable with new compounds (one selected
hyper-parameter, a small optimism), and keyed scaffold folds put different chemistry in the
validation and the test fold; coverage on the test fold is therefore measured, not assumed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

from fedqsar.errors import ConfigError
from fedqsar.prepared import PreparedSet
from fedqsar.trust.conformal import ClassificationCalibrator, RegressionCalibrator
from fedqsar.trust.difficulty import DIFFICULTIES, DifficultyInputs
from fedqsar.trust.domain import DomainThresholds, binarise, choose_thresholds, embedding_knn_distance, tanimoto_knn

PredictFn = Callable[[sp.csr_matrix], np.ndarray]
EmbedFn = Callable[[sp.csr_matrix], np.ndarray]


@dataclass(frozen=True)
class TrustConfig:
    """Settings of the trust artefacts (written next to them).

    Attributes
    ----------
    k
        Nearest training compounds averaged in the domain scores.
    domain_quantile
        Share of calibration compounds allowed outside each domain threshold.
    difficulty
        Difficulty estimate normalising regression intervals (``fedqsar.trust.difficulty``).
    difficulty_k
        Neighbours of the ``knn_spread`` difficulty.
    difficulty_beta
        Floor of the regression difficulty σ.
    confidence
        Default confidence of prediction sets and intervals in ``predict`` output.
    max_block_bytes
        Memory bound of one dense similarity block in the k-NN search.
    """

    k: int = 5
    domain_quantile: float = 0.05
    difficulty: str = "knn_spread"
    difficulty_k: int = 10
    difficulty_beta: float = 0.05
    confidence: float = 0.9
    max_block_bytes: int = 32 * 1024 * 1024

    def __post_init__(self) -> None:
        if self.difficulty not in DIFFICULTIES:
            raise ConfigError(f"unknown difficulty {self.difficulty!r}", f"use one of {sorted(DIFFICULTIES)}")
        if not 0.0 < self.confidence < 1.0 or not 0.0 <= self.domain_quantile < 0.5:
            raise ConfigError(
                f"confidence {self.confidence} / domain_quantile {self.domain_quantile} out of range",
                "confidence in (0, 1), domain_quantile in [0, 0.5)",
            )


@dataclass
class TrustArtefacts:
    """What a partner needs to annotate predictions with uncertainty and domain.

    Attributes
    ----------
    config
        The settings used.
    tasks
        Task table (``task_name``, ``kind``), one row per model output column.
    classifiers, regressors
        Task column -> calibrator (tasks with no calibration rows are absent).
    reference
        Binarised CSR (n_train, n_bits): the training fingerprints (domain reference).
    thresholds
        In-domain thresholds.
    reference_values
        CSR (n_train, n_tasks): exact regression values of the training rows (for the
        ``knn_spread`` difficulty); an entry is a value iff stored.
    """

    config: TrustConfig
    tasks: pd.DataFrame
    classifiers: dict[int, ClassificationCalibrator]
    regressors: dict[int, RegressionCalibrator]
    reference: sp.csr_matrix
    thresholds: DomainThresholds
    reference_values: sp.csr_matrix
    _reference_embedding: np.ndarray | None = field(default=None, repr=False)
    # saved with the artefacts when the embedding cannot be recomputed from ``reference`` alone
    keep_reference_embedding: bool = False

    def reference_embedding(self, embed: EmbedFn | None) -> np.ndarray | None:
        """Trunk embeddings of the reference rows (computed once, then cached)."""
        if embed is None:
            return None
        if self._reference_embedding is None:
            self._reference_embedding = np.asarray(embed(self.reference), dtype=np.float32)
        return self._reference_embedding

    def sigma(self, task: int, X: sp.csr_matrix, similarity: np.ndarray) -> np.ndarray:
        """Difficulty (n,) of rows ``X`` for regression ``task``; ``similarity`` from :func:`domain_scores`."""
        column = self.reference_values[:, [task]].tocsc()
        rows = column.indices
        inputs = DifficultyInputs(
            X=X,
            similarity=similarity,
            reference_X=self.reference[rows],
            reference_y=column.data.astype(np.float64),
            k=self.config.difficulty_k,
            beta=self.config.difficulty_beta,
            max_block_bytes=self.config.max_block_bytes,
        )
        return DIFFICULTIES[self.config.difficulty](inputs)


@dataclass(frozen=True)
class DomainScores:
    """Per-compound domain scores, each (n,)."""

    similarity: np.ndarray  # mean Tanimoto to the k nearest training compounds
    nearest_similarity: np.ndarray  # Tanimoto to the single nearest one
    embedding_distance: np.ndarray | None  # k-NN trunk-embedding distance / calibration median
    in_domain: np.ndarray  # bool


def model_rows(function: object, prepared: PreparedSet, rows: np.ndarray, X: sp.csr_matrix) -> object:
    """What ``function`` reads for ``rows``: ``ModelInputs`` rows when it declares
    ``reads_model_inputs`` (model callables of ``trust.model_adapter``: descriptor or graph
    trunks need more than fingerprints), else the fingerprint rows ``X``."""
    if getattr(function, "reads_model_inputs", False):
        from fedqsar.model.inputs import ModelInputs

        return ModelInputs.of(prepared).rows(rows)
    return X


def raw_domain_scores(
    X: sp.csr_matrix,
    reference: sp.csr_matrix,
    config: TrustConfig,
    embed: EmbedFn | None,
    reference_embedding: np.ndarray | None,
    embed_input: object | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(mean k-NN similarity, nearest similarity, raw embedding distance or None), each (n,).

    ``embed_input``: what ``embed`` reads for these rows when it is not ``X`` (see :func:`model_rows`).
    """
    sims, _ = tanimoto_knn(X, reference, k=config.k, max_block_bytes=config.max_block_bytes)
    mean_sim = sims.mean(axis=1).astype(np.float64) if sims.shape[1] else np.zeros(X.shape[0])
    nearest = sims[:, 0].astype(np.float64) if sims.shape[1] else np.zeros(X.shape[0])
    distance = None
    if embed is not None and reference_embedding is not None:
        distance = embedding_knn_distance(
            embed(X if embed_input is None else embed_input),
            reference_embedding,
            k=config.k,
            max_block_bytes=config.max_block_bytes,
        )
    return mean_sim, nearest, distance


def domain_scores(
    artefacts: TrustArtefacts, X: sp.csr_matrix, embed: EmbedFn | None = None, embed_input: object | None = None
) -> DomainScores:
    """Domain scores and flag of fingerprint rows ``X`` (n, n_bits); ``embed_input`` as in :func:`raw_domain_scores`."""
    reference_embedding = artefacts.reference_embedding(embed)
    mean_sim, nearest, distance = raw_domain_scores(
        X, artefacts.reference, artefacts.config, embed, reference_embedding, embed_input
    )
    scaled = None if distance is None else distance / artefacts.thresholds.embedding_scale
    return DomainScores(mean_sim, nearest, scaled, artefacts.thresholds.in_domain(mean_sim, scaled))


def fit_trust(
    predict: PredictFn,
    prepared: PreparedSet,
    calibration_rows: np.ndarray,
    reference_rows: np.ndarray,
    embed: EmbedFn | None = None,
    config: TrustConfig = TrustConfig(),
) -> TrustArtefacts:
    """Fit conformal calibrators on ``calibration_rows`` and the domain on ``reference_rows``.

    Parameters
    ----------
    predict
        CSR (n, n_bits) -> (n, n_tasks) predictions of the partner's model (probabilities
        for classification columns, task units for regression columns).
    prepared
        The partner's PreparedSet.
    calibration_rows
        Rows of the validation fold (the model never trained on them; not the test fold).
    reference_rows
        Rows the model trained on.
    embed
        CSR -> (n, d) trunk embeddings, or None to skip the embedding distance.

    Returns
    -------
    TrustArtefacts
    """
    calibration_rows = np.asarray(calibration_rows, dtype=np.int64)
    reference_rows = np.asarray(reference_rows, dtype=np.int64)
    reference = binarise(prepared.X[reference_rows])
    X_cal = prepared.X[calibration_rows]
    reference_embedding = (
        None
        if embed is None
        else np.asarray(embed(model_rows(embed, prepared, reference_rows, reference)), dtype=np.float32)
    )
    embed_input = None if embed is None else model_rows(embed, prepared, calibration_rows, X_cal)
    mean_sim, _, distance = raw_domain_scores(X_cal, reference, config, embed, reference_embedding, embed_input)
    tasks = prepared.tasks_sorted.loc[:, ["task_name", "kind"]]
    artefacts = TrustArtefacts(
        config=config,
        tasks=tasks,
        classifiers={},
        regressors={},
        reference=reference,
        thresholds=choose_thresholds(mean_sim, distance, k=config.k, quantile=config.domain_quantile),
        reference_values=exact_regression_values(prepared, reference_rows),
        _reference_embedding=reference_embedding,
        keep_reference_embedding=bool(getattr(embed, "reads_model_inputs", False)),
    )
    predictions = np.asarray(predict(model_rows(predict, prepared, calibration_rows, X_cal)), dtype=np.float64)
    _fit_calibrators(artefacts, prepared, calibration_rows, predictions, mean_sim)
    return artefacts


def exact_regression_values(prepared: PreparedSet, rows: np.ndarray) -> sp.csr_matrix:
    """CSR (len(rows), n_tasks) of the uncensored regression values of ``rows`` (explicit zeros kept)."""
    Y, censor = prepared.Y[rows].tocoo(), prepared.censor[rows].tocoo()
    is_regression = prepared.task_kinds == "regression"
    keep = is_regression[Y.col] & (censor.data == 0)
    order = np.lexsort((Y.col[keep], Y.row[keep]))
    r, c, v = Y.row[keep][order], Y.col[keep][order], Y.data[keep][order]
    indptr = np.r_[0, np.cumsum(np.bincount(r, minlength=len(rows)))]
    return sp.csr_matrix((v.astype(np.float32), c, indptr), shape=Y.shape)


@dataclass(frozen=True)
class TaskObservations:
    """Observations of some rows, column by column (CSC of Y and censor restricted to the rows)."""

    values: sp.csc_matrix
    censor: sp.csc_matrix

    @classmethod
    def of(cls, prepared: PreparedSet, rows: np.ndarray) -> TaskObservations:
        rows = np.asarray(rows, dtype=np.int64)
        return cls(prepared.Y[rows].tocsc(), prepared.censor[rows].tocsc())

    def task(self, task: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Positions (within the rows) observed for ``task``, their values and censor flags."""
        lo, hi = self.values.indptr[task], self.values.indptr[task + 1]
        positions = self.values.indices[lo:hi].astype(np.int64)
        values = self.values.data[lo:hi].astype(np.float64)
        censor = self.censor.data[lo:hi].astype(np.int64)
        order = np.argsort(positions, kind="stable")
        return positions[order], values[order], censor[order]


def _fit_calibrators(
    artefacts: TrustArtefacts, prepared: PreparedSet, rows: np.ndarray, predictions: np.ndarray, similarity: np.ndarray
) -> None:
    """One calibrator per task with calibration observations; censored values are skipped."""
    observations = TaskObservations.of(prepared, rows)
    X = prepared.X[rows]
    for task, kind in enumerate(artefacts.tasks["kind"]):
        positions, values, censor = observations.task(task)
        if kind == "classification" and positions.size:
            artefacts.classifiers[task] = ClassificationCalibrator(
                predictions[positions, task], values.astype(np.int64)
            )
        elif kind == "regression":
            exact = positions[censor == 0]
            if exact.size:
                residual = values[censor == 0] - predictions[exact, task]
                sigma = artefacts.sigma(task, X[exact], similarity[exact])
                artefacts.regressors[task] = RegressionCalibrator(residual, sigma)
