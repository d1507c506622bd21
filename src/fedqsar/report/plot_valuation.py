"""Figures of contribution valuation: a probe's per-task gains, the leave-one-out heat map."""

from __future__ import annotations

import numpy as np
import pandas as pd

from fedqsar.report.metric_names import metric_info
from fedqsar.report.plot_results import VERDICT_COLOURS, verdict
from fedqsar.report.plots import Plot, new_figure, to_plot

MAX_TASKS_SHOWN = 40


def plot_probe_tasks(tasks: pd.DataFrame, challenger: str = "joined", reference: str = "local") -> Plot:
    """Forest plot: per task the gain (challenger - reference) on the validation fold, with its 95% CI.

    Parameters
    ----------
    tasks
        ``probe_tasks.csv``: task, metric, delta, ci_low, ci_high (one panel per metric).
    """
    metrics = [m for m in ("auc_pr", "rmse") if m in set(tasks["metric"])]
    longest = max((int((tasks["metric"] == m).sum()) for m in metrics), default=1)
    shown = min(longest, MAX_TASKS_SHOWN)
    fig, axes = new_figure(max(1, len(metrics)), max_columns=2, height=max(2.4, 0.8 + 0.24 * shown))
    for ax, metric in zip(axes, metrics, strict=False):
        info = metric_info(metric)
        rows = tasks[tasks["metric"] == metric].sort_values("delta").tail(MAX_TASKS_SHOWN).reset_index(drop=True)
        for y, row in rows.iterrows():
            colour = VERDICT_COLOURS[verdict(row.delta, row.ci_low, row.ci_high, info.higher_is_better)]
            low, high = np.nan_to_num([row.delta - row.ci_low, row.ci_high - row.delta])
            ax.errorbar(row.delta, y, xerr=[[max(low, 0)], [max(high, 0)]], fmt="o", color=colour, capsize=3, ms=5)
        ax.axvline(0, color="black", linewidth=0.9)
        ax.set_yticks(range(len(rows)), [str(t)[:28] for t in rows["task"]], fontsize="x-small")
        ax.set_ylim(-0.6, len(rows) - 0.4)
        better = "→ joining better" if info.higher_is_better else "← joining better"
        ax.set_xlabel(f"Δ {info.label} ({challenger} − {reference})   {better}")
        ax.set_title(info.label)
    return to_plot(
        fig,
        f"Forest plot of the per-task change from the {reference} to the {challenger} model on the candidate's "
        "validation fold, with 95% compound-bootstrap intervals.",
    )


def plot_leave_one_out(table: pd.DataFrame, metrics: list[str], partners: list[str]) -> Plot:
    """Heat maps, one per metric: row = partner removed, column = partner affected, colour = its effect.

    The colour is the removed partner's contribution in the metric's direction of improvement
    (green: the affected partner is better *with* it), labelled with the signed delta; a
    star marks an interval that excludes 0.

    Parameters
    ----------
    table
        ``evaluation/leave_one_out.csv`` rows of one model kind: removed, partner, metric,
        delta (with all − without), ci_low, ci_high.
    """
    fig, axes = new_figure(max(1, len(metrics)), max_columns=2, height=max(2.6, 1.2 + 0.55 * len(partners)))
    for ax, metric in zip(axes, metrics, strict=False):
        info = metric_info(metric)
        sign = 1.0 if info.higher_is_better is not False else -1.0
        rows = table[table["metric"] == metric]
        grid = np.full((len(partners), len(partners)), np.nan)
        stars = np.zeros_like(grid, dtype=bool)
        for row in rows.itertuples():
            if row.removed in partners and row.partner in partners:
                i, j = partners.index(row.removed), partners.index(row.partner)
                grid[i, j] = row.delta
                stars[i, j] = bool(np.isfinite(row.ci_low) and (row.ci_low > 0 or row.ci_high < 0))
        scale = float(np.nanmax(np.abs(grid))) if np.isfinite(grid).any() else 1.0
        image = ax.imshow(sign * grid, cmap="RdYlGn", vmin=-scale or -1, vmax=scale or 1)
        for i in range(len(partners)):
            for j in range(len(partners)):
                text = "—" if not np.isfinite(grid[i, j]) else f"{grid[i, j]:+.3f}" + ("*" if stars[i, j] else "")
                ax.text(j, i, text, ha="center", va="center", fontsize="small")
        ax.set_xticks(range(len(partners)), partners, rotation=30, ha="right")
        ax.set_yticks(range(len(partners)), partners)
        ax.set_xlabel("partner affected")
        ax.set_ylabel("partner removed")
        ax.set_title(f"{info.label}: with − without")
        ax.grid(False)
        fig.colorbar(image, ax=ax, shrink=0.8, label="better with it →")
    return to_plot(
        fig,
        "Heat maps of each partner's marginal effect on every other partner's test metric "
        "(with all partners minus without the row's partner); * marks a 95% interval excluding 0.",
    )
