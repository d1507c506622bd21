"""Per-compound bootstrap intervals for partners with too few tasks for a task bootstrap.

With fewer than ``UpliftConfig.min_tasks_for_task_bootstrap`` counted tasks for a metric, a
bootstrap over tasks describes almost nothing (two tasks give two possible means), so the
partner's interval comes from resampling its *test compounds* instead (``uplift.compound_bootstrap``:
a compound measured in several tasks moves as one unit). Without such an interval the
partner's row has no CI and is never called significant.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from fedqsar.evaluation.config import EvalConfig
from fedqsar.evaluation.uplift import WeightedMetric, compound_bootstrap, weighted_average_precision, weighted_rmse
from fedqsar.prepared import PreparedSet

Intervals = dict[tuple[str, str, str], tuple[float, float]]  # (partner, metric, comparison) -> (low, high)

METRIC_FUNCTIONS: dict[str, WeightedMetric] = {"auc_pr": weighted_average_precision, "rmse": weighted_rmse}
"""The metrics with a compound bootstrap, as weighted metrics (same values as ``model.metrics`` at weight 1)."""


def small_task_intervals(
    prepared: Mapping[str, PreparedSet],
    test_rows: Mapping[str, np.ndarray],
    predictions: Mapping[tuple[str, str], np.ndarray],
    metrics: pd.DataFrame,
    cfg: EvalConfig,
) -> Intervals:
    """Compound-bootstrap intervals of every comparison for partners with few counted tasks.

    Parameters
    ----------
    predictions
        (partner, model kind) -> float32 (n_test, n_tasks) on ``test_rows[partner]``.
    metrics
        The long test-fold metrics table (which tasks count, per partner and metric).
    """
    out: Intervals = {}
    if cfg.compound_bootstrap <= 0 or metrics.empty:
        return out
    counted = metrics[metrics["metric"].isin(list(METRIC_FUNCTIONS))]
    for (partner, metric), group in counted.groupby(["partner", "metric"]):
        tasks = sorted(group["task"].astype(str).unique())
        if len(tasks) >= cfg.uplift.min_tasks_for_task_bootstrap:
            continue
        for challenger, reference in cfg.uplift.comparisons:
            if (partner, challenger) in predictions and (partner, reference) in predictions:
                out[(partner, metric, f"{challenger}_vs_{reference}")] = compound_interval(
                    prepared[partner],
                    test_rows[partner],
                    predictions[(partner, challenger)],
                    predictions[(partner, reference)],
                    tasks,
                    metric,
                    cfg,
                )
    return out


def compound_interval(
    prepared: PreparedSet,
    rows: np.ndarray,
    challenger: np.ndarray,
    reference: np.ndarray,
    tasks: list[str],
    metric: str,
    cfg: EvalConfig,
) -> tuple[float, float]:
    """Compound-bootstrap interval of the mean over ``tasks`` of ``metric(challenger) - metric(reference)``.

    ``challenger``, ``reference``: float32 (len(rows), n_tasks) predictions on ``rows``; one task
    gives that task's own interval.
    """
    Y, censor = prepared.Y[rows].tocsc(), prepared.censor[rows].tocsc()
    parts: dict[str, list[np.ndarray]] = {"y": [], "chal": [], "ref": [], "task": [], "compound": []}
    for task_number, task in enumerate(tasks):
        column = prepared.column_of(task)
        start, stop = Y.indptr[column], Y.indptr[column + 1]
        observed, values = Y.indices[start:stop], Y.data[start:stop]
        if metric == "rmse":  # exact values only, as the RMSE in the metrics table
            keep = censor.data[start:stop] == 0
            observed, values = observed[keep], values[keep]
        parts["y"].append(values)
        parts["chal"].append(challenger[observed, column])
        parts["ref"].append(reference[observed, column])
        parts["task"].append(np.full(len(observed), task_number, dtype=np.int64))
        parts["compound"].append(observed)
    joined = {key: np.concatenate(value) for key, value in parts.items()}
    return compound_bootstrap(
        joined["y"],
        joined["chal"],
        joined["ref"],
        joined["task"],
        joined["compound"],
        METRIC_FUNCTIONS[metric],
        n_bootstrap=cfg.compound_bootstrap,
        confidence=cfg.uplift.confidence,
        seed=cfg.uplift.seed,
    )
