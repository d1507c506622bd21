"""Contribution valuation by leave-one-out (simulation only: every partner's data on one machine).

After the full federation, the federation is re-run without each partner ``p`` in turn, with
the same settings, folds and local models. For every other partner ``q`` and model kind
(``federated`` and, when evaluated, ``personalised``), ``p``'s marginal effect is

    delta = metric_q(with every partner) - metric_q(without p)

on ``q``'s test fold, per partner mean over its counted tasks, with the interval of the
protocol (bootstrap over tasks with >= 5 tasks, over test compounds otherwise). For AUC-PR a
positive delta means ``p`` helps ``q``; for RMSE a negative one does.

Each re-run writes its federation (ledger, checkpoints, published trunk) to
``RUN/evaluation/leave_one_out/without_<p>/``; the trunk there is what the consortium without
``p`` would publish to ``p`` as a candidate (``fedqsar probe``). The table is
``evaluation/leave_one_out.csv``: ``removed, partner, model_kind, metric, with_all, without,
delta, ci_low, ci_high, n_tasks``.
"""

from __future__ import annotations

import time
from dataclasses import replace

import pandas as pd

from fedqsar.evaluation.intervals import small_task_intervals
from fedqsar.evaluation.scoring import score
from fedqsar.evaluation.stages import EvaluationRun, Predictions, federated_predictions
from fedqsar.evaluation.uplift import uplift_table
from fedqsar.federation.config import FederationConfig

LOO_DIR = "evaluation/leave_one_out"
LOO_COLUMNS = (
    "removed",
    "partner",
    "model_kind",
    "metric",
    "with_all",
    "without",
    "delta",
    "ci_low",
    "ci_high",
    "n_tasks",
)
SEPARATOR = "-without-"


def without_config(fed_cfg: FederationConfig, n_partners: int) -> FederationConfig:
    """The federation settings for ``n_partners`` (SecAgg+ off below 3 partners, ``min_partners`` capped)."""
    cfg = replace(fed_cfg, min_partners=min(fed_cfg.min_partners, n_partners))
    if n_partners < 3 and cfg.secagg.enabled:
        cfg = replace(cfg, secagg=replace(cfg.secagg, enabled=False))
    return cfg


def leave_one_out(run: EvaluationRun) -> tuple[pd.DataFrame, Predictions]:
    """Re-federate without each partner; the table of marginal effects and the predictions it used.

    ``run.predictions`` must hold the full federation's ``federated`` (and ``personalised``)
    predictions; returns (``LOO_COLUMNS`` table, the re-runs' predictions keyed
    ``(partner, "<kind>-without-<removed>")``).
    """
    names = sorted(run.prepared)
    kinds = [k for k in ("federated", "personalised") if any((n, k) in run.predictions for n in names)]
    extra: Predictions = {}
    for removed in names:
        others = [n for n in names if n != removed]
        if not others:
            continue
        started = time.perf_counter()
        folder = run.out / LOO_DIR / f"without_{removed}"
        suffix = f"{SEPARATOR}{removed}"
        extra.update(
            federated_predictions(run, others, folder, without_config(run.fed_cfg, len(others)), suffix=suffix)
        )
        run.timings.append(("leave_one_out", removed, time.perf_counter() - started))
    return marginal_effects(run, kinds, extra), extra


def marginal_effects(run: EvaluationRun, kinds: list[str], extra: Predictions) -> pd.DataFrame:
    """Per (removed, partner, kind, metric): with all - without, and its interval."""
    test_fold = int(run.train_cfg.test_fold) if run.train_cfg.test_fold is not None else -1
    predictions = {**{k: v for k, v in run.predictions.items() if k[1] in kinds}, **extra}
    comparisons = tuple((kind, f"{kind}{SEPARATOR}{removed}") for kind in kinds for removed in sorted(run.prepared))
    cfg = replace(
        run.eval_cfg, uplift=replace(run.eval_cfg.uplift, comparisons=comparisons, include_all_partners=False)
    )
    parts = [
        score(run.prepared[name], run.test_rows[name], values, name, kind, test_fold, cfg)
        for (name, kind), values in sorted(predictions.items())
    ]
    if not parts:
        return pd.DataFrame(columns=list(LOO_COLUMNS))
    metrics = pd.concat(parts, ignore_index=True)
    intervals = small_task_intervals(run.prepared, run.test_rows, predictions, metrics, cfg)
    uplift = uplift_table(metrics, cfg.uplift, intervals)
    rows = []
    for row in uplift.itertuples():
        challenger, _, reference = str(row.comparison).partition("_vs_")
        removed = reference.partition(SEPARATOR)[2]
        rows.append(
            {
                "removed": removed,
                "partner": row.partner,
                "model_kind": challenger,
                "metric": row.metric,
                "with_all": _mean(metrics, row, challenger),
                "without": _mean(metrics, row, reference),
                "delta": row.delta_abs,
                "ci_low": row.ci_low,
                "ci_high": row.ci_high,
                "n_tasks": row.n_tasks,
            }
        )
    return pd.DataFrame(rows, columns=list(LOO_COLUMNS))


def _mean(metrics: pd.DataFrame, row: object, kind: str) -> float:
    """Mean of ``kind`` over the tasks the comparison paired (both kinds have a value)."""
    partner, metric = row.partner, row.metric  # type: ignore[attr-defined]
    challenger, _, reference = str(row.comparison).partition("_vs_")  # type: ignore[attr-defined]
    sel = metrics[(metrics["partner"] == partner) & (metrics["metric"] == metric)]
    wide = sel.pivot_table(index="task", columns="model_kind", values="value", aggfunc="mean")
    paired = wide[[challenger, reference]].dropna()
    return float(paired[kind].mean()) if len(paired) else float("nan")
