"""Tasks: regression and thresholded classification tasks, quorums and weights.

One *task group* per (assay, endpoint) of the aggregated observations. Per group:

Regression task
    When ``TaskConfig.make_regression``, the assay's ``use_in_regression`` is true (TUNER
    T0; default true) and the endpoint is not ``label``. Name: the assay id. Values are the
    canonical values with their censoring.

Classification tasks
    When ``TaskConfig.make_classification``. Ready-made labels (endpoint ``label``) give one
    task, named after the assay. Otherwise one task per threshold, named
    ``"<assay>@<threshold>"``. Thresholds, in order of precedence:

    1. expert thresholds of the assay (TUNER T0 ``expert_threshold_1..5``, T3
       ``threshold_value`` or a thresholds file), on the endpoint's canonical scale;
    2. if ``TaskConfig.auto_thresholds``: the endpoint's fixed thresholds
       (``prep.endpoints``), identical for every partner;
    3. else the endpoint's rule: ``fixed_adaptive`` for potency (and for unknown endpoints
       of TUNER assay types OTHER / NON-CATALOG-PANEL / CATALOG-PANEL), ``median_quartile``
       otherwise (see ``prep.endpoints``). These two rules look at all of the partner's
       values of the assay (as TUNER does); fixed thresholds avoid that.

    With ``TaskConfig.auxiliary_thresholds``, potency groups also get TUNER's auxiliary
    tasks 0.5 below the lowest and above the highest threshold (aggregation weight 0).

    Direction (assay's, else endpoint's, else "high"): "high" labels 1 when value >=
    threshold, "low" when value <= threshold. A censored value gets a label only when the
    bound decides it: for "high", ``>v`` with v >= t is 1 and ``<v`` with v <= t is 0;
    other censored values are *undetermined* for that threshold and are left out of that
    task only (the observation still serves the regression task and other thresholds).

Quorums and weights
    ``passes_quorum``: classification needs ``min_positives`` positives and
    ``min_negatives`` negatives; regression ``min_regression_values`` observations of which
    ``min_uncensored_values`` exact. ``training_weight`` is the assay's weight (TUNER T3
    ``weight``, a T0 / thresholds-file ``weight`` column; default 1.0).
    ``aggregation_weight`` is 1.0 for a task passing its quorum and 0.0 otherwise (and for
    auxiliary tasks): evaluation averages only count tasks with enough data.

Accounting
    A task with no observation at all is not created. An aggregated observation that ends
    in no task (undetermined for every threshold of a classification-only assay, or an
    assay that yields no task) is returned by :func:`rows_without_task`; the pipeline
    rejects it with reason :data:`NO_TASK` instead of counting it as used.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from fedqsar.prep import endpoints as E
from fedqsar.prep.config import TaskConfig
from fedqsar.prep.reasons import NO_TASK  # noqa: F401 - re-exported (tasks.NO_TASK)
from fedqsar.prepared import TASK_COLUMNS

LABEL_COLUMNS = ("structure_key", "task_id", "y", "censor", "input_row")
POTENCY_ASSAY_TYPES = frozenset({"OTHER", "NON-CATALOG-PANEL", "CATALOG-PANEL"})
AUX_OFFSET = 0.5


@dataclass(frozen=True)
class _Group:
    """Observations of one (assay, endpoint)."""

    assay_id: str
    endpoint: str
    unit: str
    family: str
    keys: np.ndarray
    rows: np.ndarray
    values: np.ndarray
    censor: np.ndarray
    meta: dict


def class_labels(values: np.ndarray, censor: np.ndarray, threshold: float, direction: str = "high") -> np.ndarray:
    """Class label per observation for one threshold: 1.0, 0.0 or NaN (undetermined).

    Parameters
    ----------
    values, censor
        float (n,), int (n,): canonical values and censoring (-1 '<', 0, +1 '>').
    threshold
        Cut-off on the same scale.
    direction
        "high": active when value >= threshold; "low": active when value <= threshold.
    """
    values = np.asarray(values, np.float64)
    censor = np.asarray(censor)
    if direction == "low":
        return class_labels(-values, -censor, -threshold, "high")  # value <= t  <=>  -value >= -t
    labels = np.full(len(values), np.nan)
    exact = censor == 0
    labels[exact] = (values[exact] >= threshold).astype(float)
    labels[(censor > 0) & (values >= threshold)] = 1.0
    labels[(censor < 0) & (values <= threshold)] = 0.0
    return labels


def fixed_adaptive_threshold(values: np.ndarray, censor: np.ndarray, cfg: TaskConfig) -> float:
    """TUNER-like potency threshold: first trial with enough actives, else the median."""
    for trial in cfg.fixed_adaptive_trials:
        labels = class_labels(values, censor, trial, "high")
        n_act, n_inact = int(np.sum(labels == 1.0)), int(np.sum(labels == 0.0))
        if (
            n_act + n_inact
            and n_act / (n_act + n_inact) >= cfg.fixed_adaptive_min_active_share
            and n_act >= cfg.min_positives
            and n_inact >= cfg.min_negatives
        ):
            return float(trial)
    exact = values[censor == 0]
    return float(np.median(exact if exact.size else values))


def median_quartile_thresholds(values: np.ndarray, censor: np.ndarray, direction: str) -> tuple[float, ...]:
    """TUNER's ADME rule: median of exact values, plus the quartile on the active side."""
    exact = values[censor == 0]
    if exact.size < 2:
        return ()
    median = float(np.quantile(exact, 0.5))
    quartile = float(np.quantile(exact, 0.25 if direction == "low" else 0.75))
    return (median,) if quartile == median else tuple(sorted({median, quartile}))


def _rule_of(group: _Group) -> str:
    spec = E.ENDPOINTS.get(group.endpoint)
    if spec is not None:
        return spec.threshold_rule
    assay_type = str(group.meta.get("assay_type") or "").upper()
    return "fixed_adaptive" if assay_type in POTENCY_ASSAY_TYPES else "median_quartile"


def thresholds_for(group: _Group, cfg: TaskConfig) -> list[tuple[float, bool]]:
    """(threshold, is_auxiliary) of a group's classification tasks, sorted."""
    expert = tuple(float(t) for t in (group.meta.get("thresholds") or ()) if t is not None and not math.isnan(float(t)))
    spec = E.ENDPOINTS.get(group.endpoint)
    direction = _direction(group)
    rule = _rule_of(group)
    if expert:
        chosen = expert
    elif not cfg.auto_thresholds:
        chosen = ()
    elif spec is not None and spec.thresholds:
        chosen = spec.thresholds
    elif rule == "fixed_adaptive":
        chosen = (fixed_adaptive_threshold(group.values, group.censor, cfg),)
    elif rule == "median_quartile":
        chosen = median_quartile_thresholds(group.values, group.censor, direction)
    else:
        chosen = ()
    out = [(float(t), False) for t in sorted(set(chosen))]
    if cfg.auxiliary_thresholds and out and (group.family == "potency" or rule == "fixed_adaptive"):
        out = [(out[0][0] - AUX_OFFSET, True), *out, (out[-1][0] + AUX_OFFSET, True)]
    return out


def _direction(group: _Group) -> str:
    spec = E.ENDPOINTS.get(group.endpoint)
    direction = group.meta.get("direction") or (spec.direction if spec else None) or "high"
    return "low" if str(direction).lower() == "low" else "high"


# --- building -------------------------------------------------------------------------------
def build_tasks(
    aggregated: pd.DataFrame, assays: pd.DataFrame | None, cfg: TaskConfig
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Tasks table and labels from aggregated observations.

    Parameters
    ----------
    aggregated
        ``values.aggregate_replicates`` output (m rows): ``structure_key, assay_id,
        endpoint, canonical_unit, family, value_canonical, censor, input_row``.
    assays
        Assay metadata (``schema.RawInput.assays``); missing assays get defaults.
    cfg
        Task settings.

    Returns
    -------
    tasks_df
        Columns ``fedqsar.prepared.TASK_COLUMNS``, ``task_id`` 0..n_tasks-1.
    labels_df
        ``structure_key``, ``task_id`` (int64), ``y`` (float32: 0/1 for classification,
        the value for regression), ``censor`` (int8, 0 for classification) and
        ``input_row`` (int64, the aggregated row it comes from), one row per observation.
    """
    meta = _assay_lookup(assays)
    tasks: list[dict] = []
    parts: dict[str, list[np.ndarray]] = {"structure_key": [], "task_id": [], "y": [], "censor": [], "input_row": []}
    for group in _groups(aggregated, meta):
        for spec, y, censor, keep in _group_tasks(group, cfg):
            if not keep.any():
                continue
            task_id = len(tasks)
            tasks.append(_task_row(task_id, group, spec, y[keep], censor[keep], cfg))
            parts["structure_key"].append(group.keys[keep])
            parts["task_id"].append(np.full(int(keep.sum()), task_id, dtype=np.int64))
            parts["y"].append(y[keep].astype(np.float32))
            parts["censor"].append(censor[keep].astype(np.int8))
            parts["input_row"].append(group.rows[keep].astype(np.int64))
    _unique_names(tasks)
    tasks_df = pd.DataFrame(tasks, columns=list(TASK_COLUMNS))
    tasks_df = tasks_df.astype(
        {
            "task_id": np.int64,
            "threshold": float,
            "training_weight": float,
            "aggregation_weight": float,
            "n_observed": np.int64,
            "n_positive": np.int64,
            "n_negative": np.int64,
            "n_censored": np.int64,
            "passes_quorum": bool,
        }
    )
    labels_df = pd.DataFrame({k: np.concatenate(v) for k, v in parts.items()}) if tasks else _empty_labels()
    return tasks_df, labels_df


def _unique_names(tasks: list[dict]) -> None:
    """Suffix ``#2``, ``#3`` ... to repeated task names (thresholds equal after formatting)."""
    seen: dict[str, int] = {}
    for task in tasks:
        name = task["task_name"]
        seen[name] = seen.get(name, 0) + 1
        if seen[name] > 1:
            task["task_name"] = f"{name}#{seen[name]}"


def rows_without_task(aggregated: pd.DataFrame, labels_df: pd.DataFrame) -> np.ndarray:
    """``input_row`` of aggregated observations that feed no task (reject as :data:`NO_TASK`)."""
    used = np.unique(labels_df["input_row"].to_numpy(np.int64))
    rows = aggregated["input_row"].to_numpy(np.int64)
    return np.sort(rows[~np.isin(rows, used)])


def _empty_labels() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "structure_key": pd.Series(dtype=object),
            "task_id": pd.Series(dtype=np.int64),
            "y": pd.Series(dtype=np.float32),
            "censor": pd.Series(dtype=np.int8),
            "input_row": pd.Series(dtype=np.int64),
        }
    )


def _assay_lookup(assays: pd.DataFrame | None) -> dict[str, dict]:
    if assays is None or len(assays) == 0:
        return {}
    return {str(r["assay_id"]): r for r in assays.to_dict("records")}


def _groups(aggregated: pd.DataFrame, meta: dict[str, dict]) -> list[_Group]:
    assay = aggregated["assay_id"].astype(str).to_numpy(object)
    endpoint = (
        aggregated["endpoint"].fillna("").astype(str).to_numpy(object) if len(aggregated) else np.zeros(0, object)
    )
    if len(aggregated) == 0:
        return []
    codes = pd.DataFrame({"a": assay, "e": endpoint}).groupby(["a", "e"], sort=True).ngroup().to_numpy()
    order = np.argsort(codes, kind="stable")
    bounds = np.flatnonzero(np.diff(codes[order])) + 1
    n_endpoints = pd.Series(endpoint).groupby(assay).nunique()
    cols = {
        "keys": aggregated["structure_key"].to_numpy(object),
        "rows": aggregated["input_row"].to_numpy(np.int64),
        "values": aggregated["value_canonical"].to_numpy(np.float64),
        "censor": aggregated["censor"].to_numpy(np.int8),
        "unit": aggregated["canonical_unit"].astype(str).to_numpy(object)
        if "canonical_unit" in aggregated
        else np.full(len(assay), "", object),
        "family": aggregated["family"].astype(str).to_numpy(object)
        if "family" in aggregated
        else np.full(len(assay), "other", object),
    }
    groups = []
    for members in np.split(order, bounds):
        assay_id, endpoint_name = assay[members[0]], endpoint[members[0]]
        name = assay_id if n_endpoints[assay_id] == 1 else f"{assay_id}|{endpoint_name}"
        groups.append(
            _Group(
                assay_id=name,
                endpoint=endpoint_name,
                unit=str(cols["unit"][members[0]]),
                family=str(cols["family"][members[0]]),
                keys=cols["keys"][members],
                rows=cols["rows"][members],
                values=cols["values"][members],
                censor=cols["censor"][members],
                meta={**meta.get(assay_id, {}), "assay_id_raw": assay_id},  # small dict per group
            )
        )
    return groups


TaskSpec = tuple[str, float, bool, bool]  # kind, threshold, auxiliary, ready-made labels


def _group_tasks(group: _Group, cfg: TaskConfig) -> Iterator[tuple[TaskSpec, np.ndarray, np.ndarray, np.ndarray]]:
    """Yield (spec, y, censor, keep) per task; spec = (kind, threshold, auxiliary, ready-made labels)."""
    is_label = group.family == "label" or group.endpoint == "label"
    use_reg = bool(group.meta.get("use_in_regression", True))
    if cfg.make_regression and use_reg and not is_label:
        yield ("regression", math.nan, False, False), group.values, group.censor, np.ones(len(group.values), bool)
    if not cfg.make_classification:
        return
    zeros = np.zeros(len(group.values), np.int8)
    if is_label:
        expert = [t for t in (group.meta.get("thresholds") or ()) if t is not None]
        threshold = float(expert[0]) if len(expert) == 1 else math.nan
        yield ("classification", threshold, False, True), group.values, zeros, np.isfinite(group.values)
        return
    direction = _direction(group)
    for threshold, auxiliary in thresholds_for(group, cfg):
        y = class_labels(group.values, group.censor, threshold, direction)
        undetermined = np.isnan(y)
        yield ("classification", threshold, auxiliary, False), np.where(undetermined, 0.0, y), zeros, ~undetermined


def _task_row(task_id: int, group: _Group, spec: tuple, y: np.ndarray, censor: np.ndarray, cfg: TaskConfig) -> dict:
    kind, threshold, auxiliary, ready_labels = spec
    n = len(y)
    weight = group.meta.get("weight", 1.0)
    weight = 1.0 if weight is None or (isinstance(weight, float) and math.isnan(weight)) else float(weight)
    if kind == "regression":
        n_pos = n_neg = 0
        n_cens = int(np.count_nonzero(censor))
        passes = n >= cfg.min_regression_values and (n - n_cens) >= cfg.min_uncensored_values
        name = group.assay_id
    else:
        n_pos = int(np.count_nonzero(y == 1.0))
        n_neg, n_cens = n - n_pos, 0
        passes = n_pos >= cfg.min_positives and n_neg >= cfg.min_negatives
        name = group.assay_id if ready_labels or math.isnan(threshold) else f"{group.assay_id}@{threshold:g}"
    return {
        "task_id": task_id,
        "task_name": name,
        "assay_id": group.meta["assay_id_raw"],
        "endpoint": group.endpoint,
        "kind": kind,
        "unit": group.unit,
        "threshold": threshold,
        "training_weight": weight,
        "aggregation_weight": 1.0 if passes and not auxiliary else 0.0,
        "n_observed": n,
        "n_positive": n_pos,
        "n_negative": n_neg,
        "n_censored": n_cens,
        "passes_quorum": bool(passes),
    }
