from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score

from fedqsar.errors import InputSchemaError
from fedqsar.evaluation.uplift import (
    ALL_PARTNERS,
    UPLIFT_COLUMNS,
    UpliftConfig,
    bootstrap_mean_ci,
    compound_bootstrap,
    recovered_share,
    riptop,
    uplift_table,
    weighted_average_precision,
    weighted_rmse,
    write_uplift,
)


def _long(values: dict[tuple[str, str, str, str], float]) -> pd.DataFrame:
    rows = [
        {"partner": p, "task": t, "endpoint": "e", "model_kind": k, "fold": 0, "metric": m, "value": v}
        for (p, t, k, m), v in values.items()
    ]
    return pd.DataFrame(rows)


def _two_task_auc() -> pd.DataFrame:
    return _long(
        {
            ("A", "t1", "local", "auc_pr"): 0.5,
            ("A", "t1", "federated", "auc_pr"): 0.6,
            ("A", "t1", "pooled", "auc_pr"): 0.7,
            ("A", "t2", "local", "auc_pr"): 0.7,
            ("A", "t2", "federated", "auc_pr"): 0.8,
            ("A", "t2", "pooled", "auc_pr"): 0.9,
        }
    )


def test_riptop_directions() -> None:
    assert riptop(0.6, 0.5, "auc_pr") == pytest.approx(0.2)  # (0.6-0.5)/(1-0.5)
    assert riptop(0.8, 1.0, "rmse") == pytest.approx(0.2)  # (1.0-0.8)/1.0: lower RMSE is better
    assert riptop(1.2, 1.0, "rmse") == pytest.approx(-0.2)
    assert np.isnan(riptop(0.9, 1.0, "auc_pr"))  # reference already perfect
    assert np.isnan(riptop(0.5, 0.4, "unknown_metric"))


def test_recovered_share() -> None:
    assert recovered_share(0.6, 0.5, 0.7, 1e-9) == pytest.approx(0.5)
    assert np.isnan(recovered_share(0.6, 0.5, 0.5, 1e-9))
    assert np.isnan(recovered_share(0.6, 0.5, 0.45, 1e-9))  # pooling worse than local: no gain to recover
    assert recovered_share(0.95, 1.0, 0.9, 1e-9, "rmse") == pytest.approx(0.5)  # lower RMSE is the gain
    assert np.isnan(recovered_share(0.95, 1.0, 1.1, 1e-9, "rmse"))


def test_uplift_table_known_values() -> None:
    cfg = UpliftConfig(metrics=("auc_pr",), n_bootstrap=500, min_tasks_for_task_bootstrap=2)
    out = uplift_table(_two_task_auc(), cfg)
    assert list(out.columns) == list(UPLIFT_COLUMNS)
    row = out[(out.partner == "A") & (out.comparison == "federated_vs_local")].iloc[0]
    assert row.local == pytest.approx(0.6) and row.federated == pytest.approx(0.7) and row.pooled == pytest.approx(0.8)
    assert row.delta_abs == pytest.approx(0.1)
    assert row.delta_rel == pytest.approx(0.1 / 0.6)
    assert row.riptop == pytest.approx(0.1 / 0.4)
    assert row.recovered_share == pytest.approx(0.5)
    assert row.n_tasks == 2
    # every task improves by exactly 0.1, so the bootstrap interval collapses onto it
    assert row.ci_low == pytest.approx(0.1) and row.ci_high == pytest.approx(0.1)
    assert ALL_PARTNERS in set(out.partner)
    # rf absent -> no rf comparisons
    assert not out.comparison.str.contains("rf").any()


def test_two_tasks_never_get_a_task_bootstrap_interval_by_default() -> None:
    """Two tasks give only two possible bootstrap means: such an interval must not be called significant."""
    row = uplift_table(_two_task_auc(), UpliftConfig(metrics=("auc_pr",))).query(
        "partner == 'A' and comparison == 'federated_vs_local'"
    )
    assert np.isnan(row.ci_low.iloc[0]) and np.isnan(row.ci_high.iloc[0])
    given = {("A", "auc_pr", "federated_vs_local"): (-0.01, 0.2)}
    row = uplift_table(_two_task_auc(), UpliftConfig(metrics=("auc_pr",)), given).query(
        "partner == 'A' and comparison == 'federated_vs_local'"
    )
    assert (row.ci_low.iloc[0], row.ci_high.iloc[0]) == (-0.01, 0.2)


def test_rmse_improvement_is_positive_riptop() -> None:
    metrics = _long(
        {
            ("B", "t1", "local", "rmse"): 1.0,
            ("B", "t1", "federated", "rmse"): 0.9,
            ("B", "t2", "local", "rmse"): 0.8,
            ("B", "t2", "federated", "rmse"): 0.7,
        }
    )
    row = (
        uplift_table(metrics, UpliftConfig(metrics=("rmse",), min_tasks_for_task_bootstrap=2))
        .query("partner == 'B'")
        .iloc[0]
    )
    assert row.delta_abs == pytest.approx(-0.1)
    assert row.riptop == pytest.approx(0.1 / 0.9)
    assert np.isnan(row.pooled) and np.isnan(row.recovered_share)


def test_unpaired_tasks_are_dropped() -> None:
    metrics = pd.concat(
        [
            _two_task_auc(),
            _long({("A", "t3", "local", "auc_pr"): 0.1}),  # no federated value -> not compared
            _long({("A", "t4", "local", "auc_pr"): 0.2, ("A", "t4", "federated", "auc_pr"): np.nan}),
        ]
    )
    row = (
        uplift_table(metrics, UpliftConfig(metrics=("auc_pr",)))
        .query("partner == 'A' and comparison == 'federated_vs_local'")
        .iloc[0]
    )
    assert row.n_tasks == 2 and row.local == pytest.approx(0.6)


def test_single_task_has_no_task_interval_unless_compound_ci_given() -> None:
    metrics = _long({("C", "t1", "local", "rmse"): 1.0, ("C", "t1", "federated", "rmse"): 0.9})
    cfg = UpliftConfig(metrics=("rmse",), include_all_partners=False)
    row = uplift_table(metrics, cfg).iloc[0]
    assert np.isnan(row.ci_low)
    row = uplift_table(metrics, cfg, {("C", "rmse", "federated_vs_local"): (-0.2, 0.05)}).iloc[0]
    assert (row.ci_low, row.ci_high) == (-0.2, 0.05)


def test_bootstrap_is_seeded_and_covers_mean() -> None:
    deltas = np.random.default_rng(1).normal(0.05, 0.1, size=40)
    a = bootstrap_mean_ci(deltas, 1000, 0.95, seed=3)
    b = bootstrap_mean_ci(deltas, 1000, 0.95, seed=3)
    assert a == b
    assert a[0] < deltas.mean() < a[1]
    assert a[1] - a[0] < 0.1  # ~ 4 standard errors of the mean (0.1/sqrt(40) each)


def test_missing_columns_are_named() -> None:
    with pytest.raises(InputSchemaError, match="model_kind"):
        uplift_table(pd.DataFrame({"partner": ["A"], "task": ["t"], "metric": ["rmse"], "value": [1.0]}))


def test_compound_bootstrap_detects_a_real_improvement() -> None:
    rng = np.random.default_rng(0)
    n = 200
    y = rng.normal(size=n)
    good = y + rng.normal(scale=0.3, size=n)
    bad = y + rng.normal(scale=1.0, size=n)
    low, high = compound_bootstrap(y, good, bad, np.zeros(n, int), np.arange(n), weighted_rmse, n_bootstrap=200, seed=1)
    assert high < 0  # challenger's RMSE is clearly lower
    low2, high2 = compound_bootstrap(y, bad, bad, np.zeros(n, int), np.arange(n), weighted_rmse, n_bootstrap=50, seed=1)
    assert low2 == pytest.approx(0.0) and high2 == pytest.approx(0.0)


def test_weighted_average_precision_is_scikit_learns_on_the_drawn_copies() -> None:
    rng = np.random.default_rng(3)
    for _ in range(50):
        n = int(rng.integers(4, 60))
        y = (rng.random(n) < 0.4).astype(float)
        scores = np.round(rng.random(n), 1)  # many ties
        counts = rng.integers(0, 4, size=(1, n)).astype(float)
        copies = np.repeat(np.arange(n), counts[0].astype(int))
        got = weighted_average_precision(y, scores, counts)[0]
        if len(set(y[copies])) < 2:
            assert np.isnan(got)
        else:
            assert got == pytest.approx(average_precision_score(y[copies], scores[copies]), abs=1e-12)


def test_write_uplift(tmp_path: Path) -> None:
    out = uplift_table(_two_task_auc(), UpliftConfig(metrics=("auc_pr",), n_bootstrap=100))
    path = write_uplift(out, tmp_path / "evaluation" / "uplift.csv")
    back = pd.read_csv(path)
    assert list(back.columns) == list(UPLIFT_COLUMNS) and len(back) == len(out)
