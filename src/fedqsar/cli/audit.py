"""``fedqsar audit privacy RUN [RUN ...]``: bit recovery, membership inference and epsilon of finished runs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fedqsar.cli.common import console, reports_errors

KINDS = ("local", "federated", "personalised")
audit_app = typer.Typer(help="Measure what a finished run reveals to a competitor.", no_args_is_help=True)


def _fmt(value: object, digits: int = 2) -> str:
    if value is None:
        return "-"
    number = float(value)  # type: ignore[arg-type]
    return "-" if number != number else f"{number:.{digits}f}"


def summary_lines(run: Path, s: dict) -> list[str]:
    """What one run's audit found, in two or three plain lines."""
    dp = "DP off" if not s.get("dp") else f"DP epsilon {_fmt(s.get('dp_epsilon'), 2)} at delta {s.get('dp_delta')}"
    lines = [
        f"{run}: defence {s.get('defence')}; {dp}; bit-recovery AUC {_fmt(s.get('bit_auc'))} "
        f"(strongest attack: {s.get('bit_attack')}), on competitors' bits {_fmt(s.get('bit_auc_others'))}",
        "  membership AUC (matched hold-out / test fold): "
        + ", ".join(
            f"{kind} {_fmt(s.get(f'membership_auc_{kind}_holdout'))} / {_fmt(s.get(f'membership_auc_{kind}_test_fold'))}"
            for kind in KINDS
        ),
    ]
    if s.get("oracle_auc_nearest_similarity_test_fold") is not None:
        lines.append(
            "  nearest_similarity as a membership oracle (test fold): raw "
            f"{_fmt(s.get('oracle_auc_nearest_similarity_test_fold'))}, as `predict --share` writes it "
            f"{_fmt(s.get('oracle_auc_nearest_similarity_shared_test_fold'))}"
        )
    return lines


@audit_app.command("privacy")
@reports_errors
def privacy_command(
    runs: Annotated[
        list[Path], typer.Argument(help="Run folders (from `fedqsar evaluate --out` or `fedqsar federate --out`).")
    ],
    partners: Annotated[
        list[Path] | None,
        typer.Option(
            "--partners",
            "-p",
            help="PreparedSet folder of a partner, repeated (-p A/ -p B/ ...), when the run has no consortium.json "
            "(runs of `fedqsar federate`)",
        ),
    ] = None,
) -> None:
    """Bit recovery from the global trunks, membership inference per model kind, epsilon; writes RUN/privacy/."""
    from fedqsar.cli.federate import partner_folders
    from fedqsar.evaluation.privacy_audit import audit_privacy, write_audit

    folders = partner_folders(list(partners)) if partners else None
    console.print("AUC 0.5: the attack learns nothing; 1.0: it learns everything")
    for run in runs:
        audit = audit_privacy(run, folders)
        files = write_audit(audit)
        for line in summary_lines(run, audit.summary):
            console.print(line, highlight=False)
        console.print(f"  files: {files['bits']}, {files['membership']}, {files['summary']}", highlight=False)


def register(app: typer.Typer) -> None:
    """Add the ``audit`` verb group."""
    app.add_typer(audit_app, name="audit")
