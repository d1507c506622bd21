"""``fedqsar demo`` end to end on a small slice of the real ADMET consortium."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from fedqsar.cli.main import app
from fedqsar.ledger import verify

SMALL = """
scenario = "admet"
max_compounds = 200
[train]
epochs = 3
[federation]
rounds = 2
local_epochs = 1
[model]
hidden_sizes = [32, 16]
[evaluation]
compound_bootstrap = 50
[evaluation.rf]
n_estimators = 20
"""


@pytest.fixture(scope="module")
def demo_run(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    folder = tmp_path_factory.mktemp("demo")
    config = folder / "small.toml"
    config.write_text(SMALL, encoding="utf-8")
    result = CliRunner().invoke(
        app,
        [
            "demo",
            "--out",
            str(folder / "run"),
            "--config",
            str(config),
            "--data-dir",
            str(shared_data),
            "-q",
            "-j",
            "2",
        ],
    )
    assert result.exit_code == 0, result.output
    return folder / "run", result.output


def test_demo_prints_where_the_report_is(demo_run: tuple[Path, str]) -> None:
    run, output = demo_run
    assert "report:" in output
    html = (run / "report.html").read_text(encoding="utf-8")
    for section in ("summary", "consortium", "uplift", "scatter", "curves", "consistency", "trust", "provenance"):
        assert f'id="{section}"' in html


def test_demo_partners_are_real_owners_with_complete_accounting(demo_run: tuple[Path, str]) -> None:
    run, _ = demo_run
    consortium = json.loads((run / "consortium.json").read_text())
    assert set(consortium) == {"aqsoldb", "astrazeneca", "biogen", "chembl_literature"}
    for partner in consortium.values():
        acc = partner["accounting"]
        assert acc["used"] + acc["merged"] + sum(acc["rejected"].values()) == acc["input_rows"]
    assert len({p["prep_hash"] for p in consortium.values()}) == 1


def test_demo_evaluates_every_partner_and_records_the_run(demo_run: tuple[Path, str]) -> None:
    run, _ = demo_run
    metrics = pd.read_csv(run / "evaluation" / "metrics.csv")
    assert set(metrics["model_kind"]) == {"local", "federated", "personalised", "pooled", "rf"}
    assert metrics["partner"].nunique() == 4
    uplift = pd.read_csv(run / "evaluation" / "uplift.csv")
    assert {"riptop", "ci_low", "ci_high", "recovered_share"} <= set(uplift.columns)
    assert (run / "trust" / "coverage.csv").is_file()
    assert verify(run / "federation").complete  # raises LedgerIntegrityError if edited
    assert verify(run / "evaluation" / "ledger.sqlite").complete


def test_demo_refuses_to_overwrite_without_being_asked(demo_run: tuple[Path, str], tmp_path: Path) -> None:
    run, _ = demo_run
    again = CliRunner().invoke(app, ["demo", "--out", str(run), "-q"])
    assert again.exit_code == 2 and "--overwrite" in again.output
    (tmp_path / "notes.txt").write_text("mine")
    foreign = CliRunner().invoke(app, ["demo", "--out", str(tmp_path), "--overwrite", "-q"])
    assert foreign.exit_code == 2 and (tmp_path / "notes.txt").is_file()
