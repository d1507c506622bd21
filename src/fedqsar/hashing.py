"""The one canonical-JSON hash and the one file hash of fedqsar.

Every sha256 of a mapping (config hashes, manifest hashes, ledger entries and payload
hashes, compatibility section hashes, the report's configuration hash) is taken over
:func:`canonical_json`: sorted keys, no spaces, UTF-8 text (non-ASCII characters as they
are, not ``\\u`` escapes), NaN/Infinity refused, numpy scalars/arrays, mappings, paths and
sets converted. For JSON-native ASCII content these are the bytes every earlier recipe produced
(``json.dumps(..., sort_keys=True, separators=(",", ":"))``), so stored hashes stay valid.

Two earlier recipes produced other bytes: the ServerApp's checkpoint ``config_hash``
(default separators, with spaces) and ASCII-escaped hashes of non-ASCII content.
:func:`matches_recorded` accepts those where a recorded hash is compared with a fresh one
(resuming a federation, reusing a personalised model), so folders written before stay usable.

This module imports no numpy (it is read at CLI start-up through ``fedqsar.config``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

CHUNK_SIZE = 1 << 20


def _json_default(value: Any) -> Any:
    if type(value).__module__ == "numpy" and hasattr(value, "tolist"):
        return value.tolist()  # numpy scalar -> int/float/bool; array -> nested lists
    if isinstance(value, Mapping):
        return dict(value)  # a read-only mapping type (e.g. a typed manifest) hashes as its dict
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def canonical_text(value: Any) -> str:
    """Canonical JSON of ``value`` as text (sorted keys, no spaces, no NaN/Infinity).

    Raises
    ------
    ValueError
        If ``value`` holds NaN or an infinity.
    TypeError
        If ``value`` holds something JSON cannot represent (other than numpy values, paths, sets).
    """
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=_json_default
    )


def canonical_json(value: Any) -> bytes:
    """UTF-8 bytes of :func:`canonical_text` - what :func:`hash_json` hashes."""
    return canonical_text(value).encode("utf-8")


def sha256_text(text: str) -> str:
    """Hex sha256 of a UTF-8 string."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def hash_json(value: Any) -> str:
    """Hex sha256 of :func:`canonical_json` of ``value`` (a config dict, a manifest, a payload)."""
    return hashlib.sha256(canonical_json(value)).hexdigest()


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes (read in 1 MiB chunks)."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK_SIZE), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _earlier_default(value: Any) -> Any:
    """The earlier recipes' ``default=str``, reading a mapping type as the dict it was then."""
    return dict(value) if isinstance(value, Mapping) else str(value)


def _earlier_hashes(value: Any) -> set[str]:
    """Hashes of ``value`` under the recipes used before this module (ASCII escapes; spaces)."""
    escaped = json.dumps(value, sort_keys=True, separators=(",", ":"), default=_earlier_default)
    spaced = json.dumps(value, sort_keys=True, default=_earlier_default)
    return {sha256_text(escaped), sha256_text(spaced)}


def matches_recorded(recorded: object, value: Any) -> bool:
    """Whether a hash recorded in a file is the hash of ``value``, by today's or an earlier recipe.

    Use it wherever a stored hash is compared with one computed now; write only :func:`hash_json`.
    """
    if not isinstance(recorded, str) or not recorded:
        return False
    return recorded == hash_json(value) or recorded in _earlier_hashes(value)
