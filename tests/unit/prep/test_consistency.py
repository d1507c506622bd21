"""Plausible-range and linear-scale checks (the partner's summary and the report use both)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from fedqsar.prep.consistency import range_check, range_checks, scale_flags


def test_range_check_warns_when_many_values_or_the_median_lie_outside() -> None:
    fine = range_check("PPB", np.linspace(-3.0, -0.2, 50))
    assert fine is not None and not fine.warn and fine.share_outside == 0.0
    percent_bound = range_check("PPB", np.linspace(80.0, 99.9, 50))  # % bound taken for log10(fu)
    assert percent_bound is not None and percent_bound.warn and percent_bound.share_above == 1.0
    assert "PPB" in percent_bound.message("pharma_a") and "--endpoint-map" in percent_bound.message()
    few = range_check("logD7.4", np.r_[np.linspace(0, 4, 95), [9.0] * 5])  # 5 % outside: normal tails
    assert few is not None and not few.warn
    assert range_check("my_readout", np.ones(5)) is None and range_check("label", np.ones(5)) is None


def test_range_checks_per_endpoint_and_a_log_solubility_named_logp_is_caught() -> None:
    delaney_like = np.linspace(-9.0, 1.0, 60)  # MoleculeNet delaney's "logp" column holds log solubility
    observations = pd.DataFrame(
        {"endpoint": ["logP"] * 60 + ["logS"] * 60, "value_canonical": np.r_[delaney_like, delaney_like]}
    )
    checks = {c.endpoint: c for c in range_checks(observations)}
    assert checks["logP"].warn and not checks["logS"].warn


def _tasks(rows: list[tuple[int, str, str, str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["task_id", "task_name", "endpoint", "unit"]).assign(kind="regression")


def test_linear_custom_tasks_spanning_decades_are_flagged_with_the_fix() -> None:
    rng = np.random.default_rng(0)
    ratio = 10 ** rng.uniform(-0.5, 2.5, 200)  # an efflux ratio 0.3 .. 300 kept linear
    tasks = _tasks([(0, "ER", "ER", ""), (1, "logD", "logd_custom", ""), (2, "ER_log", "ER", "log10(ratio)")])
    tasks = pd.concat([tasks, _tasks([(3, "efflux", "efflux_ratio", "")])], ignore_index=True)
    labels = pd.DataFrame(
        {
            "task_id": np.repeat([0, 1, 2, 3], 200),
            "y": np.r_[ratio, rng.uniform(-1, 4, 200), np.log10(ratio), ratio],
        }
    )
    flags = scale_flags(tasks, labels)
    assert [f.task for f in flags] == ["ER"]  # logD-like values (negatives), log units and registered endpoints pass
    assert flags[0].decades > 2.5 and "--endpoint-map" in flags[0].message()
