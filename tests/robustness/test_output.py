"""Probe: rich wrapped an error message in the middle of a path (``.../RUN/consortium.jsondoes not
exist``), depending on the length of pytest's temporary path. Errors, printed paths and the
commands in fix-it lines are never wrapped, whatever the path length and terminal width."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import no_traceback, run_cli

NARROW = {"COLUMNS": "40", "LINES": "20"}


@pytest.fixture()
def long_dir(tmp_path: Path) -> Path:
    folder = tmp_path / ("a-rather-long-folder-name-" * 3) / ("and-another-one-" * 4) / "RUN"
    folder.mkdir(parents=True)
    assert len(str(folder)) > 150
    return folder


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines()]


def test_an_error_names_a_long_path_on_one_line_at_40_columns(long_dir: Path) -> None:
    result = run_cli("report", str(long_dir), env=NARROW)
    assert result.returncode == 2
    no_traceback(result)
    error = next(line for line in _lines(result.stderr) if line.startswith("error:"))
    assert f"{long_dir / 'config.toml'} does not exist" in error  # the whole path, unbroken, on the error line
    fix = next(line for line in _lines(result.stderr) if line.startswith("fix:"))
    assert "`fedqsar report`" in fix and "`fedqsar demo`" in fix


def test_a_fix_command_stays_whole_at_40_columns(long_dir: Path) -> None:
    result = run_cli("train", "--data", str(long_dir / "missing"), "--out", str(long_dir / "model"), env=NARROW)
    assert result.returncode == 2
    no_traceback(result)
    lines = _lines(result.stderr)
    assert any(str(long_dir / "missing") in line for line in lines if line.startswith("error:"))
    assert any("run `fedqsar prepare ... --out FOLDER` first" in line for line in lines if line.startswith("fix:"))


def test_printed_paths_stay_whole_at_40_columns(long_dir: Path) -> None:
    key_file = long_dir / "consortium.key"
    result = run_cli("keygen", "--out", str(key_file), env=NARROW)
    assert result.returncode == 0, result.stderr
    assert any(str(key_file) in line for line in _lines(result.stdout))
    again = run_cli("keygen", "--out", str(key_file), env=NARROW)
    assert again.returncode == 2 and any(str(key_file) in line for line in _lines(again.stderr))
