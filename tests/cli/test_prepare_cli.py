"""``fedqsar prepare`` / ``keygen`` / ``manifest-diff`` from the command line."""

from __future__ import annotations

import json
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
    bad.write_text("compound_id,smiles,assay_id,value,unit,qualifier\nc1,C1CC(,IC50,1,nM,=\nc2,CCO,IC50,x,nM,=\n")
    result = runner.invoke(app, ["prepare", "--input", str(bad), "--out", str(tmp_path / "p"), "-q", "-j", "1"])
    assert result.exit_code == 1 and "no usable rows" in result.output
    rejected = pd.read_csv(tmp_path / "p" / "rejected.csv")
    assert sorted(rejected["reason"]) == ["non_numeric_value", "unparsable_smiles"]


def _kinetic_wide(path: Path, n: int = 30) -> Path:
    smiles = ["C" * (i % 7 + 1) + "O" + "c1ccccc1" * (i % 2) + "N" * (i % 3) for i in range(n)]
    pd.DataFrame(
        {
            "Molecule Name": [f"E-{i}" for i in range(n)],
            "SMILES": smiles,
            "Assay date": [f"2020-{1 + i % 12:02d}-01" for i in range(n)],
            "LogD": [0.1 * i for i in range(n)],
            "KSOL": [round(0.5 * 1.3**i, 3) for i in range(n)],  # uM, but the header does not say
            "Readout X (nM)": [float(10 + i) for i in range(n)],  # potency or solubility? nobody can tell
        }
    ).to_csv(path, index=False)
    return path


def test_an_unclear_column_stops_with_candidates_and_the_map_line(tmp_path: Path) -> None:
    wide = _kinetic_wide(tmp_path / "adme.csv")
    common = ["prepare", "--wide", "--input", str(wide), "--smiles-column", "SMILES", "--id-column", "Molecule Name"]
    result = runner.invoke(app, [*common, "--out", str(tmp_path / "p"), "-q", "-j", "1"])
    assert result.exit_code == 2
    assert "'KSOL'" in result.output and "'Readout X (nM)'" in result.output and "pXC50, logS" in result.output
    assert '"KSOL" = { endpoint = "logS", unit = "UNIT" }' in result.output
    assert "--endpoint-map" in result.output and "--allow-custom" in result.output
    assert (tmp_path / "p" / "endpoint_questions.toml").is_file()

    (tmp_path / "map.toml").write_text('"Readout X (nM)" = "logS"\n')
    answered = runner.invoke(
        app,
        [*common, "--out", str(tmp_path / "p"), "--endpoint-map", str(tmp_path / "map.toml"), "--unit", "KSOL=uM"]
        + ["--date-column", "Assay date", "-q", "-j", "1"],
    )
    assert answered.exit_code == 0, answered.output
    assert "logD7.4" in answered.output and "logS" in answered.output and "no pH in the name" in answered.output
    tasks = pd.read_parquet(tmp_path / "p" / "tasks.parquet")
    assert set(tasks["endpoint"]) == {"logD7.4", "logS"}


def test_allow_custom_says_so_loudly(tmp_path: Path) -> None:
    wide = _kinetic_wide(tmp_path / "adme.csv")
    result = runner.invoke(
        app,
        ["prepare", "--wide", "--input", str(wide), "--smiles-column", "SMILES", "--id-column", "Molecule Name"]
        + ["--out", str(tmp_path / "p"), "--allow-custom", "-q", "-j", "1"],
    )
    assert result.exit_code == 0, result.output
    assert "KSOL (CUSTOM)" in result.output and "warning: custom endpoint 'KSOL'" in result.output
    assert "decades on a linear scale" in result.output  # KSOL kept linear: 0.5 .. 1000 uM
    manifest = json.loads((tmp_path / "p" / "manifest.json").read_text())
    assert {c["endpoint"] for c in manifest["semantics"]["custom_endpoints"]} == {"KSOL", "Readout X (nM)"}


def test_wide_only_options_need_wide(tmp_path: Path) -> None:
    source = _long_file(tmp_path / "in.csv")
    result = runner.invoke(app, ["prepare", "--input", str(source), "--out", str(tmp_path / "p"), "--unit", "x=uM"])
    assert result.exit_code == 2 and "--wide" in result.output
