"""Figures of the results: uplift per partner, local vs federated per task, training curves."""

from __future__ import annotations

import numpy as np
import pandas as pd

from fedqsar.report.metric_names import metric_info
from fedqsar.report.plots import (
    BETTER,
    UNCLEAR,
    WORSE,
    PartnerStyle,
    Plot,
    new_figure,
    partner_legend,
    present_partners,
    to_plot,
)


def verdict(delta: float, ci_low: float, ci_high: float, higher_is_better: bool | None) -> str:
    """Does the 95% interval of the delta exclude 0, and on which side?

    Returns ``"better"``, ``"worse"``, ``"unclear"`` (the interval includes 0, or the metric's
    direction is unknown) or ``"no interval"`` (the interval is missing, e.g. a single task).
    ``delta`` is challenger minus reference; for an error metric a negative delta is better.
    """
    if not np.isfinite([ci_low, ci_high]).all():
        return "no interval"
    if higher_is_better is None:
        return "unclear"
    if ci_low > 0:
        return "better" if higher_is_better else "worse"
    if ci_high < 0:
        return "worse" if higher_is_better else "better"
    return "unclear"


VERDICT_COLOURS = {"better": BETTER, "worse": WORSE, "unclear": UNCLEAR, "no interval": UNCLEAR}


def plot_uplift_forest(
    uplift: pd.DataFrame, metrics: list[str], partners: list[str], models: tuple[str, str] = ("federated", "local")
) -> Plot:
    """Forest plot: per metric a panel, per partner the delta (challenger - reference) and its 95% CI.

    Parameters
    ----------
    uplift
        ``evaluation/uplift.csv`` rows of one comparison, one row per (partner, metric).
    metrics
        Metric names, one panel each, in order.
    partners
        Partners top to bottom.
    models
        (challenger, reference) of the comparison, for the axis labels.
    """
    challenger, reference = models
    fig, axes = new_figure(len(metrics), max_columns=2, height=max(2.4, 0.9 + 0.55 * len(partners)))
    for ax, metric in zip(axes, metrics, strict=True):
        info = metric_info(metric)
        rows = uplift[uplift["metric"] == metric].set_index("partner")
        for y, partner in enumerate(reversed(partners)):
            if partner not in rows.index:
                continue
            row = rows.loc[partner]
            colour = VERDICT_COLOURS[verdict(row.delta_abs, row.ci_low, row.ci_high, info.higher_is_better)]
            low, high = np.nan_to_num([row.delta_abs - row.ci_low, row.ci_high - row.delta_abs])
            ax.errorbar(row.delta_abs, y, xerr=[[max(low, 0)], [max(high, 0)]], fmt="o", color=colour, capsize=4, ms=7)
        ax.axvline(0, color="black", linewidth=0.9)
        ax.set_yticks(range(len(partners)), list(reversed(partners)))
        ax.set_ylim(-0.6, len(partners) - 0.4)
        better = {True: f"→ {challenger} better", False: f"← {challenger} better", None: ""}[info.higher_is_better]
        ax.set_xlabel(f"Δ {info.label} ({challenger} − {reference})   {better}")
        ax.set_title(info.label)
    return to_plot(
        fig,
        "Forest plot of the change in "
        + ", ".join(metric_info(m).label for m in metrics)
        + f" from the {reference} to the {challenger} model per partner, with 95% confidence intervals.",
    )


def plot_recovered_share(uplift: pd.DataFrame, metrics: list[str], partners: list[str]) -> Plot:
    """Bars: share of the pooled model's gain that federation recovered, per partner and metric."""
    fig, axes = new_figure(1, height=max(2.4, 1.0 + 0.28 * len(partners) * max(1, len(metrics))))
    ax = axes[0]
    width = 0.8 / max(1, len(metrics))
    for i, metric in enumerate(metrics):
        rows = uplift[uplift["metric"] == metric].set_index("partner")
        shares = [rows.recovered_share.get(p, np.nan) for p in reversed(partners)]
        y = np.arange(len(partners)) + (i - (len(metrics) - 1) / 2) * width
        ax.barh(
            y,
            np.clip(np.nan_to_num(shares), -0.5, 1.5),
            height=width,
            label=metric_info(metric).label,
            color=("#4c72b0", "#dd8452", "#55a868", "#8172b3")[i % 4],
        )
    ax.axvline(0, color="black", linewidth=0.9)
    ax.axvline(1, color="#555555", linewidth=0.9, linestyle="--")
    ax.set_yticks(range(len(partners)), list(reversed(partners)))
    ax.set_xlabel("share of the pooled gain recovered by federation (1 = as good as pooling)")
    ax.legend(frameon=False, loc="lower right", fontsize="small")
    fig.set_figwidth(6.5)
    return to_plot(
        fig, "Bar chart of the share of the gain of pooling all data that federation recovered, per partner."
    )


def task_pairs(metrics: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Per (partner, task): local and federated value of ``metric``, averaged over folds.

    Returns
    -------
    pandas.DataFrame
        Columns ``partner, task, local, federated``; tasks lacking either kind are left out.
    """
    rows = metrics[(metrics["metric"] == metric) & metrics["model_kind"].isin(["local", "federated"])]
    wide = rows.pivot_table(index=["partner", "task"], columns="model_kind", values="value", aggfunc="mean")
    if not {"local", "federated"} <= set(wide.columns):
        return pd.DataFrame(columns=["partner", "task", "local", "federated"])
    return wide[["local", "federated"]].dropna().reset_index()


def plot_task_scatter(metrics: pd.DataFrame, names: list[str], style: PartnerStyle) -> Plot:
    """Per metric a panel: local (x) vs federated (y) per task, one marker per partner, diagonal."""
    fig, axes = new_figure(len(names), max_columns=2, height=4.0)
    for ax, metric in zip(axes, names, strict=True):
        pairs = task_pairs(metrics, metric)
        for partner, group in pairs.groupby("partner"):
            ax.scatter(
                group["local"],
                group["federated"],
                s=22,
                alpha=0.75,
                marker=style.marker(partner),
                color=style.colour(partner),
                edgecolors="white",
                linewidths=0.4,
                rasterized=len(pairs) > 2000,
            )
        low = float(np.nanmin(pairs[["local", "federated"]].to_numpy())) if len(pairs) else 0.0
        high = float(np.nanmax(pairs[["local", "federated"]].to_numpy())) if len(pairs) else 1.0
        pad = 0.04 * (high - low or 1.0)
        ax.plot([low - pad, high + pad], [low - pad, high + pad], color="black", linewidth=0.9)
        ax.set_xlim(low - pad, high + pad)
        ax.set_ylim(low - pad, high + pad)
        ax.set_aspect("equal")
        label = metric_info(metric).label
        ax.set_xlabel(f"local {label}")
        ax.set_ylabel(f"federated {label}")
        ax.set_title(label)
    partner_legend(fig, style, present_partners(style, metrics["partner"]))
    return to_plot(
        fig,
        "Scatter plots of each task's local against federated "
        + ", ".join(metric_info(m).label for m in names)
        + ", one marker shape per partner.",
    )


def plot_training_curves(history: pd.DataFrame, names: list[str], style: PartnerStyle) -> Plot:
    """Per metric a panel: value per federation round, one line per partner."""
    fig, axes = new_figure(len(names), max_columns=3)
    for ax, metric in zip(axes, names, strict=True):
        rows = history[history["metric"] == metric].sort_values("round")
        for partner, group in rows.groupby("partner"):
            ax.plot(
                group["round"],
                group["value"],
                marker=style.marker(partner),
                ms=3.5,
                color=style.colour(partner),
                linewidth=1.4,
            )
        ax.set_xlabel("federation round")
        ax.set_title(metric_info(metric).label)
    partner_legend(fig, style, present_partners(style, history["partner"]), line=True)
    return to_plot(
        fig,
        "Line charts of "
        + ", ".join(metric_info(m).label for m in names)
        + " per federation round, one line per partner.",
    )
