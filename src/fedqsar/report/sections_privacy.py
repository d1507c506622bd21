"""The privacy section: what the run lets a competitor learn (``fedqsar audit privacy``)."""

from __future__ import annotations

import pandas as pd

from fedqsar.report.gather import ReportData
from fedqsar.report.sections import Section, Table, fmt

PRIVACY_TABLES = ("privacy_bits", "privacy_membership", "privacy_summary")
AIM_BITS = 0.6
"""Bit-recovery AUC above this is flagged (docs/privacy.md)."""
AIM_MEMBERSHIP = 0.6
"""Membership AUC of a federated or personalised model above this is flagged."""


def _summary(table: pd.DataFrame | None) -> dict[str, str]:
    if table is None:
        return {}
    return {str(k): ("" if pd.isna(v) else str(v)) for k, v in zip(table["key"], table["value"], strict=True)}


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return float("nan")


def _bits_paragraphs(summary: dict[str, str]) -> tuple[list[str], list[str]]:
    paragraphs, warnings = [], []
    defence = summary.get("defence", "?")
    paragraphs.append(
        f"Bit-privacy defence: {defence}. Secure aggregation: {summary.get('secagg', '?')}. "
        + (
            f"Differential privacy: epsilon {fmt(_number(summary.get('dp_epsilon', '')), 2)} at delta "
            f"{summary.get('dp_delta', '?')} (Flower's RDP accountant, every partner in every round)."
            if summary.get("dp") == "True"
            else "Differential privacy: off (no formal guarantee)."
        )
    )
    auc = _number(summary.get("bit_auc", ""))
    paragraphs.append(
        f"From the global trunks every partner received, the strongest of four attacks "
        f"({summary.get('bit_attack', '?')}) tells the fingerprint bits the consortium's training compounds set "
        f"from the rest with AUC {fmt(auc, 2)}; on the bits a partner does not use itself (what it learns about "
        f"its competitors) {fmt(_number(summary.get('bit_auc_others', '')), 2)}. 0.5 means nothing is learnt; "
        "with the consortium key a recovered bit is a substructure of a competitor's compound."
    )
    if auc > AIM_BITS:
        warnings.append(
            f"Bit-recovery AUC {auc:.2f} > {AIM_BITS}: the global trunk tells every key-holding partner which "
            "substructures the others' compounds contain. Federate with bit_privacy.defence = 'private_input' "
            "(the default; docs/privacy.md)."
        )
    return paragraphs, warnings


def _membership_table(membership: pd.DataFrame) -> tuple[Table, list[str]]:
    pivot = membership.pivot_table(
        index=["partner", "model_kind", "score"], columns="reference", values="auc", aggfunc="mean"
    ).reset_index()
    rows, flags, warnings = [], [], []
    for r in pivot.itertuples(index=False):
        holdout = float(getattr(r, "holdout", float("nan")))
        test = float(getattr(r, "test_fold", float("nan")))
        high = (
            r.score == "loss" and r.model_kind in ("federated", "personalised") and max(holdout, test) > AIM_MEMBERSHIP
        )
        rows.append((r.partner, r.model_kind, r.score, fmt(holdout, 2), fmt(test, 2)))
        flags.append(bool(high) or (r.score == "nearest_similarity" and test > 0.9))
        if high:
            warnings.append(
                f"{r.partner}: the {r.model_kind} model's losses reveal membership (AUC {max(holdout, test):.2f})."
            )
    table = Table(
        ("partner", "model", "attack score", "AUC vs matched hold-out", "AUC vs test fold"),
        tuple(rows),
        tuple(flags),
        caption=(
            "Membership inference: AUC of telling the partner's training compounds from non-members. 'loss': the "
            "model's loss on the compound (lower for members). 'nearest_similarity': the domain column of the "
            "partner's predictions, raw (for its own use) and as `fedqsar predict --share` writes it. The matched "
            "hold-out shares the training compounds' scaffold distribution, so its AUC is memorisation; the test "
            "fold adds the split shift."
        ),
        text_columns=(0, 1, 2),
    )
    return table, warnings


def privacy_section(data: ReportData) -> Section:
    """Bit recovery, membership inference, epsilon; or which command computes them."""
    missing = tuple("Not computed: " + data.missing[n] for n in PRIVACY_TABLES if n in data.missing)
    summary = _summary(data.table("privacy_summary"))
    paragraphs, warnings = _bits_paragraphs(summary) if summary else ([], [])
    tables = []
    membership = data.table("privacy_membership")
    if membership is not None and not membership.empty:
        table, more = _membership_table(membership)
        tables.append(table)
        warnings += more
    if not summary and not tables:
        paragraphs = ["The privacy audit was not run for this run folder."]
    return Section(
        "privacy",
        "Privacy: what a competitor can learn",
        tuple(paragraphs),
        (),
        tuple(tables),
        missing=missing,
        warnings=tuple(warnings),
    )
