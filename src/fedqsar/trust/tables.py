"""Trust figures on a partner's test fold, in the run-folder tables the report reads.

``trust/coverage.csv``: partner, task, confidence, coverage, efficiency (+ kind, n):
  coverage = share of test observations inside the prediction set / interval; efficiency =
  mean set size (classification, 1 is ideal) or mean interval width (regression, task units).
``trust/domain.csv``: partner, task, decile, similarity, abs_error (+ n): test compounds of a
  task cut into deciles of ``domain_similarity`` (0 = least similar to training); mean
  similarity and mean absolute error (regression: |y - ŷ|; classification: |y - p| with the
  Venn-ABERS probability) per decile.
Censored regression values are left out of both (their error is not defined).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from fedqsar.prepared import PreparedSet
from fedqsar.trust.calibrate import (
    EmbedFn,
    PredictFn,
    TaskObservations,
    TrustArtefacts,
    domain_scores,
    model_rows,
)

COVERAGE_COLUMNS = ("partner", "task", "confidence", "coverage", "efficiency", "kind", "n")
DOMAIN_COLUMNS = ("partner", "task", "decile", "similarity", "abs_error", "n")
N_DECILES = 10


def report_tables(
    artefacts: TrustArtefacts,
    predict: PredictFn,
    prepared: PreparedSet,
    test_rows: np.ndarray,
    partner: str,
    embed: EmbedFn | None = None,
    confidences: Sequence[float] = (0.8, 0.9),
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Coverage/efficiency and error-by-similarity-decile tables on ``test_rows``.

    Returns
    -------
    coverage : DataFrame with ``COVERAGE_COLUMNS``, one row per (task, confidence)
    domain : DataFrame with ``DOMAIN_COLUMNS``, up to 10 rows per task
    """
    test_rows = np.asarray(test_rows, dtype=np.int64)
    X = prepared.X[test_rows]
    predictions = np.asarray(predict(model_rows(predict, prepared, test_rows, X)), dtype=np.float64)
    embed_input = None if embed is None else model_rows(embed, prepared, test_rows, X)
    similarity = domain_scores(artefacts, X, embed, embed_input).similarity
    observations = TaskObservations.of(prepared, test_rows)
    coverage_rows: list[dict] = []
    domain_rows: list[dict] = []
    for task, (name, kind) in enumerate(zip(artefacts.tasks["task_name"], artefacts.tasks["kind"], strict=True)):
        positions, values, censor = observations.task(task)
        exact = censor == 0
        positions, values = positions[exact], values[exact]
        if positions.size == 0:
            continue
        p = predictions[positions, task]
        base = {"partner": partner, "task": str(name)}
        sigma = artefacts.sigma(task, X[positions], similarity[positions]) if kind == "regression" else None
        for confidence in confidences:
            row = _coverage(artefacts, task, str(kind), p, values, sigma, confidence)
            if row is not None:
                coverage_rows.append(
                    {**base, "confidence": float(confidence), **row, "kind": str(kind), "n": int(positions.size)}
                )
        errors = _abs_errors(artefacts, task, str(kind), p, values)
        domain_rows.extend({**base, **d} for d in decile_errors(similarity[positions], errors))
    return (
        pd.DataFrame(coverage_rows, columns=list(COVERAGE_COLUMNS)),
        pd.DataFrame(domain_rows, columns=list(DOMAIN_COLUMNS)),
    )


def _coverage(
    artefacts: TrustArtefacts,
    task: int,
    kind: str,
    p: np.ndarray,
    y: np.ndarray,
    sigma: np.ndarray | None,
    confidence: float,
) -> dict | None:
    if kind == "classification":
        calibrator = artefacts.classifiers.get(task)
        if calibrator is None:
            return None
        sets = calibrator.prediction_sets(p, confidence)
        label = y.astype(np.int64)
        return {
            "coverage": float(sets[np.arange(label.size), label].mean()),
            "efficiency": float(sets.sum(axis=1).mean()),
        }
    regressor = artefacts.regressors.get(task)
    if regressor is None or sigma is None:
        return None
    intervals = regressor.intervals(p, sigma, confidence)
    inside = (intervals[:, 0] <= y) & (y <= intervals[:, 1])
    return {"coverage": float(inside.mean()), "efficiency": float(np.mean(intervals[:, 1] - intervals[:, 0]))}


def _abs_errors(artefacts: TrustArtefacts, task: int, kind: str, p: np.ndarray, y: np.ndarray) -> np.ndarray:
    if kind == "classification":
        calibrator = artefacts.classifiers.get(task)
        if calibrator is not None:
            calibrated = calibrator.calibrated_probability(p)[0]
            p = np.where(np.isfinite(calibrated), calibrated, p)
    return np.abs(y - p)


def decile_errors(similarity: np.ndarray, errors: np.ndarray, n_bins: int = N_DECILES) -> list[dict]:
    """Mean similarity and error per similarity decile (0 = least similar), (n,) inputs.

    Compounds are ranked by similarity (ties by position) and cut into ``n_bins`` groups of
    as equal size as possible; fewer groups when there are fewer compounds.
    """
    order = np.argsort(similarity, kind="stable")
    groups = np.array_split(order, min(n_bins, order.size))
    return [
        {"decile": d, "similarity": float(similarity[g].mean()), "abs_error": float(errors[g].mean()), "n": int(g.size)}
        for d, g in enumerate(groups)
    ]


def write_report_tables(run_dir: Path, coverage: pd.DataFrame, domain: pd.DataFrame) -> dict[str, Path]:
    """Write ``RUN/trust/coverage.csv`` and ``RUN/trust/domain.csv``; returns their paths."""
    folder = Path(run_dir) / "trust"
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"coverage": folder / "coverage.csv", "domain": folder / "domain.csv"}
    coverage.to_csv(paths["coverage"], index=False)
    domain.to_csv(paths["domain"], index=False)
    return paths
