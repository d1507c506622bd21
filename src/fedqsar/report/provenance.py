"""Provenance of a run: its configuration and hash, the library versions it recorded (ledgers: ``ledgers.py``)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from fedqsar.errors import ReportError
from fedqsar.hashing import hash_json
from fedqsar.report.files import RUN_FILES
from fedqsar.versions import VERSIONS_FILE, read_versions

CONFIG_FALLBACK = "evaluation/config.toml"
"""Written by ``fedqsar evaluate``; read when the run folder has no top-level config.toml."""


def read_config(run_dir: Path) -> tuple[dict[str, Any], str, str]:
    """Parse the run's configuration and hash it.

    Returns
    -------
    (dict, str, str)
        The configuration tables, the sha256 of their canonical JSON (sorted keys, no
        spaces: :func:`fedqsar.hashing.hash_json`, as :func:`fedqsar.config.config_hash`), and the file read
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
    try:
        digest = hash_json(config)
    except (TypeError, ValueError) as exc:
        raise ReportError(
            f"{path} holds a value canonical JSON cannot represent ({exc})",
            "write dates as strings and numbers as finite values (fedqsar writes config.toml so)",
        ) from exc
    return config, digest, path.relative_to(run_dir).as_posix()


VERSIONS_PLACES = (VERSIONS_FILE, f"evaluation/{VERSIONS_FILE}", f"federation/{VERSIONS_FILE}")
"""Where a run folder records its library versions, first found wins (``fedqsar.versions.write_versions``)."""


def recorded_versions(run_dir: Path) -> tuple[dict[str, str], str | None]:
    """The library versions the run recorded, and the file read; ``({}, None)`` when none did.

    Never the versions installed now: a report rendered later must say what the run ran with.
    """
    for relative in VERSIONS_PLACES:
        versions = read_versions(run_dir / relative)
        if versions is not None:
            return versions, relative
    return {}, None
