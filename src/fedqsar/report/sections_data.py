"""Sections about data and trust: consortium, data consistency, trust, provenance."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from fedqsar.prep.consistency import MAX_OUTSIDE_SHARE, range_check
from fedqsar.report.gather import ReportData
from fedqsar.report.plot_data import MAX_ENDPOINTS, plot_coverage, plot_domain_error, plot_endpoint_distributions
from fedqsar.report.plots import PartnerStyle
from fedqsar.report.sections import Figure, Section, Table, fmt

SHIFT_LIMIT_SD = 0.5
"""A partner's median this many pooled SDs from the other partners' median is flagged."""
COVERAGE_TOLERANCE = 0.05
"""Mean coverage this far below nominal is flagged as under-coverage."""


def consortium_section(data: ReportData) -> Section:
    """Partners, compounds, tasks, input rows and where every row went."""
    header = (
        "partner",
        "compounds",
        "tasks",
        "input rows",
        "used",
        "merged (replicates)",
        "rejected",
        "rejection reasons",
    )
    rows, flags, warnings = [], [], []
    for p in data.partners:
        reasons = ", ".join(f"{reason} {count:,}" for reason, count in p.rejected.items()) or "—"
        rows.append(
            (
                p.name,
                fmt(p.n_compounds),
                fmt(p.n_tasks),
                fmt(p.input_rows),
                fmt(p.used),
                fmt(p.merged),
                fmt(p.n_rejected),
                reasons,
            )
        )
        flags.append(p.accounting_balances is False)
        if p.accounting_balances is False:
            warnings.append(
                f"{p.name}: input rows ({p.input_rows:,}) ≠ used + merged + rejected "
                f"({(p.used or 0) + (p.merged or 0) + p.n_rejected:,}); rows are unaccounted for."
            )
    hashes = {p.prep_hash for p in data.partners if p.prep_hash}
    if len(hashes) > 1:
        warnings.append(
            "Partners were prepared with different settings (prep hashes differ): "
            + ", ".join(f"{p.name} {p.prep_hash[:12]}" for p in data.partners)
            + "."
        )
    return Section(
        "consortium",
        "Consortium",
        (
            "Every input row of a partner ends in exactly one bucket: used, merged into a replicate measurement, "
            "or rejected with a reason. Only counts leave a partner; structures and values never do.",
        ),
        tables=(Table(header, tuple(rows), tuple(flags), text_columns=(0, 7)),),
        warnings=tuple(warnings),
    )


def endpoint_summary(endpoints: pd.DataFrame) -> pd.DataFrame:
    """Per (endpoint, partner): n, median, quartiles and shift of the median from the consensus.

    The consensus is the median of the partners' medians, so one shifted partner does not drag
    the reference towards itself; the scale is the pooled within-partner standard deviation, so
    the shift itself does not inflate it.

    Returns
    -------
    pandas.DataFrame
        Columns ``endpoint, partner, n, median, q25, q75, shift_sd``; ``shift_sd`` is NaN when
        the endpoint has a single partner.
    """
    finite = endpoints[np.isfinite(endpoints["value"])]
    rows = []
    for endpoint, group in finite.groupby("endpoint"):
        by_partner = group.groupby("partner")["value"]
        medians = by_partner.median()
        within_sd = float(np.sqrt(np.nanmean(by_partner.var(ddof=1).to_numpy()))) if len(medians) > 1 else np.nan
        scale = within_sd if np.isfinite(within_sd) and within_sd > 0 else np.nan
        consensus = float(medians.median())
        for partner, values in by_partner:
            shift = (medians[partner] - consensus) / scale if len(medians) > 1 else np.nan
            rows.append(
                (endpoint, partner, len(values), float(medians[partner]), *np.percentile(values, [25, 75]), shift)
            )
    return pd.DataFrame(rows, columns=["endpoint", "partner", "n", "median", "q25", "q75", "shift_sd"])


def consistency_section(data: ReportData, style: PartnerStyle) -> Section:
    """Endpoint value distributions per partner, with a table flagging shifted partners."""
    endpoints = data.table("endpoints")
    if endpoints is None or endpoints.empty:
        return Section(
            "consistency",
            "Data consistency",
            missing=(
                data.missing.get("endpoints", "evaluation/endpoints.csv has no rows; re-run `fedqsar evaluate`."),
            ),
        )
    summary = endpoint_summary(endpoints)
    shifted = summary["shift_sd"].abs() > SHIFT_LIMIT_SD
    checks = [
        range_check(
            r.endpoint,
            endpoints.loc[
                (endpoints["endpoint"] == r.endpoint) & (endpoints["partner"] == r.partner), "value"
            ].to_numpy(),
        )
        for r in summary.itertuples()
    ]
    implausible = np.array([c is not None and c.warn for c in checks], dtype=bool)
    rows = tuple(
        (
            r.endpoint,
            r.partner,
            fmt(int(r.n)),
            fmt(r.median, 2),
            f"{fmt(r.q25, 2)} – {fmt(r.q75, 2)}",
            fmt(r.shift_sd, 2, signed=True),
            "—" if c is None else f"{c.share_outside:.0%} of {c.low:g} – {c.high:g}",
        )
        for r, c in zip(summary.itertuples(), checks, strict=True)
    )
    warnings = tuple(
        f"{r.partner}'s {r.endpoint} values sit {abs(r.shift_sd):.1f} SD "
        f"{'above' if r.shift_sd > 0 else 'below'} the consortium's; check units, assay protocol "
        "or the transformation before trusting a shared model of this endpoint."
        for r in summary[shifted].itertuples()
    ) + tuple(
        c.message(r.partner) for r, c in zip(summary.itertuples(), checks, strict=True) if c is not None and c.warn
    )
    flagged = shifted.to_numpy() | implausible
    caption = (
        "Each outline is one partner's distribution of canonical values of an endpoint. Partners measuring "
        "the same property should overlap; a distribution shifted sideways usually means a unit, "
        "log-transform or protocol difference rather than different chemistry."
    )
    table = Table(
        (
            "endpoint",
            "partner",
            "values",
            "median",
            "interquartile range",
            "median shift (SD)",
            "outside plausible range",
        ),
        rows,
        tuple(bool(f) for f in flagged),
        "Median shift: this partner's median minus the consensus (the median of all partners' medians), "
        f"in within-partner standard deviations; highlighted beyond ±{SHIFT_LIMIT_SD}. Outside plausible range: "
        "the share of this partner's values outside the range the endpoint registry gives (the same check each "
        f"partner's prepare makes); highlighted above {MAX_OUTSIDE_SHARE:.0%} or when the median is outside.",
        text_columns=(0, 1, 6),
    )
    n_endpoints = endpoints["endpoint"].nunique()
    shown = (
        ""
        if n_endpoints <= MAX_ENDPOINTS
        else f" The figure shows the {MAX_ENDPOINTS} most measured; the table lists all."
    )
    return Section(
        "consistency",
        "Data consistency",
        (f"{n_endpoints} endpoint{'s' if n_endpoints != 1 else ''}, {len(endpoints):,} values.{shown}",),
        (Figure(plot_endpoint_distributions(endpoints, style), caption),),
        (table,),
        warnings=warnings,
    )


def trust_section(data: ReportData, style: PartnerStyle) -> Section:
    """Conformal coverage vs nominal, interval width, error vs domain similarity."""
    coverage, domain = data.table("coverage"), data.table("domain")
    missing = tuple(data.missing[n] for n in ("coverage", "domain") if n in data.missing)
    figures: list[Figure] = []
    tables: list[Table] = []
    warnings: list[str] = []
    if coverage is not None and not coverage.empty:
        figures.append(
            Figure(
                plot_coverage(coverage, style),
                "Left: the share of test compounds whose true value fell inside the predicted "
                "interval, against the confidence asked for; points should sit on the dashed "
                "diagonal, below it the intervals are too narrow. Then the price of that "
                "coverage: the mean prediction-set size (classification; 1 is a confident single "
                "label, 2 means 'could be either') and the mean interval width (regression, in the "
                "task's units); smaller is more useful.",
            )
        )
        table, warnings = _coverage_table(coverage)
        tables.append(table)
    if domain is not None and not domain.empty:
        figures.append(
            Figure(
                plot_domain_error(domain, style),
                "Test compounds grouped into deciles by similarity to the training data. The error "
                "should fall as similarity rises; a flat line means the similarity score does not "
                "tell you when to distrust a prediction.",
            )
        )
    paragraphs = () if figures else ("Trust metrics were not computed for this run.",)
    return Section(
        "trust",
        "Trust: calibrated uncertainty and applicability domain",
        paragraphs,
        tuple(figures),
        tuple(tables),
        missing=tuple("Not computed: " + m for m in missing),
        warnings=tuple(warnings),
    )


def _coverage_table(coverage: pd.DataFrame) -> tuple[Table, list[str]]:
    table = coverage.assign(kind=coverage["kind"] if "kind" in coverage.columns else "—")
    summary = (
        table.groupby(["partner", "kind", "confidence"])
        .agg(tasks=("task", "nunique"), mean=("coverage", "mean"), low=("coverage", "min"), eff=("efficiency", "mean"))
        .reset_index()
    )
    gap = summary["mean"] - summary["confidence"]
    flagged = gap < -COVERAGE_TOLERANCE
    rows = tuple(
        (
            r.partner,
            r.kind,
            fmt(r.confidence, 2),
            fmt(int(r.tasks)),
            fmt(r.mean),
            fmt(g, signed=True),
            fmt(r.low),
            fmt(r.eff),
        )
        for r, g in zip(summary.itertuples(), gap, strict=True)
    )
    warnings = [
        f"{r.partner} ({r.kind}): mean coverage {r.mean:.3f} at nominal {r.confidence:.2f}; its prediction "
        "sets/intervals are too narrow to trust at that level."
        for r in summary[flagged].itertuples()
    ]
    header = ("partner", "kind", "nominal", "tasks", "mean coverage", "coverage − nominal", "worst task", "efficiency")
    return Table(
        header,
        rows,
        tuple(bool(f) for f in flagged),
        f"Efficiency: mean set size (classification) or interval width (regression). "
        f"Highlighted: mean coverage more than {COVERAGE_TOLERANCE} below nominal.",
        text_columns=(0, 1),
    ), warnings


def _version_rows(data: ReportData) -> tuple[tuple[str, str], ...]:
    """The library versions the run folder recorded (never those installed when the report renders)."""
    if not data.versions:
        return (("library versions", "not recorded (the run folder has no versions.json)"),)
    source = data.sources.get("versions") or "versions.json"
    recorded = tuple((f"{name} version", version) for name, version in sorted(data.versions.items()))
    return (("library versions", f"as the run recorded them in {source}"), *recorded)


def provenance_section(data: ReportData) -> Section:
    """Configuration hash, ledger verification, library versions, creation time."""
    ledger_label = {"verified": "verified", "failed": "FAILED", "missing": "no ledger", "unavailable": "not checked"}
    rows = (
        (
            ("run folder", str(data.run_dir.resolve())),
            ("report created", data.created.strftime("%Y-%m-%d %H:%M:%S UTC")),
            ("configuration", data.sources.get("config", "config.toml")),
            ("partners read from", data.sources.get("partners", "consortium.json")),
            ("configuration hash (sha256)", data.config_hash),
        )
        + tuple(
            (ledger.name, f"{ledger_label.get(ledger.state, ledger.state)}: {ledger.detail}") for ledger in data.ledgers
        )
        + _version_rows(data)
    )
    warnings = tuple(
        f"{ledger.name} failed verification: {ledger.detail}" for ledger in data.ledgers if ledger.state == "failed"
    )
    config_text = json.dumps(data.config, indent=2, sort_keys=True, default=str)
    return Section(
        "provenance",
        "Provenance",
        (
            "The configuration hash identifies every setting of this run. The ledgers are append-only, hash-chained "
            "records: the federation's (partners, rounds, models) and the evaluation's (configurations, partners' "
            "manifests, sha256 of every result file, the federation ledger's head).",
        ),
        tables=(Table(("item", "value"), rows, text_columns=(0, 1)),),
        warnings=warnings,
        blocks=((f"configuration ({data.sources.get('config', 'config.toml')})", config_text),),
    )
