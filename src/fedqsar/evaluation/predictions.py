"""Test-fold predictions of every model kind, kept in the run folder (``predictions.parquet``).

Long table, one row per (partner, test row, task, model kind)::

    partner, row, task, model_kind, prediction

``row`` indexes the partner's PreparedSet; ``task`` is the task name (columns in ``task_id``
order); ``prediction`` is a probability (classification) or a value in the task's unit. With
the PreparedSets, this is all that metrics, uplift and any per-task or per-endpoint interval
need, so they can be recomputed without refitting a model.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from fedqsar.errors import InputFileError
from fedqsar.prepared import PreparedSet

PREDICTIONS_FILE = "predictions.parquet"
PREDICTION_COLUMNS = ("partner", "row", "task", "model_kind", "prediction")
Predictions = dict[tuple[str, str], np.ndarray]


def predictions_table(
    prepared: Mapping[str, PreparedSet], test_rows: Mapping[str, np.ndarray], predictions: Predictions
) -> pd.DataFrame:
    """Long table (``PREDICTION_COLUMNS``) of (partner, kind) -> (n_test, n_tasks) arrays."""
    parts = []
    for (partner, kind), values in sorted(predictions.items()):
        tasks = np.asarray(prepared[partner].task_names, dtype=object)
        rows = np.asarray(test_rows[partner], dtype=np.int64)
        parts.append(
            pd.DataFrame(
                {
                    "partner": partner,
                    "row": np.repeat(rows, len(tasks)),
                    "task": np.tile(tasks, len(rows)),
                    "model_kind": kind,
                    "prediction": np.asarray(values, dtype=np.float32).ravel(),
                }
            )
        )
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=list(PREDICTION_COLUMNS))


def write_predictions(
    folder: Path, prepared: Mapping[str, PreparedSet], test_rows: Mapping[str, np.ndarray], predictions: Predictions
) -> Path:
    """Write ``folder/predictions.parquet``; returns its path."""
    path = Path(folder) / PREDICTIONS_FILE
    predictions_table(prepared, test_rows, predictions).to_parquet(path, index=False)
    return path


def read_predictions(folder: Path, prepared: Mapping[str, PreparedSet]) -> tuple[dict[str, np.ndarray], Predictions]:
    """Test rows per partner and (partner, kind) -> (n_test, n_tasks) arrays from ``folder/predictions.parquet``.

    Raises
    ------
    InputFileError
        If the file is missing or does not fit the PreparedSets (unknown partner or task).
    """
    path = Path(folder) / PREDICTIONS_FILE
    try:
        table = pd.read_parquet(path)
    except (OSError, ValueError) as exc:
        raise InputFileError(
            f"cannot read {path}: {exc}", "point at a run folder written by `fedqsar evaluate`"
        ) from exc
    test_rows: dict[str, np.ndarray] = {}
    out: Predictions = {}
    for (partner, kind), group in table.groupby(["partner", "model_kind"], sort=True):
        if partner not in prepared:
            raise InputFileError(f"{path} holds partner {partner!r}, not given", "give every partner of the run")
        tasks = prepared[partner].task_names
        wide = group.pivot(index="row", columns="task", values="prediction")
        missing = sorted(set(tasks) - set(wide.columns))
        if missing:
            raise InputFileError(f"{path} lacks predictions of tasks {missing[:5]}", "give the run's PreparedSets")
        test_rows[str(partner)] = wide.index.to_numpy(dtype=np.int64)
        out[(str(partner), str(kind))] = wide[tasks].to_numpy(dtype=np.float32)
    return test_rows, out
