"""Check the run's hash-chained ledgers and that the result files are the ones recorded.

A run folder holds two ledgers (docs/CONTRACTS.md): ``federation/ledger.sqlite`` (written by
the Flower server) and ``evaluation/ledger.sqlite`` (written by the evaluation protocol; its
``evaluation`` entry records the sha256 of each result file and the federation ledger's head).
Both chains are verified with :func:`fedqsar.ledger.verify`; then the result files the report
shows are hashed and compared with what the evaluation recorded.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from fedqsar.errors import FedQSARError
from fedqsar.hashing import sha256_file
from fedqsar.report.files import RUN_FILES, missing_message

LEDGERS = ("ledger", "evaluation_ledger")
"""``RUN_FILES`` keys of the ledgers, federation first."""


@dataclass(frozen=True)
class LedgerStatus:
    """Outcome of checking one ledger.

    Attributes
    ----------
    name
        Path of the ledger inside the run folder.
    state
        ``"verified"``, ``"failed"``, ``"missing"`` (no ledger file) or ``"unavailable"``
        (this installation has no ``fedqsar.ledger``).
    detail
        Sentences for the reader.
    """

    name: str
    state: str
    detail: str


def check_ledgers(run_dir: Path) -> tuple[LedgerStatus, ...]:
    """Verify each ledger of ``run_dir`` (see the module docstring)."""
    module = _ledger_module()
    federation = _check_chain(run_dir, "ledger", module)
    evaluation = _check_chain(run_dir, "evaluation_ledger", module)
    if evaluation.state == "verified" and module is not None:
        evaluation = _check_recorded_results(run_dir, evaluation, federation, module)
    return federation, evaluation


def _ledger_module() -> ModuleType | None:
    try:
        return importlib.import_module("fedqsar.ledger")
    except ModuleNotFoundError as exc:
        if exc.name != "fedqsar.ledger":
            raise
        return None


def _check_chain(run_dir: Path, key: str, module: ModuleType | None) -> LedgerStatus:
    relative = RUN_FILES[key].relative
    if not (run_dir / relative).is_file():
        return LedgerStatus(relative, "missing", missing_message(key))
    if module is None:
        return LedgerStatus(
            relative, "unavailable", "this installation of fedqsar has no ledger module to verify with."
        )
    try:
        result = module.verify(run_dir / relative)
    except FedQSARError as exc:
        return LedgerStatus(relative, "failed", f"verification FAILED: {exc.what}")
    return LedgerStatus(relative, "verified", describe_verification(result))


def describe_verification(result: Any) -> str:
    """One or two sentences about a successful ``verify`` result (``VerifyResult`` or similar)."""
    count = getattr(result, "n_entries", None)
    if not isinstance(count, int):
        return "every entry's hash chains to the one before it."
    head = str(getattr(result, "head_hash", ""))
    ending: dict[bool | None, str] = {
        True: " The record is closed (last entry run_end).",
        False: " The record was not closed (no run_end entry): the run may have stopped early.",
    }
    return (
        f"all {count} entries chain correctly"
        + (f"; head hash {head}." if head else ".")
        + ending.get(getattr(result, "complete", None), "")
    )


def _check_recorded_results(
    run_dir: Path, status: LedgerStatus, federation: LedgerStatus, module: ModuleType
) -> LedgerStatus:
    entries = [e for e in module.read_entries(run_dir / status.name) if e.kind == "evaluation"]
    if not entries:
        return LedgerStatus(status.name, status.state, status.detail + " It records no result files to compare.")
    recorded = entries[-1].payload
    problems = [
        *_changed_files(run_dir, recorded.get("files") or {}, module),
        *_federation_head_problem(run_dir, recorded.get("federation_ledger_head"), federation, module),
    ]
    if problems:
        return LedgerStatus(status.name, "failed", status.detail + " But: " + " ".join(problems))
    n_files = len(recorded.get("files") or {})
    return LedgerStatus(
        status.name,
        status.state,
        status.detail + f" The {n_files} result files match the sha256 hashes the evaluation recorded.",
    )


def _recorded_path(name: str) -> str:
    """Run-folder path of a recorded result file: a relative path, or an older ledger's short name."""
    if "/" in name:
        return name
    return "evaluation/config.toml" if name == "config" else f"evaluation/{name}.csv"


def _changed_files(run_dir: Path, files: dict[str, str], module: ModuleType) -> list[str]:
    problems = []
    for name, digest in sorted(files.items()):
        path = run_dir / _recorded_path(name)
        if not path.is_file():
            problems.append(f"{_recorded_path(name)} was recorded by the evaluation but is missing.")
        elif sha256_file(path) != digest:
            problems.append(
                f"{_recorded_path(name)} changed after the evaluation recorded it; "
                "the numbers shown may not be the evaluated ones."
            )
    return problems


def _federation_head_problem(run_dir: Path, head: Any, federation: LedgerStatus, module: ModuleType) -> list[str]:
    if not head or federation.state != "verified":
        return []
    actual = module.verify(run_dir / federation.name).head_hash
    if actual != head:
        return [
            f"{federation.name} ends at {actual[:16]}…, not at the head {str(head)[:16]}… the evaluation "
            "recorded: entries were added or the ledger was replaced after the evaluation."
        ]
    return []
