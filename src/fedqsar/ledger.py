"""Append-only, hash-chained SQLite record of a federated run.

Each entry stores ``seq`` (1, 2, 3, ...), an ISO-8601 UTC ``timestamp``, a ``kind``
(``run_start``, ``partner``, ``round``, ``final_model``, ``run_end`` or any other
lower-case word), a canonical JSON ``payload``, the hash of the previous entry and its own
hash::

    hash = sha256(canonical_json([prev_hash, seq, timestamp, kind, payload_json]))

with ``fedqsar.hashing.canonical_json``, the one canonical JSON of fedqsar. The first entry's
``prev_hash`` is 64 zeros. SQLite triggers abort any UPDATE or DELETE on the table, and this
module offers no API to edit or remove an entry.

The head (last ``seq`` and ``hash``) is also written to a sidecar file next to the database
(``ledger.sqlite`` -> ``ledger.head``) after every append. ``verify`` recomputes the whole
chain and compares its end with the head, which detects:

- an edited payload, kind, timestamp, seq or hash of any entry (the chain breaks there);
- a removed entry in the middle (seq gap / chain break at the next entry);
- reordered entries (seq out of order / chain break);
- a removed last entry or an appended foreign entry (chain end differs from the head file);
- a missing head file.

The head file is replaced atomically right after each committed append; a crash between the
two leaves the head one entry behind, which ``verify`` reports like an appended entry (the
honest reading: that last entry was not anchored).

Not detectable from the run folder alone: someone with write access who rebuilds the whole
chain *and* rewrites the head file consistently. Against that, publish the head hash outside
the run folder (e.g. send it to every partner at ``run_end``; ``fedqsar ledger show`` prints it)
and compare later.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
from collections import Counter
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from fedqsar.errors import LedgerClosedError, LedgerIntegrityError
from fedqsar.hashing import canonical_text, sha256_text

GENESIS_HASH = "0" * 64
LEDGER_FILENAME = "ledger.sqlite"
HEAD_SUFFIX = ".head"
SCHEMA_VERSION = 1
KIND_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,63}$")

#: Payload keys each well-known kind must carry (other kinds are free-form).
REQUIRED_KEYS: dict[str, tuple[str, ...]] = {
    "run_start": ("config_hash",),
    "partner": ("partner", "manifest_hash"),
    "round": ("round", "participants", "aggregate_hash"),
    "final_model": ("model_hash",),
    "run_end": (),
}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    seq        INTEGER PRIMARY KEY,
    timestamp  TEXT NOT NULL,
    kind       TEXT NOT NULL,
    payload    TEXT NOT NULL,
    prev_hash  TEXT NOT NULL,
    hash       TEXT NOT NULL
);
CREATE TRIGGER IF NOT EXISTS entries_no_update BEFORE UPDATE ON entries
BEGIN SELECT RAISE(ABORT, 'fedqsar ledger is append-only: UPDATE refused'); END;
CREATE TRIGGER IF NOT EXISTS entries_no_delete BEFORE DELETE ON entries
BEGIN SELECT RAISE(ABORT, 'fedqsar ledger is append-only: DELETE refused'); END;
"""


@dataclass(frozen=True)
class Entry:
    """One ledger entry, as stored."""

    seq: int
    timestamp: str
    kind: str
    payload: dict[str, Any]
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class VerifyResult:
    """Outcome of a successful ``verify``.

    Attributes
    ----------
    path
        The SQLite file verified.
    n_entries
        Number of entries in the chain.
    head_hash
        Hash of the last entry (equal to the head file's).
    complete
        True when the last entry is ``run_end``.
    kinds
        Count of entries per kind.
    """

    path: Path
    n_entries: int
    head_hash: str
    complete: bool
    kinds: dict[str, int] = field(default_factory=dict)


# ---------------------------------------------------------------- hashing helpers


def hash_arrays(arrays: dict[str, np.ndarray] | list[np.ndarray]) -> str:
    """Hex sha256 of named (or ordered) arrays: name, dtype, shape and bytes of each.

    Parameters
    ----------
    arrays
        ``{name: array}`` (hashed in sorted name order) or a list (hashed in list order,
        names are the positions).
    """
    items = sorted(arrays.items()) if isinstance(arrays, dict) else list(enumerate(arrays))
    digest = hashlib.sha256()
    for name, array in items:
        contiguous = np.ascontiguousarray(array)
        digest.update(f"{name}|{contiguous.dtype.str}|{contiguous.shape}|".encode())
        digest.update(contiguous.tobytes())
    return digest.hexdigest()


def entry_hash(prev_hash: str, seq: int, timestamp: str, kind: str, payload_json: str) -> str:
    """The chained hash of one entry (see module docstring)."""
    return sha256_text(canonical_text([prev_hash, seq, timestamp, kind, payload_json]))


# ---------------------------------------------------------------- paths


def resolve_ledger_path(path: Path) -> Path:
    """Find the SQLite file from a run folder, a ``federation/`` folder or the file itself."""
    path = Path(path)
    for candidate in (path, path / LEDGER_FILENAME, path / "federation" / LEDGER_FILENAME):
        if candidate.is_file():
            return candidate
    raise LedgerIntegrityError(
        f"no ledger found at {path} (looked for {path}/federation/{LEDGER_FILENAME} and {path}/{LEDGER_FILENAME})",
        "pass the run folder written by `fedqsar federate`/`fedqsar demo`, or the ledger.sqlite file itself",
    )


def head_path(ledger_path: Path) -> Path:
    """Sidecar file holding the head (``ledger.sqlite`` -> ``ledger.head``)."""
    return Path(ledger_path).with_suffix(HEAD_SUFFIX)


# ---------------------------------------------------------------- the ledger


class Ledger:
    """Append-only, hash-chained ledger in a SQLite file.

    Parameters
    ----------
    path
        SQLite file, e.g. ``RUN/federation/ledger.sqlite``; created with its parent folder if
        missing. An existing ledger is verified before new entries are appended.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        existed = self.path.exists()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(self._connect()) as conn:
            conn.executescript(_SCHEMA)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        if existed:
            verify(self.path)
        else:
            _write_head(self.path, 0, GENESIS_HASH)

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=30.0, isolation_level=None)

    def append(self, kind: str, payload: dict[str, Any]) -> Entry:
        """Append one entry and move the head to it.

        Raises
        ------
        ValueError
            ``kind`` is not a lower-case word, or a well-known kind lacks required keys, or the
            payload is not JSON-serialisable (NaN included).
        LedgerClosedError
            The ledger already ends with ``run_end``.
        """
        payload_json = _validated_payload(kind, payload)
        conn = self._connect()
        try:
            conn.execute("BEGIN IMMEDIATE")
            last = conn.execute("SELECT seq, kind, hash FROM entries ORDER BY seq DESC LIMIT 1").fetchone()
            if last is not None and last[1] == "run_end":
                conn.execute("ROLLBACK")
                raise LedgerClosedError(
                    f"ledger {self.path} already ends with run_end (seq {last[0]}); nothing can follow it",
                    "start a new run folder for a new federation",
                )
            seq = 1 if last is None else int(last[0]) + 1
            prev_hash = GENESIS_HASH if last is None else str(last[2])
            timestamp = datetime.now(UTC).isoformat(timespec="microseconds")
            digest = entry_hash(prev_hash, seq, timestamp, kind, payload_json)
            conn.execute(
                "INSERT INTO entries (seq, timestamp, kind, payload, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?)",
                (seq, timestamp, kind, payload_json, prev_hash, digest),
            )
            conn.execute("COMMIT")
        finally:
            conn.close()
        _write_head(self.path, seq, digest)
        return Entry(seq, timestamp, kind, json.loads(payload_json), prev_hash, digest)

    def entries(self) -> list[Entry]:
        """All entries in ``seq`` order (as stored; use ``verify`` to check them)."""
        return read_entries(self.path)

    def head(self) -> tuple[int, str]:
        """``(seq, hash)`` of the last entry; ``(0, GENESIS_HASH)`` when empty."""
        with closing(self._connect()) as conn:
            row = conn.execute("SELECT seq, hash FROM entries ORDER BY seq DESC LIMIT 1").fetchone()
        return (0, GENESIS_HASH) if row is None else (int(row[0]), str(row[1]))


def _validated_payload(kind: str, payload: dict[str, Any]) -> str:
    if not KIND_PATTERN.match(kind):
        raise ValueError(f"ledger kind {kind!r} must be a lower-case word like 'round' or 'final_model'")
    if not isinstance(payload, dict):
        raise ValueError(f"ledger payload must be a dict, got {type(payload).__name__}")
    missing = [key for key in REQUIRED_KEYS.get(kind, ()) if key not in payload]
    if missing:
        raise ValueError(f"ledger entry of kind {kind!r} lacks payload keys {missing}")
    try:
        return canonical_text(payload)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"ledger payload of kind {kind!r} is not canonical JSON: {exc}") from exc


def _write_head(ledger_path: Path, seq: int, digest: str) -> None:
    target = head_path(ledger_path)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(canonical_text({"seq": seq, "hash": digest}) + "\n", encoding="utf-8")
    os.replace(tmp, target)


def _read_head(ledger_path: Path) -> tuple[int, str]:
    target = head_path(ledger_path)
    if not target.is_file():
        raise LedgerIntegrityError(
            f"head file {target} is missing, so removal of the last entries cannot be ruled out",
            "restore ledger.head from a backup or from a partner's copy of the head hash",
        )
    try:
        head = json.loads(target.read_text(encoding="utf-8"))
        return int(head["seq"]), str(head["hash"])
    except (ValueError, KeyError, TypeError) as exc:
        raise LedgerIntegrityError(
            f"head file {target} is malformed ({exc})", "restore ledger.head from a backup"
        ) from exc


def read_entries(path: Path) -> list[Entry]:
    """Read every entry of a ledger file in ``seq`` order, without checking anything."""
    rows = _select_rows(path, "seq")
    return [Entry(int(r[0]), str(r[1]), str(r[2]), _loads(r[3]), str(r[4]), str(r[5])) for r in rows]


def _loads(text: Any) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        return {"__unparseable__": str(text)}
    return value if isinstance(value, dict) else {"__not_a_dict__": value}


def _raw_rows(path: Path) -> list[tuple[Any, ...]]:
    # ORDER BY rowid: the physical insertion order, so reordered seq values show up.
    return _select_rows(path, "rowid")


def _select_rows(path: Path, order_by: str) -> list[tuple[Any, ...]]:
    """All entry rows of a ledger file (read-only), ordered by ``seq`` or ``rowid``."""
    if order_by not in ("seq", "rowid"):
        raise ValueError(f"order_by must be 'seq' or 'rowid', got {order_by!r}")
    try:
        conn = sqlite3.connect(f"file:{Path(path)}?mode=ro", uri=True)
        try:
            return conn.execute(
                f"SELECT seq, timestamp, kind, payload, prev_hash, hash FROM entries ORDER BY {order_by}"
            ).fetchall()
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise LedgerIntegrityError(
            f"ledger {path} is not a readable fedqsar ledger ({exc})", "restore the file from a backup"
        ) from exc


def _bad(seq: Any, reason: str, path: Path) -> LedgerIntegrityError:
    return LedgerIntegrityError(
        f"ledger {path}: entry seq {seq} {reason}",
        "the run record was altered after it was written; do not trust this run's provenance "
        "(restore the ledger from a backup or re-run the federation)",
        bad_seq=seq,
    )


def verify(path: Path) -> VerifyResult:
    """Recompute the hash chain and compare its end with the head file.

    Parameters
    ----------
    path
        Run folder, its ``federation/`` folder, or the ``ledger.sqlite`` file.

    Raises
    ------
    LedgerIntegrityError
        Naming the first bad ``seq`` (attribute ``bad_seq``) for an edited, removed or
        reordered entry, or the head mismatch for a truncated/extended tail.
    """
    ledger_path = resolve_ledger_path(Path(path))
    rows = _raw_rows(ledger_path)
    prev_hash = GENESIS_HASH
    kinds: Counter[str] = Counter()
    for expected_seq, (seq, timestamp, kind, payload_json, stored_prev, stored_hash) in enumerate(rows, start=1):
        if seq != expected_seq:
            raise _bad(expected_seq, f"is missing or out of order (found seq {seq} in its place)", ledger_path)
        if stored_prev != prev_hash:
            raise _bad(
                seq,
                "does not follow the previous entry (prev_hash differs: an entry before it was removed, reordered or edited)",
                ledger_path,
            )
        if entry_hash(stored_prev, seq, timestamp, kind, payload_json) != stored_hash:
            raise _bad(seq, "was edited (its content no longer matches its hash)", ledger_path)
        prev_hash = stored_hash
        kinds[str(kind)] += 1
    head_seq, head_hash = _read_head(ledger_path)
    n_entries = len(rows)
    if (head_seq, head_hash) != (n_entries, prev_hash):
        first_bad = min(head_seq, n_entries) + 1 if head_seq != n_entries else n_entries
        raise _bad(
            first_bad,
            f"breaks the anchor: the head file records {head_seq} entries ending in {head_hash[:16]}..., "
            f"the database holds {n_entries} ending in {prev_hash[:16]}... (entries removed from or added to the tail)",
            ledger_path,
        )
    complete = bool(rows) and rows[-1][2] == "run_end"
    return VerifyResult(ledger_path, n_entries, prev_hash, complete, dict(kinds))
