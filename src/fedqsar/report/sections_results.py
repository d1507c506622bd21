"""Sections about results: summary, uplift, per-task scatter, training curves."""

from __future__ import annotations

import pandas as pd

from fedqsar.report.files import missing_message
from fedqsar.report.gather import ReportData
from fedqsar.report.metric_names import curve_order, metric_info, metric_key, ordered_metrics
from fedqsar.report.plot_results import (
    plot_recovered_share,
    plot_task_scatter,
    plot_training_curves,
    plot_uplift_forest,
    task_pairs,
    verdict,
)
from fedqsar.report.plots import PartnerStyle
from fedqsar.report.sections import Figure, Section, Table, fmt, fmt_share

MAX_CURVE_METRICS = 6
MAX_SCATTER_METRICS = 4
ALL_PARTNERS = "(all)"
"""Partner name the evaluation gives the summary over every partner's tasks."""


def main_comparison(uplift: pd.DataFrame) -> pd.DataFrame:
    """Rows of the headline comparison: personalised vs local (what joining gives a partner), else
    federated vs local, else one containing "fed" and "local", else the first."""
    names = sorted(uplift["comparison"].unique())
    preferred = [c for c in HEADLINE_COMPARISONS if c in names]
    preferred += [c for c in names if "fed" in c.lower() and "local" in c.lower()]
    chosen = preferred[0] if preferred else names[0]
    return uplift[uplift["comparison"] == chosen]


def headline_metrics(uplift: pd.DataFrame) -> list[str]:
    """AUC-PR and RMSE if present, else the first two metrics in the preferred order."""
    names = ordered_metrics(list(uplift["metric"].unique()))
    headline = [m for m in names if metric_key(m) in ("auc_pr", "aucpr", "rmse")]
    return headline or names[:2]


FEDERATED_VS_LOCAL = "federated_vs_local"
PERSONALISED_VS_LOCAL = "personalised_vs_local"
HEADLINE_COMPARISONS = (PERSONALISED_VS_LOCAL, FEDERATED_VS_LOCAL)
SUBJECTS = {FEDERATED_VS_LOCAL: "Federation", PERSONALISED_VS_LOCAL: "Joining (the personalised federated model)"}


def comparison_parts(comparison: str) -> tuple[str, str]:
    """``"pooled_vs_local"`` -> ``("pooled", "local")``; a name without ``_vs_`` -> (name, "reference")."""
    challenger, _, reference = comparison.partition("_vs_")
    return challenger, reference or "reference"


def comparison_subject(comparison: str) -> str:
    """Subject of the summary sentences: "Federation" for federated vs local, else the challenger."""
    if comparison in SUBJECTS:
        return SUBJECTS[comparison]
    challenger, reference = comparison_parts(comparison)
    return f"The {challenger} model (compared with {reference})"


def partner_sentence(partner: str, rows: pd.DataFrame, subject: str = "Federation") -> str:
    """One sentence on whether ``subject`` (federation) helped ``partner``, quoting each delta with its CI.

    ``partner`` ``"(all)"`` gives the sentence for the consortium as a whole.
    """
    parts, verdicts = [], []
    for row in rows.itertuples():
        info = metric_info(row.metric)
        verdicts.append(verdict(row.delta_abs, row.ci_low, row.ci_high, info.higher_is_better))
        parts.append(
            f"{info.label} {fmt(row.delta_abs, signed=True)} "
            f"(95% CI {fmt(row.ci_low, signed=True)} to {fmt(row.ci_high, signed=True)})"
        )
    evidence = "; ".join(parts)
    if partner == ALL_PARTNERS:
        return f"Over all partners' tasks together: {evidence}."
    if "better" in verdicts and "worse" not in verdicts:
        return f"{subject} helped {partner}: {evidence}."
    if "better" in verdicts:
        return f"{subject} helped {partner} on some metrics and hurt it on others: {evidence}."
    if "worse" in verdicts:
        return f"{subject} did not help partner {partner}; it made it worse: {evidence}."
    if set(verdicts) == {"no interval"}:
        return (
            f"Whether {subject[0].lower() + subject[1:]} helped {partner} cannot be told: no confidence "
            f"interval could be computed (too few tasks): {evidence}."
        )
    return f"{subject} did not help partner {partner}: no 95% interval excludes zero ({evidence})."


def summary_section(data: ReportData) -> Section:
    """Headline: partners, tasks, rows, and one sentence per partner on its uplift."""
    partners = data.partners
    n_rows = sum(p.input_rows or 0 for p in partners)
    paragraphs = [
        f"{len(partners)} partners ({', '.join(p.name for p in partners)}) trained together on "
        f"{sum(p.n_tasks for p in partners):,} tasks and {sum(p.n_compounds for p in partners):,} compounds"
        + (f" from {n_rows:,} input rows." if n_rows else ".")
    ]
    uplift = data.table("uplift")
    if uplift is None or uplift.empty:
        return Section("summary", "Summary", tuple(paragraphs), missing=(missing_message("uplift"),))
    chosen = main_comparison(uplift)
    metrics = headline_metrics(chosen)
    comparison = str(chosen["comparison"].iloc[0])
    if comparison not in HEADLINE_COMPARISONS:
        paragraphs.append(
            "This run has no federated-vs-local comparison; the sentences below compare "
            + " vs ".join(comparison_parts(comparison))
            + "."
        )
    for partner in sorted(chosen["partner"].unique(), key=_order(data)):
        rows = chosen[(chosen["partner"] == partner) & chosen["metric"].isin(metrics)]
        paragraphs.append(
            partner_sentence(
                partner, rows.sort_values("metric", key=_metric_rank(metrics)), comparison_subject(comparison)
            )
        )
    return Section("summary", "Summary", tuple(paragraphs))


def uplift_section(data: ReportData, style: PartnerStyle) -> Section:
    """Forest plot of deltas with CIs, recovered share of the pooled gain, and the full table."""
    uplift = data.table("uplift")
    if uplift is None or uplift.empty:
        return Section("uplift", "Uplift per partner", missing=(_missing_or_empty(data, "uplift"),))
    chosen = main_comparison(uplift)
    metrics = headline_metrics(chosen)
    partners = sorted(chosen["partner"].unique(), key=_order(data))
    others = uplift[uplift["comparison"] != chosen["comparison"].iloc[0]]
    comparison = str(chosen["comparison"].iloc[0])
    challenger, reference = comparison_parts(comparison)
    tables = (
        (_main_uplift_table(chosen, _order(data), (challenger, reference)),)
        + ((_other_comparisons_table(others, _order(data)),) if len(others) else ())
        + _test_folds_table(data.table("folds"), _order(data))
    )
    figures = [
        Figure(
            plot_uplift_forest(chosen, metrics, partners, (challenger, reference)),
            "Each dot is a partner's mean change over its tasks, the bar its 95% bootstrap interval. "
            f"Green: the interval excludes zero in the good direction; red: {challenger} is worse than "
            f"{reference}; grey: no detectable effect. Look for partners whose interval lies on the good side "
            "of zero.",
        ),
    ]
    if comparison in HEADLINE_COMPARISONS and chosen["recovered_share"].notna().any():
        figures.append(
            Figure(
                plot_recovered_share(chosen, metrics, partners),
                "How much of the gain of pooling everyone's data in one place (the upper bound) "
                "federation achieved without sharing any data: 1 (dashed line) means as good as "
                "pooling, 0 means no better than training alone.",
            )
        )
    return Section(
        "uplift",
        "Uplift per partner",
        (
            f"Figures show the comparison {challenger} vs {reference}: Δ is {challenger} minus {reference} on the same "
            "test fold, averaged over the partner's tasks; “(all)” pools every partner's tasks. "
            f"RIPtoP = ({challenger} − {reference}) / (perfect − {reference}) is the share of the possible improvement "
            "realised.",
        ),
        tuple(figures),
        tables,
    )


def _test_folds_table(folds: pd.DataFrame | None, order) -> tuple[Table, ...]:  # noqa: ANN001 - a sort key
    """Which fold scheme each partner's test fold used, and what the test-overlap rule left out
    (``evaluation/folds.csv``; none for runs evaluated before it existed)."""
    if folds is None or folds.empty:
        return ()
    excluded = folds["n_excluded_train"] + folds.get("n_excluded_validation", 0)
    rows = tuple(
        (
            str(r.partner),
            str(r.scheme),
            fmt(int(r.test_fold)),
            fmt(int(r.n_test)),
            fmt(int(r.n_test_seen_elsewhere)),
            fmt(int(n)),
        )
        for r, n in zip(folds.itertuples(), excluded, strict=True)
    )
    ranked = sorted(range(len(rows)), key=lambda i: order(rows[i][0]))
    return (
        Table(
            ("partner", "fold scheme", "test fold", "test compounds", "in another partner's training", "rows left out"),
            tuple(rows[i] for i in ranked),
            caption="Each partner chose its own folds. A partner's test compounds whose keyed structure another "
            "partner holds in its training or validation rows would have leaked; every such row (and any row of a "
            "partner's own sharing a test compound's keyed fingerprint) is left out of training and validation.",
            text_columns=(0, 1),
        ),
    )


def _main_uplift_table(chosen: pd.DataFrame, order, models: tuple[str, str]) -> Table:  # noqa: ANN001 - a sort key
    with_rf = "rf" in chosen.columns and bool(chosen["rf"].notna().any())
    with_personalised = "personalised" in chosen.columns and bool(chosen["personalised"].notna().any())
    header = (
        ("partner", "metric", "tasks", "local", "federated")
        + (("personalised",) if with_personalised else ())
        + ("pooled",)
        + (("RF",) if with_rf else ())
        + ("Δ abs", "Δ rel", "95% CI of Δ", "RIPtoP", "recovered")
    )
    rows, flags = [], []
    for row in _sorted_rows(chosen, order):
        info = metric_info(row.metric)
        rows.append(
            (row.partner, info.label, _count(row.n_tasks), fmt(row.local), fmt(row.federated))
            + ((fmt(row.personalised),) if with_personalised else ())
            + (fmt(row.pooled),)
            + ((fmt(row.rf),) if with_rf else ())
            + (
                fmt(row.delta_abs, signed=True),
                fmt_share(row.delta_rel),
                f"{fmt(row.ci_low, signed=True)} to {fmt(row.ci_high, signed=True)}",
                fmt(row.riptop),
                fmt_share(row.recovered_share),
            )
        )
        flags.append(verdict(row.delta_abs, row.ci_low, row.ci_high, info.higher_is_better) == "worse")
    return Table(
        header,
        tuple(rows),
        tuple(flags),
        "Mean over the partner's tasks on the test fold. Δ rel: Δ as a share of the local value. "
        "RIPtoP: share of the distance to a perfect score closed (positive = better, also for RMSE). "
        f"Recovered: share of the pooled model's gain reached by the {models[0]} model. "
        f"Highlighted rows: the {models[0]} model is worse than the {models[1]} one.",
        text_columns=(0, 1),
    )


def _other_comparisons_table(others: pd.DataFrame, order) -> Table:  # noqa: ANN001 - a sort key
    rows, flags = [], []
    for row in _sorted_rows(others, order):
        info = metric_info(row.metric)
        rows.append(
            (
                row.partner,
                info.label,
                row.comparison.replace("_vs_", " vs "),
                _count(row.n_tasks),
                fmt(row.delta_abs, signed=True),
                f"{fmt(row.ci_low, signed=True)} to {fmt(row.ci_high, signed=True)}",
                fmt(row.riptop),
            )
        )
        flags.append(verdict(row.delta_abs, row.ci_low, row.ci_high, info.higher_is_better) == "worse")
    return Table(
        ("partner", "metric", "comparison", "tasks", "Δ abs", "95% CI of Δ", "RIPtoP"),
        tuple(rows),
        tuple(flags),
        "Δ = first minus second model of the comparison. Highlighted: the first is worse.",
        text_columns=(0, 1, 2),
        title=f"Other comparisons ({others['comparison'].nunique()})",
    )


def _sorted_rows(table: pd.DataFrame, order):  # noqa: ANN001, ANN202
    return table.sort_values(
        ["partner", "metric", "comparison"], key=lambda c: c.map(order) if c.name == "partner" else c
    ).itertuples()


def _count(value: float) -> str:
    return fmt(int(value)) if value == value else "—"


def scatter_section(data: ReportData, style: PartnerStyle) -> Section:
    """Local vs federated metric per task, one marker per partner."""
    metrics = data.table("metrics")
    if metrics is None or metrics.empty:
        return Section("scatter", "Local vs federated per task", missing=(_missing_or_empty(data, "metrics"),))
    names = [m for m in ordered_metrics(list(metrics["metric"].unique())) if len(task_pairs(metrics, m))]
    names = names[:MAX_SCATTER_METRICS]
    if not names:
        return Section(
            "scatter",
            "Local vs federated per task",
            warnings=(
                "evaluation/metrics.csv has no task evaluated both locally and federated (model_kind local and federated).",
            ),
        )
    caption = (
        "Each marker is one task of one partner on the test fold. Above the diagonal the federated model "
        "is better for AUC-type scores; for errors such as RMSE, below the diagonal is better. "
        "Tasks far from the diagonal deserve a look."
    )
    counts = ", ".join(f"{metric_info(m).label}: {len(task_pairs(metrics, m))} tasks" for m in names)
    return Section(
        "scatter",
        "Local vs federated per task",
        (counts + ".",),
        (Figure(plot_task_scatter(metrics, names, style), caption),),
    )


def curves_section(data: ReportData, style: PartnerStyle) -> Section:
    """Training curves per round and partner from federation/history.csv."""
    history = data.table("history")
    if history is None or history.empty:
        return Section("curves", "Training curves", missing=(_missing_or_empty(data, "history"),))
    every = curve_order(list(history["metric"].unique()))
    names = every[:MAX_CURVE_METRICS]
    rounds = int(history["round"].max())
    shown = (
        ""
        if len(every) == len(names)
        else (
            f" Showing {len(names)} of {len(every)} recorded metrics; not shown: "
            + ", ".join(metric_info(m).label for m in every[len(names) :])
            + "."
        )
    )
    caption = (
        "One line per partner, measured after each federation round. Losses should fall and settle; "
        "validation scores should rise and plateau. A partner whose curve turns back up is over-fitting "
        "or disagrees with the others."
    )
    return Section(
        "curves",
        "Training curves",
        (f"{rounds} federation rounds.{shown}",),
        (Figure(plot_training_curves(history, names, style), caption),),
    )


def _missing_or_empty(data: ReportData, name: str) -> str:
    return data.missing.get(name) or f"{name} table is present but has no rows; re-run the command that writes it."


def _order(data: ReportData):  # noqa: ANN202 - a sort key
    """Sort key: consortium order, then other names (e.g. "(all)") alphabetically."""
    rank = {name: i for i, name in enumerate(data.partner_names)}
    return lambda name: (rank.get(name, len(rank)), name)


def _metric_rank(metrics: list[str]):  # noqa: ANN202 - a sort key
    return lambda column: column.map({m: i for i, m in enumerate(metrics)})
