"""The PreparedSet manifest: what settings produced it, and comparing two of them.

Partners may federate only if their manifests agree on everything that shapes the
data: the prep config hash (standardisation, fingerprint, folds, values, tasks), the
consortium key id and the format version. Library versions are compared too but only
reported as warnings, since a patch release of RDKit rarely changes output yet can.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from typing import Any

from fedqsar import __version__
from fedqsar.config import to_dict
from fedqsar.prep.config import PrepConfig

BLOCKING_FIELDS = ("prep_hash", "key_id", "format_version")
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


@dataclass(frozen=True)
class ManifestDifference:
    """One way two manifests differ; ``blocking`` ones forbid federating."""

    field: str
    left: Any
    right: Any
    blocking: bool

    def describe(self) -> str:
        level = "BLOCKING" if self.blocking else "warning"
        return f"{level}: {self.field}: {self.left!r} != {self.right!r}"


def compare_manifests(left: dict[str, Any], right: dict[str, Any]) -> list[ManifestDifference]:
    """Every difference between two manifests that matters for combining their data.

    Blocking: format version, prep hash (with the exact config keys that differ), key id.
    Warnings: library versions.
    """
    differences = [
        ManifestDifference(name, left.get(name), right.get(name), True)
        for name in BLOCKING_FIELDS
        if left.get(name) != right.get(name)
    ]
    if left.get("prep_hash") != right.get("prep_hash"):
        differences += [
            ManifestDifference(f"prep_config.{path}", a, b, True)
            for path, a, b in _diff_nested(left.get("prep_config", {}), right.get("prep_config", {}))
        ]
    differences += [
        ManifestDifference(f"versions.{path}", a, b, False)
        for path, a, b in _diff_nested(left.get("versions", {}), right.get("versions", {}))
    ]
    return differences


def _diff_nested(left: Any, right: Any, prefix: str = "") -> list[tuple[str, Any, Any]]:
    if isinstance(left, dict) and isinstance(right, dict):
        out: list[tuple[str, Any, Any]] = []
        for name in sorted(set(left) | set(right)):
            path = f"{prefix}.{name}" if prefix else name
            out += _diff_nested(left.get(name), right.get(name), path)
        return out
    return [] if left == right else [(prefix, left, right)]
