"""Checks that a partner's values mean what their endpoint says: plausible ranges and scales.

Both run inside the partner (``prepare``'s summary and manifest) and, on the same
definitions, in the consortium report's consistency section; neither needs another
partner's data.

Plausible range
    Each registered endpoint has a ``plausible_range`` (``prep.endpoints``): where a
    drug-discovery data set's canonical values normally lie. When more than
    :data:`MAX_OUTSIDE_SHARE` of a partner's values of an endpoint, or their median, fall
    outside it, the partner is warned: a wrong unit (µM read as M, % unbound as % bound),
    a different protocol, or a column that is not what its name says.
Linear scale
    A regression task of a custom endpoint (or of TUNER values on the assay's own scale)
    whose values are positive and span more than :data:`MAX_LINEAR_DECADES` decades is on
    a linear scale that a ratio, clearance, concentration or permeability should not be
    modelled on (a few large values dominate the loss). It is flagged with the fix: give
    the unit in the endpoint map, or map it to a registered endpoint.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from fedqsar.prep import endpoints as E

MAX_OUTSIDE_SHARE = 0.10
MAX_LINEAR_DECADES = 2.0
MIN_POSITIVE_SHARE = 0.95
LINEAR_UNITS = frozenset({"", "%"})


@dataclass(frozen=True)
class RangeCheck:
    """A partner's values of one endpoint against the endpoint's plausible range."""

    endpoint: str
    n: int
    median: float
    low: float
    high: float
    share_below: float
    share_above: float

    @property
    def share_outside(self) -> float:
        return self.share_below + self.share_above

    @property
    def warn(self) -> bool:
        return self.share_outside > MAX_OUTSIDE_SHARE or not (self.low <= self.median <= self.high)

    def message(self, who: str = "") -> str:
        where = f"{who}'s " if who else ""
        return (
            f"{where}{self.endpoint}: {self.share_outside:.0%} of {self.n:,} values lie outside the plausible range "
            f"{self.low:g} .. {self.high:g} (median {self.median:.2f}; {self.share_below:.0%} below, "
            f"{self.share_above:.0%} above). Check the unit (e.g. uM vs M, % unbound vs % bound), the protocol, "
            "and that the column measures this endpoint; fix it with --endpoint-map."
        )

    def to_dict(self) -> dict[str, object]:
        return {
            "endpoint": self.endpoint,
            "n": self.n,
            "median": round(self.median, 4),
            "plausible_range": [self.low, self.high],
            "share_below": round(self.share_below, 4),
            "share_above": round(self.share_above, 4),
            "warn": self.warn,
        }


def range_check(endpoint: str, values: np.ndarray) -> RangeCheck | None:
    """The check of ``values`` (canonical, float (n,)) against ``endpoint``'s range; None if it has none."""
    spec = E.get_endpoint(endpoint)
    values = np.asarray(values, np.float64)
    values = values[np.isfinite(values)]
    if spec is None or values.size == 0 or not np.all(np.isfinite(spec.plausible_range)):
        return None
    low, high = spec.plausible_range
    return RangeCheck(
        endpoint,
        int(values.size),
        float(np.median(values)),
        float(low),
        float(high),
        float(np.mean(values < low)),
        float(np.mean(values > high)),
    )


def range_checks(observations: pd.DataFrame) -> list[RangeCheck]:
    """One check per registered endpoint of ``observations`` (columns ``endpoint``, ``value_canonical``)."""
    checks = []
    for endpoint, group in observations.groupby("endpoint", sort=True):
        check = range_check(str(endpoint), group["value_canonical"].to_numpy(np.float64))
        if check is not None:
            checks.append(check)
    return checks


@dataclass(frozen=True)
class ScaleFlag:
    """A regression task of a custom endpoint modelled on a wide linear scale."""

    task: str
    endpoint: str
    n: int
    decades: float

    def message(self) -> str:
        name = self.endpoint or "(assay scale)"
        return (
            f"task {self.task!r} ({name}): its {self.n:,} positive values span {self.decades:.1f} decades on a "
            "linear scale; a ratio, clearance, concentration or permeability must be modelled as a logarithm. "
            f'Fix: map it in --endpoint-map, e.g. "{self.task}" = {{ endpoint = "ENDPOINT", unit = "UNIT" }}, '
            "or give its unit."
        )

    def to_dict(self) -> dict[str, object]:
        return {"task": self.task, "endpoint": self.endpoint, "n": self.n, "decades": round(self.decades, 2)}


def scale_flags(tasks: pd.DataFrame, labels: pd.DataFrame) -> list[ScaleFlag]:
    """Regression tasks of unregistered endpoints on a linear scale whose positive values span > 2 decades.

    ``tasks``: ``TASK_COLUMNS``; ``labels``: ``task_id``, ``y`` (``tasks.build_tasks``).
    """
    regression = tasks[(tasks["kind"] == "regression") & tasks["unit"].isin(LINEAR_UNITS)]
    flags = []
    for task in regression.itertuples():
        if E.get_endpoint(task.endpoint) is not None:
            continue
        y = labels.loc[labels["task_id"] == task.task_id, "y"].to_numpy(np.float64)
        positive = y[y > 0]
        if y.size < 2 or positive.size < MIN_POSITIVE_SHARE * y.size:
            continue
        low, high = np.quantile(positive, [0.025, 0.975])
        decades = float(np.log10(high / low)) if low > 0 else float("inf")
        if decades > MAX_LINEAR_DECADES:
            flags.append(ScaleFlag(str(task.task_name), str(task.endpoint), int(positive.size), decades))
    return flags
