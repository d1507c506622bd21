"""The files of a run folder the report reads, what they must contain and who writes them.

The layout is fixed in docs/CONTRACTS.md ("A run folder"). One registry entry per file keeps
the column checks and the fix-it messages in one place.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RunFile:
    """One file of a run folder.

    Attributes
    ----------
    relative
        Path inside the run folder, e.g. ``"evaluation/uplift.csv"``.
    columns
        Columns a CSV must have (empty for non-CSV files).
    required
        Whether the report refuses to render without it.
    producer
        The command that writes it, quoted in messages.
    """

    relative: str
    columns: tuple[str, ...]
    required: bool
    producer: str


RUN_FILES: dict[str, RunFile] = {
    "config": RunFile("config.toml", (), True, "`fedqsar demo` or `fedqsar federate`"),
    "consortium": RunFile("consortium.json", (), True, "`fedqsar demo` or `fedqsar federate`"),
    "history": RunFile("federation/history.csv", ("round", "partner", "metric", "value"), False, "`fedqsar federate`"),
    "ledger": RunFile("federation/ledger.sqlite", (), False, "`fedqsar federate`"),
    "evaluation_ledger": RunFile("evaluation/ledger.sqlite", (), False, "`fedqsar evaluate`"),
    "metrics": RunFile(
        "evaluation/metrics.csv",
        ("partner", "task", "endpoint", "model_kind", "fold", "metric", "value"),
        False,
        "`fedqsar evaluate`",
    ),
    "uplift": RunFile(
        "evaluation/uplift.csv",
        (
            "partner",
            "metric",
            "comparison",
            "local",
            "federated",
            "pooled",
            "delta_abs",
            "delta_rel",
            "riptop",
            "ci_low",
            "ci_high",
            "recovered_share",
            "n_tasks",
        ),
        False,
        "`fedqsar evaluate`",
    ),
    "endpoints": RunFile("evaluation/endpoints.csv", ("partner", "endpoint", "value"), False, "`fedqsar evaluate`"),
    "folds": RunFile(
        "evaluation/folds.csv",
        ("partner", "scheme", "test_fold", "n_test", "n_test_seen_elsewhere", "n_excluded_train"),
        False,
        "`fedqsar evaluate`",
    ),
    "leave_one_out": RunFile(
        "evaluation/leave_one_out.csv",
        ("removed", "partner", "model_kind", "metric", "with_all", "without", "delta", "ci_low", "ci_high", "n_tasks"),
        False,
        "`fedqsar evaluate --leave-one-out`",
    ),
    "coverage": RunFile(
        "trust/coverage.csv",
        ("partner", "task", "confidence", "coverage", "efficiency"),
        False,
        "`fedqsar demo` (its trust step, `fedqsar.trust.write_report_tables`)",
    ),
    "domain": RunFile(
        "trust/domain.csv",
        ("partner", "task", "decile", "similarity", "abs_error"),
        False,
        "`fedqsar demo` (its trust step, `fedqsar.trust.write_report_tables`)",
    ),
    "privacy_bits": RunFile(
        "privacy/bits.csv",
        ("attack", "pair", "target", "auc", "n_positive", "n_negative"),
        False,
        "`fedqsar audit privacy RUN`",
    ),
    "privacy_membership": RunFile(
        "privacy/membership.csv",
        ("partner", "model_kind", "score", "reference", "auc", "n_members", "n_nonmembers"),
        False,
        "`fedqsar audit privacy RUN`",
    ),
    "privacy_summary": RunFile("privacy/summary.csv", ("key", "value"), False, "`fedqsar audit privacy RUN`"),
}

NUMERIC_COLUMNS: dict[str, tuple[str, ...]] = {
    "history": ("round", "value"),
    "metrics": ("value",),
    "uplift": (
        "local",
        "federated",
        "pooled",
        "delta_abs",
        "delta_rel",
        "riptop",
        "ci_low",
        "ci_high",
        "recovered_share",
        "n_tasks",
    ),
    "endpoints": ("value",),
    "folds": ("test_fold", "n_test", "n_test_seen_elsewhere", "n_excluded_train"),
    "leave_one_out": ("with_all", "without", "delta", "ci_low", "ci_high", "n_tasks"),
    "coverage": ("confidence", "coverage", "efficiency"),
    "domain": ("decile", "similarity", "abs_error"),
    "privacy_bits": ("auc", "n_positive", "n_negative"),
    "privacy_membership": ("auc", "n_members", "n_nonmembers"),
}
"""Columns that must parse as numbers (empty cells become NaN, text is an error)."""

OPTIONAL_COLUMNS: dict[str, dict[str, str]] = {
    "uplift": {"rf": "number", "personalised": "number"},
    "folds": {"source": "text", "test_overlap": "text", "n_excluded_validation": "number"},
    "coverage": {"kind": "text", "n": "number"},
    "domain": {"n": "number"},
}
"""Columns producers may add beyond the contract; typed and used when present."""


def missing_message(name: str) -> str:
    """One sentence saying which file is missing and which command writes it."""
    spec = RUN_FILES[name]
    return f"{spec.relative} is not in this run folder; {spec.producer} writes it."
