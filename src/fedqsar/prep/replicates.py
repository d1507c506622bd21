"""Replicate aggregation: one observation per (structure, assay, endpoint).

Rows are grouped by (``structure_key``, ``assay_id``, ``endpoint``). Within a group:

* labels: the majority label; a tie is a ``duplicate_conflict``.
* exact values present: they must span at most ``max_replicate_spread`` (log units; for
  endpoints in % ``max_replicate_spread_percent``); the group value is
  the rule (``potency_replicates`` for potency endpoints, ``adme_replicates`` otherwise:
  median, mean, max or min) of the exact values, censor 0. Censored rows of the group
  must not contradict it by more than the spread (``<5`` next to ``=8`` with spread 2 is a
  conflict; ``<5`` next to ``=6`` is kept as 6: exact values win, as in TUNER).
* only ``<`` bounds: the tightest (smallest) bound, censor -1; only ``>`` bounds: the
  largest, censor +1 (every bound holds, so their intersection does).
* both ``<`` and ``>`` bounds, no exact value: when the lowest upper bound and the highest
  lower bound lie within the spread of each other, their midpoint as an exact value;
  otherwise a ``duplicate_conflict``.

The representative of a group is its lowest ``input_row`` ("used"); its other rows are
"merged"; all rows of a conflicting group are rejected ``duplicate_conflict``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from fedqsar.errors import AccountingError, ConfigError
from fedqsar.prep.config import ValueConfig

REPLICATE_RULES: dict[str, Callable[[np.ndarray], Any]] = {
    "median": np.median,
    "mean": np.mean,
    "max": np.max,
    "min": np.min,
}
GROUP_KEYS = ("structure_key", "assay_id", "endpoint")


def aggregate_replicates(df: pd.DataFrame, cfg: ValueConfig) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Fold replicate observations into one row per (structure, assay, endpoint).

    Parameters
    ----------
    df
        ``harmonise``'s ok rows plus ``structure_key`` (standardised SMILES or its hash),
        n rows.

    Returns
    -------
    aggregated
        One row per consistent group: the representative (lowest ``input_row``) row's
        fields, with the group's ``value_canonical`` / ``censor`` and ``n_replicates``.
    merged_rows
        int64: ``input_row`` of the other rows of consistent groups.
    conflict_rows
        int64: ``input_row`` of every row of groups rejected ``duplicate_conflict``.
    """
    _check_rules(cfg)
    if df["structure_key"].isna().any():
        raise AccountingError(
            "aggregate_replicates got rows without structure_key",
            "reject rows whose structure failed before aggregating (pipeline bug)",
        )
    if len(df) == 0:
        empty = np.zeros(0, np.int64)
        return df.assign(n_replicates=pd.Series(dtype=np.int64)), empty, empty
    df = df.sort_values("input_row", kind="stable").reset_index(drop=True)
    group = df.groupby(list(GROUP_KEYS), sort=False, dropna=False).ngroup().to_numpy()
    sizes = np.bincount(group)
    single = sizes[group] == 1
    values = df["value_canonical"].to_numpy(np.float64).copy()
    censor = df["censor"].to_numpy(np.int8).copy()
    keep = single.copy()
    n_rep = np.ones(len(df), dtype=np.int64)
    merged: list[np.ndarray] = []
    conflicts: list[np.ndarray] = []
    rows = df["input_row"].to_numpy(np.int64)
    families = df["family"].to_numpy() if "family" in df.columns else np.full(len(df), "other", dtype=object)
    percent = (df["canonical_unit"].to_numpy() == "%") if "canonical_unit" in df.columns else np.zeros(len(df), bool)
    multi_index = np.flatnonzero(~single)
    order = multi_index[np.argsort(group[multi_index], kind="stable")]
    bounds = np.flatnonzero(np.diff(group[order])) + 1
    for members in np.split(order, bounds) if order.size else []:
        spread = cfg.max_replicate_spread_percent if percent[members[0]] else cfg.max_replicate_spread
        result = aggregate_group(values[members], censor[members], str(families[members[0]]), cfg, spread)
        if result is None:
            conflicts.append(rows[members])
            continue
        first = members[0]  # lowest input_row: df is sorted by input_row
        values[first], censor[first] = result
        keep[first] = True
        n_rep[first] = len(members)
        merged.append(rows[members[1:]])
    aggregated = df.loc[keep].copy()
    aggregated["value_canonical"] = values[keep]
    aggregated["censor"] = censor[keep].astype(np.int8)
    aggregated["n_replicates"] = n_rep[keep]
    return aggregated.reset_index(drop=True), _cat(merged), _cat(conflicts)


def _cat(parts: list[np.ndarray]) -> np.ndarray:
    return np.sort(np.concatenate(parts)).astype(np.int64) if parts else np.zeros(0, np.int64)


def _check_rules(cfg: ValueConfig) -> None:
    for name in ("potency_replicates", "adme_replicates"):
        rule = getattr(cfg, name)
        if rule not in REPLICATE_RULES:
            raise ConfigError(
                f"values.{name} = {rule!r} is not a replicate rule", f"use one of {sorted(REPLICATE_RULES)}"
            )


def aggregate_group(
    values: np.ndarray, censor: np.ndarray, family: str, cfg: ValueConfig, spread: float | None = None
) -> tuple[float, int] | None:
    """(value, censor) of one replicate group, or None for a conflict (rules: module doc).

    ``spread`` defaults to ``cfg.max_replicate_spread`` (log units).
    """
    spread = cfg.max_replicate_spread if spread is None else spread
    if family == "label":
        ones = int(np.sum(values == 1.0))
        zeros = len(values) - ones
        return None if ones == zeros else (float(ones > zeros), 0)
    exact, upper, lower = values[censor == 0], values[censor < 0], values[censor > 0]
    if exact.size:
        if exact.max() - exact.min() > spread:
            return None
        rule = cfg.potency_replicates if family == "potency" else cfg.adme_replicates
        estimate = float(REPLICATE_RULES[rule](exact))
        if (upper.size and estimate > upper.min() + spread) or (lower.size and estimate < lower.max() - spread):
            return None
        return estimate, 0
    if upper.size and lower.size:
        high, low = float(upper.min()), float(lower.max())
        return ((high + low) / 2.0, 0) if abs(high - low) <= spread else None
    if upper.size:
        return float(upper.min()), -1
    return float(lower.max()), 1
