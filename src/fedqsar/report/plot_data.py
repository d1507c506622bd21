"""Figures of the data and of trust: endpoint distributions, conformal coverage, domain error."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from fedqsar.report.plots import PartnerStyle, Plot, new_figure, partner_legend, present_partners, to_plot

MAX_ENDPOINTS = 12
"""Endpoints shown as distributions (those with the most values); the table lists all."""


def plot_endpoint_distributions(endpoints: pd.DataFrame, style: PartnerStyle) -> Plot:
    """Per endpoint a panel: each partner's value distribution as an outlined density histogram.

    Bins are shared by all partners of an endpoint (range = 1st to 99th percentile of all
    values), so shifted distributions stand out.
    """
    names = list(endpoints["endpoint"].value_counts().index[:MAX_ENDPOINTS])
    fig, axes = new_figure(len(names), max_columns=3, height=3.0)
    for ax, endpoint in zip(axes, names, strict=True):
        rows = endpoints[(endpoints["endpoint"] == endpoint) & np.isfinite(endpoints["value"])]
        low, high = np.percentile(rows["value"], [1, 99]) if len(rows) else (0.0, 1.0)
        bins = np.linspace(low, high if high > low else low + 1.0, 31).tolist()
        for partner, group in rows.groupby("partner"):
            values = np.clip(group["value"], bins[0], bins[-1])
            ax.hist(values, bins=bins, density=True, histtype="step", linewidth=1.6, color=style.colour(partner))
            ax.hist(values, bins=bins, density=True, histtype="stepfilled", alpha=0.12, color=style.colour(partner))
        ax.set_title(endpoint)
        ax.set_yticks([])
        ax.set_ylabel("density")
        ax.set_xlabel("canonical value")
    partner_legend(fig, style, present_partners(style, endpoints["partner"]), line=True)
    return to_plot(fig, "Histograms of canonical endpoint values, one outline per partner, one panel per endpoint.")


EFFICIENCY_LABELS = {
    "classification": ("Prediction set size", "mean set size (1 is ideal)"),
    "regression": ("Interval width", "mean interval width (task units)"),
}


def plot_coverage(coverage: pd.DataFrame, style: PartnerStyle) -> Plot:
    """Coverage vs nominal confidence, then efficiency vs confidence per task kind.

    Each point is the mean over a partner's tasks at one confidence level; in the coverage
    panel the vertical bar spans the lowest to the highest task. Efficiency is a set size for
    classification and an interval width for regression, so kinds get separate panels
    (one "efficiency" panel when the table has no ``kind`` column).
    """
    kinds = sorted(coverage["kind"].unique()) if "kind" in coverage.columns else ["all"]
    fig, axes = new_figure(1 + len(kinds), max_columns=3)
    _coverage_panel(axes[0], coverage, style)
    for ax, kind in zip(axes[1:], kinds, strict=True):
        rows = coverage if kind == "all" else coverage[coverage["kind"] == kind]
        title, ylabel = EFFICIENCY_LABELS.get(kind, ("Efficiency", f"mean efficiency ({kind})"))
        means = rows.groupby(["partner", "confidence"])["efficiency"].mean().reset_index()
        for partner, group in means.groupby("partner"):
            ax.plot(group["confidence"], group["efficiency"], color=style.colour(partner), marker=style.marker(partner))
        ax.set_xlabel("nominal confidence")
        ax.set_ylabel(ylabel)
        ax.set_title(title)
    partner_legend(fig, style, present_partners(style, coverage["partner"]), line=True)
    return to_plot(
        fig,
        "Line charts of observed coverage against nominal confidence, and of prediction set size "
        "or interval width, per partner.",
    )


def _coverage_panel(ax: Axes, coverage: pd.DataFrame, style: PartnerStyle) -> None:
    summary = (
        coverage.groupby(["partner", "confidence"])
        .agg(coverage=("coverage", "mean"), low=("coverage", "min"), high=("coverage", "max"))
        .reset_index()
    )
    for partner, group in summary.groupby("partner"):
        errors = [group["coverage"] - group["low"], group["high"] - group["coverage"]]
        ax.errorbar(
            group["confidence"],
            group["coverage"],
            yerr=errors,
            color=style.colour(partner),
            marker=style.marker(partner),
            capsize=3,
            alpha=0.9,
        )
    levels = summary["confidence"]
    span = [float(levels.min()) - 0.02, float(levels.max()) + 0.02] if len(levels) else [0.0, 1.0]
    ax.plot(span, span, color="black", linewidth=0.9, linestyle="--")
    ax.set_xlabel("nominal confidence")
    ax.set_ylabel("observed coverage on the test fold")
    ax.set_title("Coverage vs nominal")


def plot_domain_error(domain: pd.DataFrame, style: PartnerStyle) -> Plot:
    """Error vs similarity to the training set: per partner and decile, mean over its tasks."""
    fig, axes = new_figure(1, max_columns=1)
    ax = axes[0]
    summary = (
        domain.groupby(["partner", "decile"])
        .agg(similarity=("similarity", "mean"), abs_error=("abs_error", "mean"))
        .reset_index()
    )
    for partner, group in summary.groupby("partner"):
        group = group.sort_values("similarity")
        ax.plot(group["similarity"], group["abs_error"], color=style.colour(partner), marker=style.marker(partner))
    ax.set_xlabel("similarity to the training set (decile mean)")
    ax.set_ylabel("mean absolute error")
    ax.set_title("Error vs domain similarity")
    fig.set_figwidth(6.5)
    partner_legend(fig, style, present_partners(style, domain["partner"]), line=True)
    return to_plot(fig, "Line chart of mean absolute error against similarity to the training set, per partner.")
