"""Reading back what fedqsar wrote: file checksums and one way to turn a corrupt file into an error.

* :func:`check_sha256` (over :func:`fedqsar.hashing.sha256_file`) - every weight file (model, checkpoint, a
  partner's private state) has its sha256 recorded when it is written and checked before it
  is read; a mismatch (a truncated, overwritten or swapped file) is a
  :class:`~fedqsar.errors.ChecksumError` naming the file.
* :func:`read_artefact` - calls a reader and turns whatever a damaged file makes the reader
  raise (``zipfile.BadZipFile`` from a truncated ``.npz``, ``ArrowInvalid`` from a parquet
  file, ``SafetensorError``, a JSON or TOML decode error, ``sqlite3.DatabaseError``, ...) into a
  :class:`~fedqsar.errors.CorruptArtefactError` that names the file and the fix.
"""

from __future__ import annotations

import json
import sqlite3
import struct
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from fedqsar.errors import ChecksumError, CorruptArtefactError
from fedqsar.hashing import sha256_file

T = TypeVar("T")


def _read_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [
        OSError,
        ValueError,  # also JSON/TOML/Unicode decode errors and pyarrow's ArrowInvalid
        EOFError,
        KeyError,
        IndexError,
        TypeError,
        zipfile.BadZipFile,
        zlib.error,
        struct.error,
        sqlite3.DatabaseError,
    ]
    try:
        from safetensors import SafetensorError

        errors.append(SafetensorError)
    except ImportError:  # pragma: no cover - safetensors is a dependency
        pass
    return tuple(errors)


READ_ERRORS = _read_errors()


def check_sha256(path: Path, expected: str | None, fix: str) -> None:
    """Raise :class:`ChecksumError` unless ``path``'s sha256 is ``expected``.

    Raises
    ------
    ChecksumError
        When no checksum was recorded, or the file's differs (names the file and both digests).
    CorruptArtefactError
        When the file cannot be read at all.
    """
    path = Path(path)
    if not expected:
        raise ChecksumError(f"no sha256 is recorded for {path}, so it cannot be verified", fix)
    actual = read_artefact(path, sha256_file, "file", fix)
    if actual != expected:
        raise ChecksumError(
            f"{path} was changed after it was written: its sha256 is {actual}, the recorded one {expected}", fix
        )


def load_json_object(path: Path) -> dict[str, Any]:
    """A JSON file that must hold an object (raises ValueError otherwise); for :func:`read_artefact`."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"expected a JSON object, found {type(data).__name__}")
    return data


def read_artefact(path: Path, reader: Callable[[Path], T], kind: str, fix: str) -> T:
    """``reader(path)``; a missing, truncated or malformed file becomes a :class:`CorruptArtefactError`.

    Parameters
    ----------
    kind
        What the file is, for the message (e.g. ``"PreparedSet fingerprints"``).
    fix
        What to do about it.
    """
    path = Path(path)
    try:
        return reader(path)
    except FileNotFoundError as exc:
        raise CorruptArtefactError(path, f"{kind} {path} does not exist", fix) from exc
    except READ_ERRORS as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CorruptArtefactError(
            path, f"{kind} {path} is corrupt or truncated ({type(exc).__name__}: {detail})", fix
        ) from exc
