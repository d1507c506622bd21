"""Before any training: do all partners' PreparedSets fit together?

Each partner answers the server's handshake with ``handshake_summary(manifest)``: hashes and
settings only (prep hash, key id, fingerprint settings, format version, the manifest's own
sha256) plus its training example count, which its updates reveal anyway. No compound, label
or task name is in it. The server compares all summaries with ``check_compatible``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from fedqsar.errors import IncompatiblePartnersError
from fedqsar.prep.manifest import compare_manifests

SUMMARY_FIELDS = ("prep_hash", "key_id", "format_version", "fingerprint", "manifest_sha256", "n_bits")


def manifest_sha256(manifest: Mapping[str, Any]) -> str:
    """sha256 of a manifest's canonical JSON (sorted keys)."""
    text = json.dumps(manifest, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def handshake_summary(manifest: Mapping[str, Any], n_bits: int) -> dict[str, str | int]:
    """The settings a partner reveals before federating (all scalars, Flower-config safe)."""
    fingerprint = manifest.get("fingerprint") or manifest.get("prep_config", {}).get("fingerprint", {})
    return {
        "prep_hash": str(manifest.get("prep_hash", "")),
        "key_id": str(manifest.get("key_id", "")),
        "format_version": int(manifest.get("format_version", 0)),
        "fingerprint": json.dumps(fingerprint, sort_keys=True),
        "manifest_sha256": manifest_sha256(manifest),
        "n_bits": int(n_bits),
    }


def check_compatible(summaries: Mapping[str, Mapping[str, Any]]) -> None:
    """Raise unless every partner's prep hash, key id, format and fingerprint settings agree.

    Parameters
    ----------
    summaries
        partner name -> ``handshake_summary`` (or a full manifest with ``n_bits`` added).

    Raises
    ------
    IncompatiblePartnersError
        Naming the first partner that differs from the first one, each differing field and
        both values.
    """
    names = sorted(summaries)
    if not names:
        raise IncompatiblePartnersError("no partner answered the handshake", "start at least one partner node")
    first = _comparable(summaries[names[0]])
    for name in names[1:]:
        other = _comparable(summaries[name])
        lines = [d.describe() for d in compare_manifests(first, other) if d.blocking]
        lines += [
            f"BLOCKING: {key}: {first[key]!r} != {other[key]!r}"
            for key in ("fingerprint", "n_bits")
            if first[key] != other[key]
        ]
        if lines:
            raise IncompatiblePartnersError(
                f"partners {names[0]!r} and {name!r} cannot federate: " + "; ".join(lines),
                "all partners must run `fedqsar prepare` with the same prep config and consortium key",
            )


def _comparable(summary: Mapping[str, Any]) -> dict[str, Any]:
    fingerprint = summary.get("fingerprint", "")
    if not isinstance(fingerprint, str):
        fingerprint = json.dumps(fingerprint, sort_keys=True)
    return {
        "prep_hash": summary.get("prep_hash"),
        "key_id": summary.get("key_id"),
        "format_version": summary.get("format_version"),
        "fingerprint": fingerprint,
        "n_bits": summary.get("n_bits"),
    }
