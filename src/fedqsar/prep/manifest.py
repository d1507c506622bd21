"""The PreparedSet manifest: what settings produced it.

Whether two manifests may be combined is decided by ``fedqsar.compatibility`` (the one
validator: prep settings, consortium key id, format version block; library versions warn).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fedqsar.config import to_dict
from fedqsar.prep.config import PrepConfig
from fedqsar.versions import PREP_LIBRARIES, library_versions


def build_manifest(config: PrepConfig, key_id: str, counts: dict[str, int], source_format: str) -> dict[str, Any]:
    """Manifest dict for a new PreparedSet (``format_version`` is added on save)."""
    return {
        "prep_config": to_dict(config),
        "prep_hash": config.hash(),
        "key_id": key_id,
        "fingerprint": to_dict(config.fingerprint),
        "versions": library_versions(PREP_LIBRARIES),
        "counts": dict(counts),
        "source_format": source_format,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
