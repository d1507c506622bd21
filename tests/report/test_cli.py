"""``fedqsar report RUN/ [--out FILE]``."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from fedqsar.cli.main import app


def test_report_verb_writes_the_file_and_says_where(run_copy: Path, tmp_path: Path) -> None:
    out = tmp_path / "out" / "r.html"
    result = CliRunner().invoke(app, ["report", str(run_copy), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.is_file() and "report written to" in result.output and "r.html" in result.output


def test_report_verb_explains_a_missing_required_file(run_copy: Path) -> None:
    (run_copy / "consortium.json").unlink()
    result = CliRunner().invoke(app, ["report", str(run_copy)])
    assert result.exit_code == 2
    assert f"{run_copy / 'consortium.json'} does not exist" in result.output and "fix:" in result.output
