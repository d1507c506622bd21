"""Sections about what joining is worth: probe results ("should we join?") and leave-one-out valuation.

A probe folder (written by ``fedqsar probe``) holds ``probe.json``, ``probe_summary.csv`` and
``probe_tasks.csv``; the leave-one-out table is ``evaluation/leave_one_out.csv`` of a run
(``fedqsar evaluate --leave-one-out``). Both sections say what is missing when absent.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from fedqsar.errors import ReportError
from fedqsar.report.metric_names import metric_info
from fedqsar.report.plot_valuation import plot_leave_one_out, plot_probe_tasks
from fedqsar.report.sections import Figure, Section, Table, fmt

PROBE_FILES = ("probe.json", "probe_summary.csv", "probe_tasks.csv")
KIND_LABELS = {
    "joined": "joined (per-task best, cross-fitted)",
    "fine_tuned": "fine-tuned trunk + head",
    "head_on_trunk": "own head on the frozen trunk",
}


@dataclass(frozen=True)
class ProbeFiles:
    """One probe folder, read."""

    folder: Path
    record: dict[str, Any]
    summary: pd.DataFrame
    tasks: pd.DataFrame


def read_probe(folder: Path) -> ProbeFiles:
    """Read a folder written by ``fedqsar probe``.

    Raises
    ------
    ReportError
        If a file is missing or unreadable.
    """
    folder = Path(folder)
    missing = [name for name in PROBE_FILES if not (folder / name).is_file()]
    fix = "give --probe a folder written by `fedqsar probe --out DIR`"
    if missing:
        raise ReportError(f"probe folder {folder} lacks {missing}", fix)
    try:
        record = json.loads((folder / "probe.json").read_text(encoding="utf-8"))
        summary = _csv(folder / "probe_summary.csv")
        tasks = _csv(folder / "probe_tasks.csv")
    except (OSError, ValueError) as exc:
        raise ReportError(f"cannot read probe folder {folder}: {exc}", fix) from exc
    return ProbeFiles(folder, record, summary, tasks)


def _csv(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()


def _probe_paragraphs(probe: ProbeFiles) -> list[str]:
    record = probe.record
    fold, trunk = record.get("fold", {}), record.get("trunk", {})
    return [
        f"Candidate {record.get('candidate')}: {record.get('verdict', {}).get('sentence', '')}.",
        f"Compared on its own validation fold {fold.get('validation_fold')} ({fold.get('scheme')} folds, "
        f"{fold.get('n_validation')} compounds; trained on {fold.get('n_train')}; the test fold was not read). "
        f"Consortium trunk: {trunk.get('n_partners')} partners, {trunk.get('rounds')} rounds, "
        f"weights sha256 {str(trunk.get('weights_sha256', ''))[:16]}…; probe wall time "
        f"{record.get('seconds', {}).get('total', float('nan')):.0f} s, nothing sent anywhere.",
    ]


def _summary_table(summary: pd.DataFrame) -> Table:
    rows = []
    for row in summary.itertuples():
        challenger = str(row.comparison).partition("_vs_")[0]
        rows.append(
            (
                KIND_LABELS.get(challenger, challenger),
                metric_info(str(row.metric)).label,
                fmt(int(row.n_tasks)),
                fmt(row.local),
                fmt(row.challenger),
                fmt(row.delta_abs, signed=True),
                f"{fmt(row.ci_low, signed=True)} to {fmt(row.ci_high, signed=True)}",
            )
        )
    return Table(
        ("model", "metric", "tasks", "local", "model's", "Δ", "95% CI"),
        tuple(rows),
        caption="Means over the tasks with enough validation labels; intervals over tasks (>= 5), else over compounds.",
        text_columns=(0, 1),
    )


def _tasks_table(tasks: pd.DataFrame) -> Table:
    rows = tuple(
        (
            str(row.task),
            metric_info(str(row.metric)).label,
            fmt(row.local),
            fmt(row.head_on_trunk),
            fmt(row.fine_tuned),
            fmt(row.joined),
            fmt(row.delta, signed=True),
            f"{fmt(row.ci_low, signed=True)} to {fmt(row.ci_high, signed=True)}",
        )
        for row in tasks.itertuples()
    )
    return Table(
        ("task", "metric", "local", "head on trunk", "fine-tuned", "joined", "Δ joined − local", "95% CI"),
        rows,
        text_columns=(0, 1),
        title=f"Per task ({len(rows)} tasks)",
    )


def probe_section(probes: tuple[ProbeFiles, ...]) -> Section:
    """ "Should we join?": each probe's verdict, its summary table, per-task gains and their figure."""
    title = "Should we join? (probe)"
    if not probes:
        return Section(
            "probe",
            title,
            missing=(
                "No probe folder was given; `fedqsar probe` writes one and `fedqsar report RUN --probe DIR` shows it.",
            ),
        )
    paragraphs: list[str] = []
    tables: list[Table] = []
    figures: list[Figure] = []
    for probe in probes:
        paragraphs += _probe_paragraphs(probe)
        if not probe.summary.empty:
            tables.append(_summary_table(probe.summary))
        if not probe.tasks.empty:
            tables.append(_tasks_table(probe.tasks))
            figures.append(
                Figure(
                    plot_probe_tasks(probe.tasks),
                    f"{probe.record.get('candidate')}: per-task change on its validation fold; green: the interval "
                    "excludes 0 in favour of joining, red: against, grey: cannot tell.",
                )
            )
    return Section("probe", title, tuple(paragraphs), tuple(figures), tuple(tables))


def loo_sentences(table: pd.DataFrame, kind: str) -> list[str]:
    """One sentence per removed partner: its effect on each other partner's headline metrics."""
    sentences = []
    for removed, group in table[table["model_kind"] == kind].groupby("removed", sort=True):
        parts = []
        for row in group.sort_values(["partner", "metric"]).itertuples():
            info = metric_info(str(row.metric))
            change = -row.delta  # removing the partner changes the metric by -(with - without)
            better = (change > 0) == bool(info.higher_is_better)
            word = "raises" if change > 0 else "lowers"
            significant = (row.ci_low > 0 or row.ci_high < 0) if pd.notna(row.ci_low) else False
            judgement = ("helps" if better else "hurts") if significant else "n.s."
            effect = (
                f"leaves {row.partner}'s {info.label} unchanged"
                if abs(change) < 0.0005
                else f"{word} {row.partner}'s {info.label} by {abs(change):.3f}"
            )
            parts.append(
                f"{effect} (95% CI of its contribution {fmt(row.ci_low, signed=True)} to "
                f"{fmt(row.ci_high, signed=True)}, {judgement})"
            )
        sentences.append(f"Removing {removed} " + "; ".join(parts) + ".")
    return sentences


def valuation_section(table: pd.DataFrame | None, missing: str, partners: list[str]) -> Section:
    """Leave-one-out: partner x partner heat map and one line per partner."""
    title = "What each partner is worth (leave-one-out)"
    if table is None or table.empty:
        return Section("valuation", title, missing=(missing,))
    kinds = [k for k in ("personalised", "federated") if k in set(table["model_kind"])]
    kind = kinds[0] if kinds else str(table["model_kind"].iloc[0])
    rows = table[table["model_kind"] == kind]
    metrics = [m for m in ("auc_pr", "rmse") if m in set(rows["metric"])] or sorted(set(rows["metric"]))[:2]
    names = [p for p in partners if p in set(rows["removed"]) | set(rows["partner"])]
    names += sorted((set(rows["removed"]) | set(rows["partner"])) - set(names))
    paragraphs = (
        f"The federation was re-run without each partner in turn (simulation only); each cell is a partner's "
        f"marginal effect on another partner's {kind} model on its test fold: its metric with every partner "
        "minus without the removed one.",
        *loo_sentences(table, kind),
    )
    figure = Figure(
        plot_leave_one_out(rows, metrics, names),
        "Green: the column's partner is better with the row's partner in the consortium; * the 95% interval excludes 0.",
    )
    body = tuple(
        (
            str(r.removed),
            str(r.partner),
            str(r.model_kind),
            metric_info(str(r.metric)).label,
            fmt(int(r.n_tasks)),
            fmt(r.with_all),
            fmt(r.without),
            fmt(r.delta, signed=True),
            f"{fmt(r.ci_low, signed=True)} to {fmt(r.ci_high, signed=True)}",
        )
        for r in table.sort_values(["model_kind", "removed", "partner", "metric"]).itertuples()
    )
    detail = Table(
        ("removed", "partner", "model", "metric", "tasks", "with all", "without", "Δ (contribution)", "95% CI"),
        body,
        text_columns=(0, 1, 2, 3),
        title="Every partner pair",
    )
    return Section("valuation", title, paragraphs, (figure,), (detail,))
