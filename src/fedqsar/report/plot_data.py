"""Figures of the data and of trust: endpoint distributions, conformal coverage, domain error."""

from __future__ import annotations

import numpy as np
import pandas as pd

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
    for ax, endpoint in zip(axes, names):
        rows = endpoints[(endpoints["endpoint"] == endpoint) & np.isfinite(endpoints["value"])]
        low, high = np.percentile(rows["value"], [1, 99]) if len(rows) else (0.0, 1.0)
        bins = np.linspace(low, high if high > low else low + 1.0, 31)
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


def plot_coverage(coverage: pd.DataFrame, style: PartnerStyle) -> Plot:
    """Two panels: observed coverage vs nominal confidence, and efficiency vs confidence.

    Each point is the mean over a partner's tasks at one confidence level; the vertical bar
    spans the lowest to highest task.
    """
    fig, axes = new_figure(2, max_columns=2)
    summary = coverage.groupby(["partner", "confidence"]).agg(
        coverage=("coverage", "mean"), low=("coverage", "min"), high=("coverage", "max"),
        efficiency=("efficiency", "mean"),
    ).reset_index()
    for partner, group in summary.groupby("partner"):
        colour, marker = style.colour(partner), style.marker(partner)
        axes[0].errorbar(group["confidence"], group["coverage"], yerr=[group["coverage"] - group["low"],
                         group["high"] - group["coverage"]], color=colour, marker=marker, capsize=3, alpha=0.9)
        axes[1].plot(group["confidence"], group["efficiency"], color=colour, marker=marker)
    levels = summary["confidence"]
    span = [float(levels.min()) - 0.02, float(levels.max()) + 0.02] if len(levels) else [0.0, 1.0]
    axes[0].plot(span, span, color="black", linewidth=0.9, linestyle="--")
    axes[0].set_xlabel("nominal confidence")
    axes[0].set_ylabel("observed coverage on the test fold")
    axes[0].set_title("Coverage vs nominal")
    axes[1].set_xlabel("nominal confidence")
    axes[1].set_ylabel("mean interval width (efficiency)")
    axes[1].set_title("Interval width")
    partner_legend(fig, style, present_partners(style, coverage["partner"]), line=True)
    return to_plot(fig, "Line charts of observed coverage against nominal confidence, and of interval width, per partner.")


def plot_domain_error(domain: pd.DataFrame, style: PartnerStyle) -> Plot:
    """Error vs similarity to the training set: per partner and decile, mean over its tasks."""
    fig, axes = new_figure(1, max_columns=1)
    ax = axes[0]
    summary = domain.groupby(["partner", "decile"]).agg(
        similarity=("similarity", "mean"), abs_error=("abs_error", "mean")
    ).reset_index()
    for partner, group in summary.groupby("partner"):
        group = group.sort_values("similarity")
        ax.plot(group["similarity"], group["abs_error"], color=style.colour(partner), marker=style.marker(partner))
    ax.set_xlabel("similarity to the training set (decile mean)")
    ax.set_ylabel("mean absolute error")
    ax.set_title("Error vs domain similarity")
    fig.set_figwidth(6.5)
    partner_legend(fig, style, present_partners(style, domain["partner"]), line=True)
    return to_plot(fig, "Line chart of mean absolute error against similarity to the training set, per partner.")
