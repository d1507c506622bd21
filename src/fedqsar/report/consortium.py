"""Read ``consortium.json``: who took part, with how much data, and where every row went."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from fedqsar.errors import ReportError
from fedqsar.prep.manifest import Manifest
from fedqsar.report.files import RUN_FILES

PREPARED_DIR = "prepared"


@dataclass(frozen=True)
class PartnerInfo:
    """One partner of the consortium as ``consortium.json`` describes it.

    Attributes
    ----------
    name
        Partner name.
    n_compounds, n_tasks
        Rows and task columns of its PreparedSet.
    input_rows, used, merged
        Accounting of its raw input rows; ``None`` where the accounting lacks the count.
    rejected
        Reason code -> number of rejected input rows.
    prep_hash
        Hash of its preparation settings ("" when not given).
    """

    name: str
    n_compounds: int
    n_tasks: int
    input_rows: int | None
    used: int | None
    merged: int | None
    rejected: dict[str, int] = field(default_factory=dict)
    prep_hash: str = ""

    @property
    def n_rejected(self) -> int:
        """Total rejected input rows."""
        return sum(self.rejected.values())

    @property
    def accounting_balances(self) -> bool | None:
        """Whether input rows = used + merged + rejected (``None`` if a count is missing)."""
        if self.input_rows is None or self.used is None or self.merged is None:
            return None
        return self.input_rows == self.used + self.merged + self.n_rejected


def read_consortium(run_dir: Path) -> tuple[tuple[PartnerInfo, ...], str]:
    """Read the partners of ``run_dir``, sorted by name, and say where they came from.

    ``consortium.json`` is read when present; otherwise the PreparedSets under
    ``prepared/<partner>/`` (their ``accounting.json``, ``manifest.json`` and tables).

    Returns
    -------
    (tuple of PartnerInfo, str)
        The partners and the source (``"consortium.json"`` or ``"prepared/"``).

    Raises
    ------
    ReportError
        If neither source exists, the JSON is malformed, it lists no partner, or a partner
        lacks ``n_compounds`` / ``n_tasks``.
    """
    spec = RUN_FILES["consortium"]
    path = run_dir / spec.relative
    if not path.is_file():
        partners = partners_from_prepared(run_dir / PREPARED_DIR)
        if partners:
            return partners, f"{PREPARED_DIR}/"
        raise ReportError(
            f"{path} does not exist and {run_dir / PREPARED_DIR} holds no PreparedSet, so {run_dir} is not a "
            "complete run folder",
            f"point `fedqsar report` at a folder written by {spec.producer}",
        )
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ReportError(f"{path} is not valid JSON: {exc}", f"re-run {spec.producer} to write it again") from exc
    if not isinstance(raw, dict) or not raw:
        raise ReportError(
            f"{path} must map partner names to their descriptions; it lists no partner",
            f"re-run {spec.producer}",
        )
    return tuple(_partner(name, raw[name], path) for name in sorted(raw)), spec.relative


def partners_from_prepared(folder: Path) -> tuple[PartnerInfo, ...]:
    """Partners described by the PreparedSets ``folder/<partner>/`` (empty if there are none).

    Only the small files are read: ``accounting.json``, ``manifest.json`` and the row counts
    of ``compounds.parquet`` / ``tasks.parquet`` (Parquet metadata, no data).
    """
    if not folder.is_dir():
        return ()
    partners = []
    for sub in sorted(p for p in folder.iterdir() if (p / "accounting.json").is_file()):
        entry = {
            "n_compounds": _parquet_rows(sub / "compounds.parquet"),
            "n_tasks": _parquet_rows(sub / "tasks.parquet"),
            "accounting": _json(sub / "accounting.json"),
            "prep_hash": Manifest.from_dict(_json(sub / "manifest.json")).prep_hash,
        }
        partners.append(_partner(sub.name, entry, sub))
    return tuple(partners)


def _parquet_rows(path: Path) -> int:
    try:
        return int(pq.read_metadata(path).num_rows)
    except (OSError, pa.ArrowException) as exc:
        raise ReportError(f"{path} cannot be read: {exc}", "re-run `fedqsar prepare` for that partner") from exc


def _json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ReportError(f"{path} is not valid JSON: {exc}", "re-run `fedqsar prepare` for that partner") from exc
    return value if isinstance(value, dict) else {}


def _partner(name: str, entry: Any, path: Path) -> PartnerInfo:
    if not isinstance(entry, dict):
        raise ReportError(f"{path}: partner {name!r} is {entry!r}, not a table", "re-run the producer")
    accounting = entry.get("accounting") or {}
    return PartnerInfo(
        name=str(name),
        n_compounds=_count(entry, "n_compounds", name, path),
        n_tasks=_count(entry, "n_tasks", name, path),
        input_rows=_optional_count(accounting, "input_rows"),
        used=_optional_count(accounting, "used"),
        merged=_optional_count(accounting, "merged"),
        rejected=_rejected(accounting.get("rejected"), name, path),
        prep_hash=str(entry.get("prep_hash", "")),
    )


def _count(entry: dict[str, Any], key: str, name: str, path: Path) -> int:
    value = entry.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ReportError(
            f"{path}: partner {name!r} has {key}={value!r}; a count (integer >= 0) is required",
            "re-run `fedqsar demo` / `fedqsar federate` so consortium.json is complete",
        )
    return value


def _optional_count(accounting: dict[str, Any], key: str) -> int | None:
    value = accounting.get(key)
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else None


def _rejected(value: Any, name: str, path: Path) -> dict[str, int]:
    if value is None:
        return {}
    if isinstance(value, int) and not isinstance(value, bool):
        return {"unspecified": value} if value else {}
    if isinstance(value, dict) and all(isinstance(v, int) for v in value.values()):
        return {str(k): int(v) for k, v in sorted(value.items())}
    raise ReportError(
        f"{path}: partner {name!r} accounting.rejected is {value!r}; expected reason -> count",
        "re-run `fedqsar prepare` for that partner, then the run",
    )
