"""The probe's verdict: from gains with confidence intervals to "help / not help / cannot tell".

Per metric (AUC-PR for classification tasks, RMSE for regression tasks) the probe has the
mean per-task gain of the joined model over the local-only one and its bootstrap interval.
The gain is turned into the metric's direction of improvement (for RMSE lower is better),
and into RIPtoP units (share of the way from local to a perfect model) for the margin:

* **better**: the interval lies above 0;
* **worse**: the interval lies below 0;
* **negligible**: even the interval's upper end is below ``negligible_riptop`` (default 1 %
  of the way to perfect) — whatever the truth, the gain would not matter.

Verdict: *help* when some metric is better and none worse; *not help* when none is better
and every metric is worse or negligible; *cannot tell* otherwise (an interval that spans 0
and a gain that could matter, or one metric better and another worse). A metric without an
interval is never better or worse.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd

from fedqsar.evaluation.uplift import PERFECT_VALUE

HELP, NOT_HELP, CANNOT_TELL = "help", "not_help", "cannot_tell"
SENTENCES = {
    HELP: "joining is expected to help",
    NOT_HELP: "joining is expected not to help",
    CANNOT_TELL: "cannot tell whether joining would help",
}
METRIC_LABELS = {"auc_pr": "AUC-PR", "rmse": "RMSE"}


@dataclass(frozen=True)
class MetricCall:
    """One metric's gain and what it says: ``state`` in better / worse / negligible / unclear."""

    metric: str
    n_tasks: int
    reference: float
    gain: float
    ci_low: float
    ci_high: float
    state: str

    def describe(self) -> str:
        label = METRIC_LABELS.get(self.metric, self.metric)
        interval = (
            "no interval" if not math.isfinite(self.ci_low) else f"95% CI {self.ci_low:+.3f}..{self.ci_high:+.3f}"
        )
        return f"{label} {self.reference:.3f} -> {self.reference + self.gain:.3f} ({self.gain:+.3f}, {interval}; {self.n_tasks} tasks): {self.state}"


@dataclass(frozen=True)
class Verdict:
    """The probe's answer: ``code`` in help / not_help / cannot_tell, a sentence and the per-metric calls."""

    code: str
    sentence: str
    calls: tuple[MetricCall, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, object]:
        return {
            "code": self.code,
            "sentence": self.sentence,
            "metrics": [call.__dict__ for call in self.calls],
        }


def _call(row: pd.Series, negligible_riptop: float) -> MetricCall:
    metric, reference = str(row["metric"]), float(row["local"])
    perfect = PERFECT_VALUE.get(metric, 1.0)
    sign = 1.0 if perfect > reference else -1.0
    low, high = sorted((float(row["ci_low"]) * sign, float(row["ci_high"]) * sign))
    room = abs(perfect - reference)
    if not (math.isfinite(low) and math.isfinite(high)):
        state = "unclear"
    elif low > 0:
        state = "better"
    elif high < 0:
        state = "worse"
    elif room > 1e-12 and high / room < negligible_riptop:
        state = "negligible"
    else:
        state = "unclear"
    return MetricCall(
        metric,
        int(row["n_tasks"]),
        reference,
        float(row["delta_abs"]),
        float(row["ci_low"]),
        float(row["ci_high"]),
        state,
    )


def verdict_of(summary: pd.DataFrame, comparison: str, negligible_riptop: float = 0.01) -> Verdict:
    """The verdict from the probe's summary rows (uplift columns) of ``comparison``.

    Parameters
    ----------
    summary
        Rows with ``metric, comparison, local, delta_abs, ci_low, ci_high, n_tasks``.
    comparison
        Which comparison decides, e.g. ``"joined_vs_local"``.
    """
    rows = summary[summary["comparison"] == comparison] if "comparison" in summary.columns else summary.iloc[:0]
    calls = tuple(_call(row, negligible_riptop) for _, row in rows.iterrows())
    states = {call.state for call in calls}
    if "better" in states and "worse" not in states:
        code = HELP
    elif calls and "better" not in states and states <= {"worse", "negligible"}:
        code = NOT_HELP
    else:
        code = CANNOT_TELL
    detail = "; ".join(call.describe() for call in calls) or "no task has enough validation labels to compare"
    return Verdict(code, f"{SENTENCES[code]}: {detail}", calls)
