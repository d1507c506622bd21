"""Uplift statistics: how much federation helps each partner, with honest uncertainty.

Input is the long metrics table the protocol writes (``evaluation/metrics.csv``)::

    partner, task, endpoint, model_kind, fold, metric, value

Output is one row per (partner, metric, comparison) with the columns of ``UPLIFT_COLUMNS``
(``evaluation/uplift.csv`` in the run folder; see docs/CONTRACTS.md).

Definitions (per partner, over the tasks that have a finite value for every model kind
being compared — tasks failing quorum are never in the metrics table):

- ``local``, ``federated``, ``pooled``, ``rf``: unweighted mean of the metric over those tasks.
- ``delta_abs = challenger - reference`` in the metric's own units (for RMSE a negative
  delta is an improvement).
- ``delta_rel = delta_abs / |reference|``.
- ``riptop`` (relative improvement proportional to perfect, MELLODDY):
  ``(challenger - reference) / (perfect - reference)``; ``perfect`` is 1 for AUC-PR/AUC-ROC
  (giving ``(fed - local) / (1 - local)``) and 0 for RMSE (giving ``(local - fed) / local``).
  Positive means better for every metric.
- ``ci_low``, ``ci_high``: percentile bootstrap interval (``confidence``, default 95%) of
  ``delta_abs``, resampling the partner's tasks with replacement (``n_bootstrap`` draws,
  seeded) when it has at least ``min_tasks_for_task_bootstrap`` tasks (default 5). With
  fewer tasks a bootstrap over tasks means nothing (two tasks give two possible means), so
  the interval comes from a per-compound bootstrap (``compound_bootstrap``, passed in as
  ``compound_cis``) or is left NaN — a row without an interval is never significant.
- ``recovered_share = (challenger - local) / (pooled - local)`` for the federated and
  personalised models against local: the share of the pooled (upper bound) gain they
  recover. Defined only when pooling actually improves on local by more than
  ``min_pooled_gain`` (in the metric's direction of improvement); otherwise NaN — a ratio
  over a zero or negative "gain" means nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from fedqsar.errors import InputSchemaError
from fedqsar.evaluation.kinds import MODEL_KINDS

METRICS_COLUMNS = ("partner", "task", "endpoint", "model_kind", "fold", "metric", "value")
UPLIFT_COLUMNS = (
    "partner",
    "metric",
    "comparison",
    *MODEL_KINDS,
    "delta_abs",
    "delta_rel",
    "riptop",
    "ci_low",
    "ci_high",
    "recovered_share",
    "n_tasks",
)
ALL_PARTNERS = "(all)"

#: value a perfect model reaches, per metric name; sets the direction of improvement.
PERFECT_VALUE: dict[str, float] = {
    "auc_pr": 1.0,
    "auc_roc": 1.0,
    "auc_pr_cal": 1.0,
    "spearman": 1.0,
    "pearson": 1.0,
    "r2": 1.0,
    "rmse": 0.0,
    "rmse_censored": 0.0,
    "mae": 0.0,
    "log_loss": 0.0,
    "brier": 0.0,
}


@dataclass(frozen=True)
class UpliftConfig:
    """Which comparisons to summarise and how to bootstrap them."""

    metrics: tuple[str, ...] = ("auc_pr", "rmse")
    comparisons: tuple[tuple[str, str], ...] = (
        ("federated", "local"),
        ("personalised", "local"),
        ("personalised", "federated"),
        ("pooled", "local"),
        ("rf", "local"),
        ("federated", "rf"),
    )
    n_bootstrap: int = 2000
    confidence: float = 0.95
    seed: int = 0
    min_pooled_gain: float = 0.005
    include_all_partners: bool = True
    min_tasks_for_task_bootstrap: int = 5


def check_metrics_table(metrics: pd.DataFrame) -> None:
    """Raise ``InputSchemaError`` naming the missing columns of a long metrics table."""
    missing = [c for c in METRICS_COLUMNS if c not in metrics.columns]
    if missing:
        raise InputSchemaError(
            f"metrics table lacks columns {missing}",
            f"a metrics table needs columns {list(METRICS_COLUMNS)} (evaluation/metrics.csv)",
        )


def task_matrix(metrics: pd.DataFrame, partner: str | None, metric: str, kinds: tuple[str, ...]) -> pd.DataFrame:
    """Wide table of one metric: rows = (partner, task), columns = model kinds.

    Only rows with a finite value for every kind in ``kinds`` are kept (paired comparison).
    ``partner=None`` keeps every partner.
    """
    sel = metrics[(metrics["metric"] == metric) & metrics["model_kind"].isin(kinds)]
    if partner is not None:
        sel = sel[sel["partner"] == partner]
    wide = sel.pivot_table(index=["partner", "task"], columns="model_kind", values="value", aggfunc="mean")
    for kind in kinds:
        if kind not in wide.columns:
            wide[kind] = np.nan
    wide = wide[list(kinds)]
    return wide[np.isfinite(wide.to_numpy(dtype=float)).all(axis=1)]


def bootstrap_mean_ci(deltas: np.ndarray, n_bootstrap: int, confidence: float, seed: int) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``deltas`` (shape (n,)), resampling entries.

    Returns (NaN, NaN) for fewer than two entries.
    """
    deltas = np.asarray(deltas, dtype=float)
    if deltas.size < 2:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, deltas.size, size=(n_bootstrap, deltas.size))
    means = deltas[draws].mean(axis=1)
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    return float(low), float(high)


def riptop(challenger: float, reference: float, metric: str) -> float:
    """Relative improvement proportional to perfect; positive = challenger better. NaN if undefined."""
    perfect = PERFECT_VALUE.get(metric)
    if perfect is None or not np.isfinite(reference) or abs(perfect - reference) < 1e-12:
        return float("nan")
    return float((challenger - reference) / (perfect - reference))


def recovered_share(federated: float, local: float, pooled: float, min_gain: float, metric: str = "auc_pr") -> float:
    """(fed - local) / (pooled - local); NaN unless pooling improves on local by > ``min_gain``."""
    gain = pooled - local
    direction = 1.0 if PERFECT_VALUE.get(metric, float("inf")) > local else -1.0
    if not np.isfinite(gain) or direction * gain <= min_gain:
        return float("nan")
    return float((federated - local) / gain)


def _means(metrics: pd.DataFrame, partner: str | None, metric: str, tasks: pd.MultiIndex) -> dict[str, float]:
    """Mean of each model kind over exactly ``tasks`` (NaN when a kind lacks some of them)."""
    out: dict[str, float] = {}
    for kind in MODEL_KINDS:
        wide = task_matrix(metrics, partner, metric, (kind,))
        values = wide.reindex(tasks)[kind].to_numpy(dtype=float)
        out[kind] = float(values.mean()) if values.size and np.isfinite(values).all() else float("nan")
    return out


def _comparison_row(
    metrics: pd.DataFrame,
    partner: str | None,
    metric: str,
    challenger: str,
    reference: str,
    cfg: UpliftConfig,
    compound_cis: Mapping[tuple[str, str, str], tuple[float, float]],
) -> dict[str, object] | None:
    wide = task_matrix(metrics, partner, metric, (challenger, reference))
    if wide.empty:
        return None
    means = _means(metrics, partner, metric, wide.index)
    ref, chal = float(wide[reference].mean()), float(wide[challenger].mean())
    deltas = (wide[challenger] - wide[reference]).to_numpy(dtype=float)
    name = ALL_PARTNERS if partner is None else partner
    comparison = f"{challenger}_vs_{reference}"
    seed = cfg.seed + _stable_offset(name, metric, comparison)
    if len(deltas) >= cfg.min_tasks_for_task_bootstrap:
        low, high = bootstrap_mean_ci(deltas, cfg.n_bootstrap, cfg.confidence, seed)
    else:
        low, high = compound_cis.get((name, metric, comparison), (float("nan"), float("nan")))
    return {
        "partner": name,
        "metric": metric,
        "comparison": comparison,
        **{kind: means[kind] for kind in MODEL_KINDS},
        "delta_abs": chal - ref,
        "delta_rel": (chal - ref) / abs(ref) if abs(ref) > 1e-12 else float("nan"),
        "riptop": riptop(chal, ref, metric),
        "ci_low": low,
        "ci_high": high,
        "recovered_share": recovered_share(
            means[challenger], means["local"], means["pooled"], cfg.min_pooled_gain, metric
        )
        if reference == "local" and challenger in ("federated", "personalised")
        else float("nan"),
        "n_tasks": int(len(wide)),
    }


def _stable_offset(*parts: str) -> int:
    """Deterministic small integer from strings (Python's hash() is salted per process)."""
    total = 0
    for part in parts:
        for char in part:
            total = (total * 131 + ord(char)) % 1_000_003
    return total


def uplift_table(
    metrics: pd.DataFrame,
    cfg: UpliftConfig | None = None,
    compound_cis: Mapping[tuple[str, str, str], tuple[float, float]] | None = None,
) -> pd.DataFrame:
    """Per-partner uplift summary of a long metrics table.

    Parameters
    ----------
    metrics
        Long table with ``METRICS_COLUMNS``; one value per (partner, task, model_kind, metric)
        on the test fold.
    cfg
        Comparisons, metrics and bootstrap settings.
    compound_cis
        Optional ``{(partner, metric, comparison): (low, high)}`` from a per-compound
        bootstrap; used where the task bootstrap is undefined (a single task).

    Returns
    -------
    pd.DataFrame
        Columns ``UPLIFT_COLUMNS``; one row per partner (plus ``"(all)"``), metric and
        comparison that has at least one paired task.
    """
    cfg = cfg or UpliftConfig()
    check_metrics_table(metrics)
    partners: list[str | None] = sorted(metrics["partner"].astype(str).unique())
    if cfg.include_all_partners:
        partners.append(None)
    rows = []
    for partner in partners:
        for metric in cfg.metrics:
            for challenger, reference in cfg.comparisons:
                row = _comparison_row(metrics, partner, metric, challenger, reference, cfg, compound_cis or {})
                if row is not None:
                    rows.append(row)
    return pd.DataFrame(rows, columns=list(UPLIFT_COLUMNS))


WeightedMetric = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
"""``metric(y (n,), prediction (n,), weights (n_draws, n)) -> (n_draws,)``: a metric under integer weights."""


def weighted_average_precision(y: np.ndarray, prediction: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Average precision (AUC-PR, as scikit-learn's ``average_precision_score``) under each row of ``weights``.

    An observation of weight k counts as k copies, so a row of bootstrap counts gives the
    metric of that bootstrap draw. NaN where a draw has no positive or no negative weight.
    """
    order = np.argsort(-np.asarray(prediction, dtype=float), kind="mergesort")
    y, scores, w = np.asarray(y, dtype=float)[order], np.asarray(prediction, dtype=float)[order], weights[:, order]
    last = np.r_[np.flatnonzero(np.diff(scores) != 0), len(scores) - 1]  # end of each run of tied scores
    true_pos = np.cumsum(w * y, axis=1)[:, last]
    seen = np.cumsum(w, axis=1)[:, last]
    positives, negatives = true_pos[:, -1], seen[:, -1] - true_pos[:, -1]
    precision = np.divide(true_pos, seen, out=np.zeros_like(true_pos), where=seen > 0)
    recall_steps = np.diff(true_pos, axis=1, prepend=0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        ap = (recall_steps * precision).sum(axis=1) / positives
    ap[(positives <= 0) | (negatives <= 0)] = np.nan
    return ap


def weighted_rmse(y: np.ndarray, prediction: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Root mean squared error under each row of ``weights`` (NaN where a row weighs nothing)."""
    squared = (np.asarray(y, dtype=float) - np.asarray(prediction, dtype=float)) ** 2
    total = weights.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.sqrt((weights * squared).sum(axis=1) / total)


def compound_bootstrap(
    y_true: np.ndarray,
    pred_challenger: np.ndarray,
    pred_reference: np.ndarray,
    task_index: np.ndarray,
    compound_index: np.ndarray,
    metric_fn: WeightedMetric,
    n_bootstrap: int = 200,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Bootstrap interval of the mean-over-tasks metric delta, resampling test compounds.

    Compounds (not rows) are resampled so that a compound measured in several tasks moves
    as one unit. A draw is a vector of counts (how often each compound was drawn), so every
    draw is evaluated at once as a weighted metric (``weighted_average_precision``,
    ``weighted_rmse``: ``metric_fn(y, pred, weights (n_draws, n)) -> (n_draws,)``); a task
    with fewer than two drawn observations or an undefined metric in a draw is ignored in
    that draw's mean. At least 10 usable draws are needed, else (NaN, NaN).

    Parameters
    ----------
    y_true, pred_challenger, pred_reference, task_index, compound_index
        Arrays of shape (n_observations,): one entry per observed (compound, task).
    """
    rng = np.random.default_rng(seed)
    compounds, position = np.unique(np.asarray(compound_index), return_inverse=True)
    if compounds.size < 2:
        return float("nan"), float("nan")
    drawn = rng.integers(0, compounds.size, size=(n_bootstrap, compounds.size))
    counts = np.zeros((n_bootstrap, compounds.size))
    np.add.at(counts, (np.repeat(np.arange(n_bootstrap), compounds.size), drawn.ravel()), 1.0)
    y_true, task_index = np.asarray(y_true, dtype=float), np.asarray(task_index)
    per_task = []
    for task in np.unique(task_index):
        sel = np.flatnonzero(task_index == task)
        weights = counts[:, position[sel]]
        delta = metric_fn(y_true[sel], pred_challenger[sel], weights) - metric_fn(
            y_true[sel], pred_reference[sel], weights
        )
        delta[weights.sum(axis=1) < 2] = np.nan
        per_task.append(delta)
    stacked = np.vstack(per_task)
    usable = np.isfinite(stacked).any(axis=0)
    if usable.sum() < 10:
        return float("nan"), float("nan")
    means = np.nanmean(stacked[:, usable], axis=0)
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    return float(low), float(high)


def write_uplift(uplift: pd.DataFrame, path: Path) -> Path:
    """Write the uplift table as CSV (parents created); returns ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    uplift.loc[:, list(UPLIFT_COLUMNS)].to_csv(path, index=False)
    return path
