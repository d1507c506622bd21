"""The PreparedSet manifest: what settings produced it.

Whether two manifests may be combined is decided by ``fedqsar.compatibility`` (the one
validator: prep settings, consortium key id, format version block; library versions warn).
"""

from __future__ import annotations

import platform
from datetime import UTC, datetime
from importlib import metadata
from typing import Any

from fedqsar import __version__
from fedqsar.config import to_dict
from fedqsar.prep.config import PrepConfig

VERSIONED_PACKAGES = ("rdkit", "numpy", "scipy", "pandas")


def installed_versions(names: tuple[str, ...], missing: str = "missing") -> dict[str, str]:
    """Installed distribution version of each name (``missing`` where it is not installed)."""
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = missing
    return versions


def library_versions() -> dict[str, str]:
    """Versions of fedqsar, Python and the libraries that shape a PreparedSet."""
    return {"fedqsar": __version__, "python": platform.python_version(), **installed_versions(VERSIONED_PACKAGES)}


def build_manifest(config: PrepConfig, key_id: str, counts: dict[str, int], source_format: str) -> dict[str, Any]:
    """Manifest dict for a new PreparedSet (``format_version`` is added on save)."""
    return {
        "prep_config": to_dict(config),
        "prep_hash": config.hash(),
        "key_id": key_id,
        "fingerprint": to_dict(config.fingerprint),
        "versions": library_versions(),
        "counts": dict(counts),
        "source_format": source_format,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
