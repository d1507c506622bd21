"""Tasks: thresholds (expert / fixed / rules), censored labels, quorums, weights, columns."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from fedqsar.prep import tables
from fedqsar.prep.config import TaskConfig
from fedqsar.prep.tasks import (
    build_tasks,
    class_labels,
    fixed_adaptive_threshold,
    median_quartile_thresholds,
    rows_without_task,
)
from fedqsar.prepared import TASK_COLUMNS

SMALL_QUORUM = TaskConfig(min_positives=1, min_negatives=1, min_regression_values=2, min_uncensored_values=1)


def aggregated(
    values: list[float],
    censor: list[int] | None = None,
    assay: str = "A",
    endpoint: str = "pXC50",
    family: str = "potency",
    unit: str = "-log10(M)",
    start: int = 0,
) -> pd.DataFrame:
    n = len(values)
    return pd.DataFrame(
        {
            "input_row": np.arange(start, start + n),
            "structure_key": [f"s{start + i}" for i in range(n)],
            "assay_id": [assay] * n,
            "endpoint": [endpoint] * n,
            "family": [family] * n,
            "canonical_unit": [unit] * n,
            "value_canonical": np.array(values, float),
            "censor": np.array(censor or [0] * n, np.int8),
        }
    )


def assays(**fields: object) -> pd.DataFrame:
    return pd.DataFrame([tables.assay_row("A", **fields)])


@pytest.mark.parametrize(
    ("value", "censor", "expected"),
    [
        (7.0, 0, 1.0),
        (6.5, 0, 1.0),
        (6.0, 0, 0.0),
        (7.0, 1, 1.0),  # > 7 is active for 6.5
        (6.0, 1, math.nan),  # > 6 is undetermined for 6.5
        (7.0, -1, math.nan),  # < 7 is undetermined
        (6.0, -1, 0.0),
        (6.5, -1, 0.0),  # < 6.5: below the threshold
    ],
)
def test_class_labels_high(value: float, censor: int, expected: float) -> None:
    label = class_labels(np.array([value]), np.array([censor]), 6.5, "high")[0]
    assert (math.isnan(label) and math.isnan(expected)) or label == expected


@pytest.mark.parametrize(
    ("value", "censor", "expected"),
    [
        (1.0, 0, 1.0),
        (2.0, 0, 1.0),
        (3.0, 0, 0.0),
        (1.0, -1, 1.0),
        (3.0, -1, math.nan),
        (3.0, 1, 0.0),
        (2.0, 1, 0.0),
        (1.0, 1, math.nan),
    ],
)
def test_class_labels_low(value: float, censor: int, expected: float) -> None:
    label = class_labels(np.array([value]), np.array([censor]), 2.0, "low")[0]
    assert (math.isnan(label) and math.isnan(expected)) or label == expected


def test_expert_thresholds_and_censored_observation_dropped_for_one_task_only() -> None:
    agg = aggregated([8.0, 7.0, 5.0, 6.0], [0, -1, 0, 0])  # "<7"
    tasks, labels = build_tasks(agg, assays(thresholds=(6.5, 7.5)), SMALL_QUORUM)
    assert tasks["task_name"].tolist() == ["A", "A@6.5", "A@7.5"]
    assert tasks["kind"].tolist() == ["regression", "classification", "classification"]
    by_task = labels.groupby("task_id")["input_row"].apply(list)
    assert by_task[0] == [0, 1, 2, 3]  # regression keeps "<7" with its censor
    assert by_task[1] == [0, 2, 3]  # "<7" undetermined at 6.5
    assert by_task[2] == [0, 1, 2, 3]  # "<7" is inactive at 7.5
    assert labels.loc[labels.task_id == 0, "censor"].tolist() == [0, -1, 0, 0]
    assert rows_without_task(agg, labels).size == 0


def test_undetermined_everywhere_without_regression_is_no_task() -> None:
    agg = aggregated([8.0, 7.0, 5.0], [0, -1, 0])
    tasks, labels = build_tasks(agg, assays(thresholds=(6.5,), use_in_regression=False), SMALL_QUORUM)
    assert tasks["kind"].tolist() == ["classification"]
    assert rows_without_task(agg, labels).tolist() == [1]


def test_fixed_endpoint_thresholds_for_adme() -> None:
    agg = aggregated([0.5, 2.0, 3.5], endpoint="logD7.4", family="adme", unit="log")
    tasks, labels = build_tasks(agg, None, SMALL_QUORUM)
    assert tasks["threshold"].tolist()[1:] == [1.0, 3.0]
    assert labels.loc[labels.task_id == 1, "y"].tolist() == [0.0, 1.0, 1.0]
    assert labels.loc[labels.task_id == 2, "y"].tolist() == [0.0, 0.0, 1.0]
    assert labels["y"].dtype == np.float32 and labels["censor"].dtype == np.int8


def test_fixed_adaptive_potency_threshold() -> None:
    cfg = TaskConfig(min_positives=2, min_negatives=2)
    values = np.array([8.5, 7.5, 7.2, 6.5, 6.0, 5.5, 5.0, 4.5])
    assert fixed_adaptive_threshold(values, np.zeros(8), cfg) == 7.0  # 8: 1 active; 7: 3 of 8 active
    few = np.array([5.0, 5.1, 5.2])
    assert fixed_adaptive_threshold(few, np.zeros(3), cfg) == pytest.approx(5.1)  # fallback: median


def test_median_quartile_rule() -> None:
    values = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    assert median_quartile_thresholds(values, np.zeros(5), "high") == (3.0, 4.0)
    assert median_quartile_thresholds(values, np.zeros(5), "low") == (2.0, 3.0)
    assert median_quartile_thresholds(np.array([1.0]), np.zeros(1), "high") == ()


def test_unknown_endpoint_rule_depends_on_tuner_assay_type() -> None:
    agg = aggregated([1.0, 2.0, 3.0, 4.0, 5.0], endpoint="", family="other", unit="")
    other, _ = build_tasks(agg, assays(assay_type="ADME"), SMALL_QUORUM)
    assert other["threshold"].dropna().tolist() == [3.0, 4.0]
    potency, _ = build_tasks(agg, assays(assay_type="OTHER"), SMALL_QUORUM)
    assert potency["threshold"].dropna().tolist() == [5.0]  # first trial (8, 7, 6, 5) with >= 20 % actives


def test_auto_thresholds_off_and_auxiliary_thresholds() -> None:
    agg = aggregated([8.0, 7.0, 6.0, 5.0])
    off, _ = build_tasks(agg, None, TaskConfig(auto_thresholds=False))
    assert off["kind"].tolist() == ["regression"]
    aux, _ = build_tasks(
        agg, assays(thresholds=(6.5,)), TaskConfig(auxiliary_thresholds=True, min_positives=1, min_negatives=1)
    )
    assert aux["threshold"].dropna().tolist() == [6.0, 6.5, 7.0]
    assert aux["aggregation_weight"].tolist() == [0.0, 0.0, 1.0, 0.0]  # regression fails quorum; aux tasks weigh 0


def test_labels_endpoint_gives_one_classification_task() -> None:
    agg = aggregated([1.0, 0.0, 1.0], endpoint="label", family="label", unit="label")
    tasks, labels = build_tasks(
        agg, assays(thresholds=(6.5,), is_binary=True, use_in_regression=False, weight=0.5), SMALL_QUORUM
    )
    assert tasks["kind"].tolist() == ["classification"] and tasks["task_name"].tolist() == ["A"]
    assert tasks.loc[0, "threshold"] == 6.5 and tasks.loc[0, "training_weight"] == 0.5
    assert labels["y"].tolist() == [1.0, 0.0, 1.0]


def test_quorum_flags_counts_and_weights() -> None:
    cfg = TaskConfig(min_positives=2, min_negatives=2, min_regression_values=4, min_uncensored_values=3)
    agg = aggregated([8.0, 7.0, 5.0, 4.0, 4.5], [0, 0, 0, 0, -1])
    tasks, _ = build_tasks(agg, assays(thresholds=(6.5, 7.5), weight=2.0), cfg)
    reg, at65, at75 = (tasks.iloc[i] for i in range(3))
    assert (reg.n_observed, reg.n_censored, reg.passes_quorum) == (5, 1, True)
    assert (at65.n_positive, at65.n_negative, at65.passes_quorum, at65.aggregation_weight) == (2, 3, True, 1.0)
    assert (at75.n_positive, at75.n_negative, at75.passes_quorum, at75.aggregation_weight) == (1, 4, False, 0.0)
    assert tasks["training_weight"].tolist() == [2.0, 2.0, 2.0]


def test_columns_ids_and_several_assays() -> None:
    agg = pd.concat(
        [
            aggregated([8.0, 5.0], assay="B"),
            aggregated([2.0, 0.5], assay="A", endpoint="logD7.4", family="adme", unit="log", start=2),
        ],
        ignore_index=True,
    )
    tasks, labels = build_tasks(agg, None, SMALL_QUORUM)
    assert tuple(tasks.columns) == TASK_COLUMNS
    assert tasks["task_id"].tolist() == list(range(len(tasks)))
    assert tasks["task_name"].is_unique
    assert tasks.loc[0, "assay_id"] == "A" and tasks.loc[0, "endpoint"] == "logD7.4" and tasks.loc[0, "unit"] == "log"
    assert set(labels["task_id"]) == set(tasks["task_id"])
    assert labels.groupby("task_id").size().tolist() == tasks["n_observed"].tolist()


def test_switches_for_kinds() -> None:
    agg = aggregated([8.0, 5.0])
    only_reg, _ = build_tasks(agg, None, TaskConfig(make_classification=False))
    assert only_reg["kind"].tolist() == ["regression"]
    only_clf, _ = build_tasks(agg, assays(thresholds=(6.5,)), TaskConfig(make_regression=False))
    assert only_clf["kind"].tolist() == ["classification"]
    empty_tasks, empty_labels = build_tasks(agg.iloc[:0], None, TaskConfig())
    assert tuple(empty_tasks.columns) == TASK_COLUMNS and len(empty_tasks) == 0 and len(empty_labels) == 0
