from __future__ import annotations

import stat
from pathlib import Path

from typer.testing import CliRunner

from fedqsar.cli.main import app
from fedqsar.prep.keys import load_key


def test_keygen_writes_a_private_key_and_prints_its_id(tmp_path: Path) -> None:
    path = tmp_path / "consortium.key"
    result = CliRunner().invoke(app, ["keygen", "--out", str(path)])
    assert result.exit_code == 0, result.output
    key = load_key(path)
    assert key.key_id in result.output
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_keygen_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    path = tmp_path / "consortium.key"
    runner = CliRunner()
    runner.invoke(app, ["keygen", "--out", str(path)])
    first = load_key(path)
    refused = runner.invoke(app, ["keygen", "--out", str(path)])
    assert refused.exit_code == 2 and load_key(path) == first
    forced = runner.invoke(app, ["keygen", "--out", str(path), "--force"])
    assert forced.exit_code == 0 and load_key(path) != first
