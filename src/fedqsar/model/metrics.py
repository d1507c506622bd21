"""Per-task metrics and their aggregation-weighted means.

Classification: AUC-ROC, AUC-PR (average precision, as scikit-learn computes it), calibrated
AUC-PR (precision recomputed as if the positive rate were ``reference_positive_rate``;
Siblini et al. 2020, the form MELLODDY reported), log-loss, Brier.
Regression: RMSE, R2, Pearson r and Spearman on exact (uncensored) values; ``rmse_censored`` also counts
censored values, each contributing only the error on its wrong side (0 when the prediction
respects the qualifier).
Every task also gets count rows (``n``, ``n_positive``, ``n_negative``, ``n_uncensored``) so that
quorums can be applied to the evaluated fold.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.stats import spearmanr
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

from fedqsar.prepared import in_column_order

METRIC_COLUMNS = ("task", "metric", "value")
CLASSIFICATION_METRICS = ("auc_roc", "auc_pr", "auc_pr_cal", "log_loss", "brier")
REGRESSION_METRICS = ("rmse", "r2", "pearson", "spearman", "rmse_censored")
# Higher is better for these; lower for the rest (used by callers that rank models).
HIGHER_IS_BETTER = {
    "auc_roc": True,
    "auc_pr": True,
    "auc_pr_cal": True,
    "log_loss": False,
    "brier": False,
    "rmse": False,
    "r2": True,
    "pearson": True,
    "spearman": True,
    "rmse_censored": False,
}
DEFAULT_REFERENCE_POSITIVE_RATE = 0.5


def calibrated_average_precision(y_true: np.ndarray, score: np.ndarray, reference_rate: float) -> float:
    """Average precision with precision calibrated to positive rate ``reference_rate``.

    precision_c = TPR / (TPR + (1 - pi0) / pi0 * FPR), summed over recall steps as in
    average precision. Equals ``average_precision_score`` when pi0 is the set's own positive rate.
    """
    y_true = np.asarray(y_true, dtype=bool)
    order = np.argsort(-np.asarray(score, dtype=np.float64), kind="mergesort")
    y_sorted, s_sorted = y_true[order], np.asarray(score, dtype=np.float64)[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(s_sorted)), len(s_sorted) - 1]
    tps = np.cumsum(y_sorted)[last_of_tie]
    fps = (last_of_tie + 1) - tps
    n_pos, n_neg = y_true.sum(), (~y_true).sum()
    tpr, fpr = tps / n_pos, fps / n_neg
    denominator = tpr + (1.0 - reference_rate) / reference_rate * fpr
    precision = np.divide(tpr, denominator, out=np.ones_like(tpr), where=denominator > 0)
    recall_steps = np.diff(np.r_[0.0, tpr])
    return float(np.sum(recall_steps * precision))


def classification_metrics(
    y_true: np.ndarray, probability: np.ndarray, reference_rate: float = DEFAULT_REFERENCE_POSITIVE_RATE
) -> dict[str, float]:
    """Metrics of one classification task; AUCs are NaN unless both classes occur.

    Parameters
    ----------
    y_true
        (n,) labels 0/1.
    probability
        (n,) predicted probability of class 1.
    """
    y = np.asarray(y_true, dtype=np.float64)
    p = np.clip(np.asarray(probability, dtype=np.float64), 1e-7, 1 - 1e-7)
    n_pos = int((y == 1).sum())
    out = {"n": float(len(y)), "n_positive": float(n_pos), "n_negative": float(len(y) - n_pos)}
    both = 0 < n_pos < len(y)
    out["auc_roc"] = float(roc_auc_score(y, p)) if both else np.nan
    out["auc_pr"] = float(average_precision_score(y, p)) if both else np.nan
    out["auc_pr_cal"] = calibrated_average_precision(y, p, reference_rate) if both else np.nan
    out["log_loss"] = float(log_loss(y, p, labels=[0.0, 1.0])) if len(y) else np.nan
    out["brier"] = float(brier_score_loss(y, p, pos_label=1.0)) if len(y) else np.nan
    return out


def regression_metrics(y_true: np.ndarray, prediction: np.ndarray, censor: np.ndarray) -> dict[str, float]:
    """Metrics of one regression task.

    Parameters
    ----------
    y_true, prediction
        (n,) values in the task's unit.
    censor
        (n,) -1 '<', 0 exact, +1 '>'.
    """
    y, pred, c = (np.asarray(a, dtype=np.float64) for a in (y_true, prediction, censor))
    exact = c == 0
    out = {"n": float(len(y)), "n_uncensored": float(exact.sum())}
    ye, pe = y[exact], pred[exact]
    out["rmse"] = float(np.sqrt(np.mean((pe - ye) ** 2))) if len(ye) else np.nan
    variance = float(np.sum((ye - ye.mean()) ** 2)) if len(ye) else 0.0
    out["r2"] = 1.0 - float(np.sum((pe - ye) ** 2)) / variance if variance > 0 else np.nan
    constant = len(ye) < 3 or np.ptp(ye) == 0 or np.ptp(pe) == 0
    out["pearson"] = np.nan if constant else float(np.corrcoef(ye, pe)[0, 1])
    out["spearman"] = np.nan if constant else float(spearmanr(ye, pe).statistic)
    error = pred - y
    error = np.where(c < 0, np.maximum(error, 0.0), np.where(c > 0, np.minimum(error, 0.0), error))
    out["rmse_censored"] = float(np.sqrt(np.mean(error**2))) if len(y) else np.nan
    return out


METRICS_BY_KIND: dict[str, Callable[..., dict[str, float]]] = {
    "classification": lambda y, p, c, rate: classification_metrics(y, p, rate),
    "regression": lambda y, p, c, rate: regression_metrics(y, p, c),
}


def task_metrics(
    Y: sp.csr_matrix,
    censor: sp.csr_matrix,
    prediction: np.ndarray,
    tasks: pd.DataFrame,
    reference_rate: float = DEFAULT_REFERENCE_POSITIVE_RATE,
) -> pd.DataFrame:
    """Long metrics table (task, metric, value) of predictions against observed labels.

    Parameters
    ----------
    Y, censor
        CSR (n, n_tasks) observed labels/values of the evaluated rows (stored = observed).
    prediction
        (n, n_tasks) probabilities / values, columns in tasks order.
    tasks
        Tasks table (``task_name``, ``kind``), one row per column.
    """
    tasks = in_column_order(tasks)
    Yc, Cc = Y.tocsc(), censor.tocsc()
    records: list[tuple[str, str, float]] = []
    for column, (name, kind) in enumerate(zip(tasks["task_name"], tasks["kind"], strict=True)):
        start, stop = Yc.indptr[column], Yc.indptr[column + 1]
        rows = Yc.indices[start:stop]
        values = METRICS_BY_KIND[str(kind)](
            Yc.data[start:stop], prediction[rows, column], Cc.data[start:stop], reference_rate
        )
        records.extend((str(name), metric, float(value)) for metric, value in values.items())
    return pd.DataFrame.from_records(records, columns=list(METRIC_COLUMNS))


def aggregate_metrics(
    long_df: pd.DataFrame,
    tasks: pd.DataFrame,
    min_positives: int = 3,
    min_negatives: int = 3,
    min_uncensored: int = 10,
) -> pd.DataFrame:
    """Aggregation-weighted mean of every metric over the tasks that count.

    A task counts when ``passes_quorum`` is true in ``tasks``, its aggregation weight is > 0,
    and the evaluated fold itself has ``min_positives`` / ``min_negatives`` (classification)
    or ``min_uncensored`` exact values (regression); NaN metric values are skipped.

    Returns
    -------
    pd.DataFrame
        Columns ``kind, metric, value, n_tasks``.
    """
    wide = long_df.pivot_table(index="task", columns="metric", values="value", aggfunc="first")
    meta = tasks.set_index("task_name")
    rows = []
    for kind, metric_names in (("classification", CLASSIFICATION_METRICS), ("regression", REGRESSION_METRICS)):
        names = [t for t in wide.index if t in meta.index and meta.at[t, "kind"] == kind]
        counting = [t for t in names if _counts(meta.loc[t], wide.loc[t], min_positives, min_negatives, min_uncensored)]
        for metric in metric_names:
            if metric not in wide.columns:
                continue
            values = wide.loc[counting, metric].astype(float) if counting else pd.Series(dtype=float)
            weights = meta.loc[values.index, "aggregation_weight"].astype(float) if counting else pd.Series(dtype=float)
            keep = values.notna() & (weights > 0)
            total = float(weights[keep].sum())
            value = float((values[keep] * weights[keep]).sum() / total) if total > 0 else np.nan
            rows.append((kind, metric, value, int(keep.sum())))
    return pd.DataFrame.from_records(rows, columns=["kind", "metric", "value", "n_tasks"])


def _counts(task: pd.Series, measured: pd.Series, min_positives: int, min_negatives: int, min_uncensored: int) -> bool:
    if not bool(task["passes_quorum"]) or float(task["aggregation_weight"]) <= 0:
        return False
    if task["kind"] == "classification":
        return measured.get("n_positive", 0) >= min_positives and measured.get("n_negative", 0) >= min_negatives
    return measured.get("n_uncensored", 0) >= min_uncensored
