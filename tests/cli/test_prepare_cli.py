"""``fedqsar prepare`` / ``keygen`` / ``manifest-diff`` from the command line."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from fedqsar.cli.main import app

runner = CliRunner()


def _long_file(path: Path, n: int = 40) -> Path:
    smiles = ["C" * (i % 7 + 1) + "O" + "c1ccccc1" * (i % 2) for i in range(n)]
    pd.DataFrame(
        {
            "compound_id": [f"c{i}" for i in range(n)],
            "smiles": smiles,
            "assay_id": "logd-assay",
            "value": [0.1 * i for i in range(n)],
            "unit": "log",
            "qualifier": "=",
            "endpoint": "logD7.4",
        }
    ).to_csv(path, index=False)
    return path


def test_prepare_without_key_creates_one_and_summarises(tmp_path: Path) -> None:
    source = _long_file(tmp_path / "in.csv")
    result = runner.invoke(app, ["prepare", "--input", str(source), "--out", str(tmp_path / "p"), "-q", "-j", "1"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "p.key").is_file()
    assert "created a new consortium key" in result.output
    assert "input rows" in result.output and "regression tasks" in result.output
    assert (tmp_path / "p" / "prep_config.toml").is_file()
    again = runner.invoke(app, ["prepare", "--input", str(source), "--out", str(tmp_path / "p"), "-q", "-j", "1"])
    assert again.exit_code == 0 and "reusing the key" in again.output


def test_two_partners_same_key_are_compatible_other_config_is_not(tmp_path: Path) -> None:
    source = _long_file(tmp_path / "in.csv")
    assert runner.invoke(app, ["keygen", "--out", str(tmp_path / "k.key")]).exit_code == 0
    common = ["--input", str(source), "--key", str(tmp_path / "k.key"), "-q", "-j", "1"]
    assert runner.invoke(app, ["prepare", *common, "--out", str(tmp_path / "a")]).exit_code == 0
    assert runner.invoke(app, ["prepare", *common, "--out", str(tmp_path / "b")]).exit_code == 0
    same = runner.invoke(app, ["manifest-diff", str(tmp_path / "a"), str(tmp_path / "b")])
    assert same.exit_code == 0 and "compatible" in same.output
    (tmp_path / "c.toml").write_text("[fingerprint]\nradius = 2\n")
    assert (
        runner.invoke(
            app, ["prepare", *common, "--config", str(tmp_path / "c.toml"), "--out", str(tmp_path / "c")]
        ).exit_code
        == 0
    )
    differ = runner.invoke(app, ["manifest-diff", str(tmp_path / "a"), str(tmp_path / "c")])
    assert differ.exit_code == 1 and "fingerprint.radius" in differ.output


def test_missing_columns_stop_with_the_expected_names(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"smiles": ["CCO"], "activity": [1.0]}).to_csv(bad, index=False)
    result = runner.invoke(app, ["prepare", "--input", str(bad), "--out", str(tmp_path / "p"), "-q"])
    assert result.exit_code == 2
    assert "compound_id" in result.output and "assay_id" in result.output


def test_empty_and_undecodable_files_stop_clearly(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    result = runner.invoke(app, ["prepare", "--input", str(empty), "--out", str(tmp_path / "p"), "-q"])
    assert result.exit_code == 2 and "empty" in result.output.lower()
    latin = tmp_path / "latin.csv"
    latin.write_bytes("compound_id,smiles,assay_id,value,unit,qualifier\nc\xe9,CCO,a,1,nM,=\n".encode("latin-1"))
    result = runner.invoke(app, ["prepare", "--input", str(latin), "--out", str(tmp_path / "q"), "-q"])
    assert result.exit_code == 2 and ("utf" in result.output.lower() or "encoding" in result.output.lower())


def test_input_with_no_usable_row_exits_non_zero_with_accounting(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("compound_id,smiles,assay_id,value,unit,qualifier\nc1,C1CC(,a,1,nM,=\nc2,CCO,a,x,nM,=\n")
    result = runner.invoke(app, ["prepare", "--input", str(bad), "--out", str(tmp_path / "p"), "-q", "-j", "1"])
    assert result.exit_code == 1 and "no usable rows" in result.output
    rejected = pd.read_csv(tmp_path / "p" / "rejected.csv")
    assert sorted(rejected["reason"]) == ["non_numeric_value", "unparsable_smiles"]
