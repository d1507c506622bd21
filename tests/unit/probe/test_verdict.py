"""The probe's verdict from gains and intervals."""

from __future__ import annotations

import pandas as pd

from fedqsar.probe.verdict import CANNOT_TELL, HELP, NOT_HELP, verdict_of


def _rows(*rows: tuple[str, float, float, float, float]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "metric": m,
                "comparison": "joined_vs_local",
                "local": ref,
                "delta_abs": d,
                "ci_low": lo,
                "ci_high": hi,
                "n_tasks": 6,
            }
            for m, ref, d, lo, hi in rows
        ]
    )


def test_an_interval_above_zero_helps_and_rmse_below_zero_helps() -> None:
    assert verdict_of(_rows(("auc_pr", 0.6, 0.03, 0.01, 0.05)), "joined_vs_local").code == HELP
    assert verdict_of(_rows(("rmse", 1.0, -0.1, -0.2, -0.03)), "joined_vs_local").code == HELP


def test_worse_or_negligible_everywhere_does_not_help() -> None:
    assert verdict_of(_rows(("auc_pr", 0.6, -0.03, -0.05, -0.01)), "joined_vs_local").code == NOT_HELP
    negligible = verdict_of(
        _rows(("auc_pr", 0.6, 0.0, -0.004, 0.002), ("rmse", 1.0, 0.02, 0.01, 0.03)), "joined_vs_local"
    )
    assert negligible.code == NOT_HELP and "negligible" in negligible.sentence and "worse" in negligible.sentence


def test_a_wide_interval_or_a_split_decision_cannot_tell() -> None:
    assert verdict_of(_rows(("auc_pr", 0.6, 0.01, -0.02, 0.04)), "joined_vs_local").code == CANNOT_TELL
    split = _rows(("auc_pr", 0.6, 0.03, 0.01, 0.05), ("rmse", 1.0, 0.1, 0.05, 0.2))
    assert verdict_of(split, "joined_vs_local").code == CANNOT_TELL
    nan = _rows(("auc_pr", 0.6, 0.05, float("nan"), float("nan")))
    assert verdict_of(nan, "joined_vs_local").code == CANNOT_TELL
    assert verdict_of(_rows(), "joined_vs_local").code == CANNOT_TELL
