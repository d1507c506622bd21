"""Read a run folder into one frozen :class:`ReportData`; the report reads nothing else."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from fedqsar.errors import ReportError
from fedqsar.report.consortium import PartnerInfo, read_consortium
from fedqsar.report.files import RUN_FILES, missing_message
from fedqsar.report.ledgers import LEDGERS, LedgerStatus, check_ledgers
from fedqsar.report.provenance import read_config, recorded_versions
from fedqsar.report.sections_valuation import ProbeFiles, read_probe
from fedqsar.report.tables import read_run_table

OPTIONAL_TABLES = (
    "history",
    "metrics",
    "uplift",
    "endpoints",
    "folds",
    "coverage",
    "domain",
    "leave_one_out",
    "privacy_bits",
    "privacy_membership",
    "privacy_summary",
)


@dataclass(frozen=True)
class ReportData:
    """Everything the report shows, read from one run folder.

    Attributes
    ----------
    run_dir
        The run folder.
    config, config_hash
        Parsed ``config.toml`` and the sha256 of its canonical JSON.
    partners
        One :class:`PartnerInfo` per partner, sorted by name.
    tables
        Optional CSV name (``OPTIONAL_TABLES``) -> validated DataFrame; absent files are
        absent keys. Columns as in docs/CONTRACTS.md, e.g. ``uplift`` has one row per
        (partner, metric, comparison).
    missing
        Optional file name -> sentence saying it is missing and which command writes it.
    ledgers
        Verification of the federation and the evaluation ledger, in that order.
    sources
        ``"config"`` / ``"partners"`` -> the file or folder they were read from.
    versions
        Library -> version, as the run folder recorded it (``versions.json``); empty when not recorded.
    created
        UTC time the report data was gathered.
    probes
        Probe folders given to the report (``fedqsar probe`` outputs), read.
    """

    run_dir: Path
    config: dict[str, Any]
    config_hash: str
    partners: tuple[PartnerInfo, ...]
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)
    ledgers: tuple[LedgerStatus, ...] = ()
    versions: dict[str, str] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    created: datetime = field(default_factory=lambda: datetime.now(UTC))
    probes: tuple[ProbeFiles, ...] = ()

    def table(self, name: str) -> pd.DataFrame | None:
        """The table ``name`` or ``None`` when its file was missing."""
        return self.tables.get(name)

    @property
    def partner_names(self) -> tuple[str, ...]:
        """Partner names in report order."""
        return tuple(p.name for p in self.partners)


def gather(run_dir: Path, probes: tuple[Path, ...] = ()) -> ReportData:
    """Read ``run_dir`` (layout: docs/CONTRACTS.md "A run folder") into a :class:`ReportData`.

    ``probes``: folders written by ``fedqsar probe`` to show in the probe section.

    Raises
    ------
    ReportError
        If ``run_dir`` is not a folder, the configuration (``config.toml``, else
        ``evaluation/config.toml``) or the partners (``consortium.json``, else
        ``prepared/<partner>/``) are missing or malformed, or a present CSV lacks a column /
        has text in a numeric column.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ReportError(
            f"run folder {run_dir} does not exist or is not a folder",
            "give the folder written by `fedqsar demo --out RUN` or `fedqsar federate --out RUN`",
        )
    config, config_hash, config_source = read_config(run_dir)
    partners, partners_source = read_consortium(run_dir)
    versions, versions_source = recorded_versions(run_dir)
    tables: dict[str, pd.DataFrame] = {}
    missing: dict[str, str] = {}
    for name in OPTIONAL_TABLES:
        table = read_run_table(run_dir, name)
        if table is None:
            missing[name] = missing_message(name)
        else:
            tables[name] = table
    for name in LEDGERS:
        if not (run_dir / RUN_FILES[name].relative).is_file():
            missing[name] = missing_message(name)
    return ReportData(
        run_dir=run_dir,
        config=config,
        config_hash=config_hash,
        partners=partners,
        tables=tables,
        missing=missing,
        ledgers=check_ledgers(run_dir),
        versions=versions,
        sources={"config": config_source, "partners": partners_source}
        | ({"versions": versions_source} if versions_source else {}),
        probes=tuple(read_probe(Path(folder)) for folder in probes),
    )
