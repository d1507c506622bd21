"""Turn predictions on a partner's test fold into the long metrics table of the run folder.

Metrics come from ``fedqsar.model.metrics`` (never re-implemented here); this module adds
the columns ``partner, endpoint, model_kind, fold`` and applies the quorums: a task counts
only if prepare marked it ``passes_quorum`` and the test fold has enough labels.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from fedqsar.evaluation.config import EvalConfig
from fedqsar.evaluation.uplift import METRICS_COLUMNS
from fedqsar.model.metrics import task_metrics
from fedqsar.prepared import PreparedSet


def counting_tasks(metrics: pd.DataFrame, tasks: pd.DataFrame, cfg: EvalConfig) -> set[str]:
    """Names of tasks that pass prepare's quorum and the test-fold quorum of ``cfg``.

    ``metrics`` is ``task_metrics`` output (it has the count rows ``n_positive``,
    ``n_negative``, ``n_uncensored``).
    """
    counts = metrics.pivot_table(index="task", columns="metric", values="value", aggfunc="first")
    meta = tasks.set_index("task_name")
    keep = set()
    for name in counts.index:
        if name not in meta.index or not bool(meta.at[name, "passes_quorum"]):
            continue
        row = counts.loc[name]
        if meta.at[name, "kind"] == "classification":
            ok = (
                row.get("n_positive", 0) >= cfg.min_test_positives
                and row.get("n_negative", 0) >= cfg.min_test_negatives
            )
        else:
            ok = row.get("n_uncensored", 0) >= cfg.min_test_uncensored
        if ok:
            keep.add(str(name))
    return keep


def score(
    prepared: PreparedSet,
    rows: np.ndarray,
    prediction: np.ndarray,
    partner: str,
    model_kind: str,
    fold: int,
    cfg: EvalConfig,
) -> pd.DataFrame:
    """Long metrics (``METRICS_COLUMNS``) of ``prediction`` (n_rows, n_tasks) on ``rows``.

    Only counting tasks (see ``counting_tasks``) are returned.
    """
    tasks = prepared.tasks_sorted
    long = task_metrics(prepared.Y[rows], prepared.censor[rows], prediction, tasks)
    keep = counting_tasks(long, tasks, cfg)
    long = long[long["task"].isin(keep)].copy()
    endpoint = dict(zip(tasks["task_name"].astype(str), tasks["endpoint"].astype(str), strict=True))
    long["partner"] = partner
    long["endpoint"] = long["task"].map(endpoint)
    long["model_kind"] = model_kind
    long["fold"] = int(fold)
    return long.loc[:, list(METRICS_COLUMNS)].reset_index(drop=True)
