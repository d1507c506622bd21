"""The ledger is append-only and detects edited, removed, reordered and truncated entries.

Tampering is done by editing the SQLite file directly (dropping the guard triggers first),
as an attacker with write access to the run folder would.
"""

from __future__ import annotations

import sqlite3
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest

from fedqsar.errors import LedgerClosedError, LedgerIntegrityError
from fedqsar.hashing import hash_json
from fedqsar.ledger import (
    GENESIS_HASH,
    Ledger,
    hash_arrays,
    head_path,
    read_entries,
    verify,
)


def _write_run(run: Path) -> Path:
    path = run / "federation" / "ledger.sqlite"
    ledger = Ledger(path)
    ledger.append("run_start", {"config_hash": hash_json({"rounds": 2}), "partners": ["A", "B", "C"]})
    for name in ("A", "B", "C"):
        ledger.append("partner", {"partner": name, "manifest_hash": hash_json({"name": name})})
    for rnd in (1, 2):
        trunk = {"w": np.full((3, 2), rnd, dtype=np.float32)}
        ledger.append("round", {"round": rnd, "participants": ["A", "B", "C"], "aggregate_hash": hash_arrays(trunk)})
    ledger.append("final_model", {"partner": "A", "model_hash": "ab" * 32})
    ledger.append("run_end", {"rounds": 2})
    return path


def _tamper(path: Path, *statements: str) -> None:
    conn = sqlite3.connect(path)
    conn.execute("DROP TRIGGER entries_no_update")
    conn.execute("DROP TRIGGER entries_no_delete")
    for statement in statements:
        conn.execute(statement)
    conn.commit()
    conn.close()


@pytest.fixture()
def run(tmp_path: Path) -> Path:
    _write_run(tmp_path)
    return tmp_path


def test_intact_ledger_verifies_from_run_folder(run: Path) -> None:
    result = verify(run)
    assert result.n_entries == 8
    assert result.complete is True
    assert result.kinds == {"run_start": 1, "partner": 3, "round": 2, "final_model": 1, "run_end": 1}
    entries = read_entries(result.path)
    assert entries[0].prev_hash == GENESIS_HASH
    assert [e.seq for e in entries] == list(range(1, 9))
    assert all(later.prev_hash == earlier.hash for earlier, later in pairwise(entries))
    assert result.head_hash == entries[-1].hash


def test_sqlite_triggers_refuse_update_and_delete(run: Path) -> None:
    conn = sqlite3.connect(run / "federation" / "ledger.sqlite")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("UPDATE entries SET payload = '{}' WHERE seq = 2")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("DELETE FROM entries WHERE seq = 8")
    conn.close()
    verify(run)


def test_edited_payload_is_named(run: Path) -> None:
    path = run / "federation" / "ledger.sqlite"
    _tamper(path, "UPDATE entries SET payload = replace(payload, '\"round\":2', '\"round\":7') WHERE seq = 6")
    with pytest.raises(LedgerIntegrityError, match="seq 6 was edited") as info:
        verify(run)
    assert info.value.bad_seq == 6  # type: ignore[attr-defined]


def test_edited_payload_with_recomputed_hash_breaks_the_next_link(run: Path) -> None:
    from fedqsar.ledger import entry_hash

    path = run / "federation" / "ledger.sqlite"
    row = sqlite3.connect(path).execute("SELECT timestamp, kind, prev_hash FROM entries WHERE seq = 3").fetchone()
    forged_payload = '{"manifest_hash":"00","partner":"B"}'
    forged_hash = entry_hash(row[2], 3, row[0], row[1], forged_payload)
    _tamper(path, f"UPDATE entries SET payload = '{forged_payload}', hash = '{forged_hash}' WHERE seq = 3")
    with pytest.raises(LedgerIntegrityError, match="seq 4 does not follow") as info:
        verify(run)
    assert info.value.bad_seq == 4  # type: ignore[attr-defined]


def test_removed_middle_entry_is_named(run: Path) -> None:
    _tamper(run / "federation" / "ledger.sqlite", "DELETE FROM entries WHERE seq = 4")
    with pytest.raises(LedgerIntegrityError, match="seq 4 is missing") as info:
        verify(run)
    assert info.value.bad_seq == 4  # type: ignore[attr-defined]


def test_removed_and_renumbered_entry_breaks_the_chain(run: Path) -> None:
    _tamper(
        run / "federation" / "ledger.sqlite",
        "DELETE FROM entries WHERE seq = 4",
        "UPDATE entries SET seq = seq - 1 WHERE seq > 4",
    )
    with pytest.raises(LedgerIntegrityError, match="seq 4 does not follow"):
        verify(run)


def test_reordered_entries_are_detected(run: Path) -> None:
    _tamper(
        run / "federation" / "ledger.sqlite",
        "UPDATE entries SET seq = 100 WHERE seq = 5",
        "UPDATE entries SET seq = 5 WHERE seq = 6",
        "UPDATE entries SET seq = 6 WHERE seq = 100",
    )
    with pytest.raises(LedgerIntegrityError, match="seq 5"):
        verify(run)


def test_truncated_tail_is_detected_through_the_head_file(run: Path) -> None:
    _tamper(run / "federation" / "ledger.sqlite", "DELETE FROM entries WHERE seq = 8")
    with pytest.raises(LedgerIntegrityError, match="seq 8 breaks the anchor"):
        verify(run)


def test_missing_head_file_is_an_error(run: Path) -> None:
    head_path(run / "federation" / "ledger.sqlite").unlink()
    with pytest.raises(LedgerIntegrityError, match="head file .* is missing"):
        verify(run)


def test_nothing_can_follow_run_end(run: Path) -> None:
    ledger = Ledger(run / "federation" / "ledger.sqlite")
    with pytest.raises(LedgerClosedError):
        ledger.append("round", {"round": 3, "participants": [], "aggregate_hash": "x"})
    verify(run)


def test_reopening_continues_the_chain(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    Ledger(path).append("run_start", {"config_hash": "c"})
    second = Ledger(path).append("round", {"round": 1, "participants": ["A"], "aggregate_hash": "h"})
    assert second.seq == 2
    assert verify(path).n_entries == 2
    assert verify(path).complete is False


def test_reopening_a_tampered_ledger_refuses(run: Path) -> None:
    path = run / "federation" / "ledger.sqlite"
    _tamper(path, "UPDATE entries SET kind = 'partnerX' WHERE seq = 2")
    with pytest.raises(LedgerIntegrityError):
        Ledger(path)


@pytest.mark.parametrize(
    ("kind", "payload"),
    [
        ("Round", {"round": 1, "participants": [], "aggregate_hash": "h"}),
        ("round", {"round": 1}),
        ("note", {"value": float("nan")}),
        ("note", {"value": object()}),
    ],
)
def test_bad_entries_are_refused(tmp_path: Path, kind: str, payload: dict) -> None:
    ledger = Ledger(tmp_path / "ledger.sqlite")
    with pytest.raises(ValueError):
        ledger.append(kind, payload)
    assert ledger.entries() == []


def test_hash_arrays_depends_on_values_names_and_dtype() -> None:
    base = {"a": np.zeros((2, 2), np.float32), "b": np.ones(3, np.float32)}
    assert hash_arrays(base) == hash_arrays(dict(reversed(list(base.items()))))
    assert hash_arrays(base) != hash_arrays({"a": np.zeros((2, 2), np.float64), "b": base["b"]})
    assert hash_arrays(base) != hash_arrays({"a": base["a"], "c": base["b"]})
    changed = {"a": base["a"].copy(), "b": base["b"]}
    changed["a"][0, 0] = 1e-7
    assert hash_arrays(base) != hash_arrays(changed)


def test_missing_ledger_gives_fix_it_message(tmp_path: Path) -> None:
    with pytest.raises(LedgerIntegrityError, match="no ledger found"):
        verify(tmp_path)


def test_cli_verify_and_show(run: Path) -> None:
    from typer.testing import CliRunner

    from fedqsar.cli.ledger import ledger_app as app

    runner = CliRunner()
    ok = runner.invoke(app, ["verify", str(run)])
    assert ok.exit_code == 0, ok.output
    assert "ledger OK" in ok.output and "8 entries" in ok.output
    shown = runner.invoke(app, ["show", str(run), "--json"])
    assert shown.exit_code == 0
    assert len(shown.output.strip().splitlines()) == 8
    _tamper(run / "federation" / "ledger.sqlite", "DELETE FROM entries WHERE seq = 3")
    bad = runner.invoke(app, ["verify", str(run)])
    assert bad.exit_code != 0
    assert "seq 3" in bad.output
