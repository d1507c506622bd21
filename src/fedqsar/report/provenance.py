"""Provenance of a run: its configuration and hash, ledger verification, library versions."""

from __future__ import annotations

import hashlib
import importlib
import json
import tomllib
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from fedqsar.errors import FedQSARError, ReportError
from fedqsar.report.files import RUN_FILES, missing_message

LIBRARIES = ("fedqsar", "numpy", "pandas", "scipy", "torch", "flwr", "rdkit", "matplotlib", "jinja2")


@dataclass(frozen=True)
class LedgerStatus:
    """Outcome of checking the run's hash-chained ledger.

    Attributes
    ----------
    state
        ``"verified"``, ``"failed"``, ``"missing"`` (no ledger file) or ``"unavailable"``
        (this installation has no ``fedqsar.ledger``).
    detail
        One sentence for the reader.
    """

    state: str
    detail: str


CONFIG_FALLBACK = "evaluation/config.toml"
"""Written by ``fedqsar evaluate``; read when the run folder has no top-level config.toml."""


def read_config(run_dir: Path) -> tuple[dict[str, Any], str, str]:
    """Parse the run's configuration and hash it.

    Returns
    -------
    (dict, str, str)
        The configuration tables, the sha256 of their canonical JSON (sorted keys, no
        spaces; the recipe of :func:`fedqsar.config.config_hash`), and the file read
        (``config.toml``, else ``evaluation/config.toml``).

    Raises
    ------
    ReportError
        If neither file exists or the file is not valid TOML.
    """
    spec = RUN_FILES["config"]
    path = run_dir / spec.relative
    if not path.is_file() and (run_dir / CONFIG_FALLBACK).is_file():
        path = run_dir / CONFIG_FALLBACK
    if not path.is_file():
        raise ReportError(
            f"{run_dir / spec.relative} does not exist, so {run_dir} is not a complete run folder",
            f"point `fedqsar report` at a folder written by {spec.producer}",
        )
    try:
        config = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ReportError(f"{path} is not valid TOML: {exc}", "fix the syntax at the position named") from exc
    canonical = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return config, hashlib.sha256(canonical.encode("utf-8")).hexdigest(), path.relative_to(run_dir).as_posix()


def check_ledger(run_dir: Path) -> LedgerStatus:
    """Verify ``federation/ledger.sqlite`` with ``fedqsar.ledger.verify`` when both exist."""
    if not (run_dir / RUN_FILES["ledger"].relative).is_file():
        return LedgerStatus("missing", missing_message("ledger"))
    try:
        ledger = importlib.import_module("fedqsar.ledger")
    except ModuleNotFoundError as exc:
        if exc.name != "fedqsar.ledger":
            raise
        return LedgerStatus("unavailable", "this installation of fedqsar has no ledger module to verify with.")
    try:
        result = ledger.verify(run_dir)
    except FedQSARError as exc:
        return LedgerStatus("failed", f"verification FAILED: {exc.what}")
    if result is False:
        return LedgerStatus("failed", "verification FAILED: the ledger's hash chain is broken.")
    return LedgerStatus("verified", _describe_verification(result))


def _describe_verification(result: Any) -> str:
    if result is None or result is True:
        return "every entry's hash chains to the one before it."
    count = getattr(result, "n_entries", None)
    if isinstance(count, int):
        head = str(getattr(result, "head_hash", ""))
        complete = getattr(result, "complete", None)
        ending = {True: " The run is closed (last entry run_end).",
                  False: " The run was not closed (no run_end entry): it may have stopped early."}.get(complete, "")
        return f"all {count} entries chain correctly" + (f"; head hash {head}." if head else ".") + ending
    if isinstance(result, int) and not isinstance(result, bool):
        return f"all {result} entries chain correctly."
    return f"verified ({result})."


def library_versions() -> dict[str, str]:
    """Installed version of each library in ``LIBRARIES`` ("not installed" if absent)."""
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions
