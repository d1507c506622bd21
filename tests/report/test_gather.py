"""Reading a run folder: validated tables, typed errors with fix-it messages, ledger check."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from fedqsar.errors import FedQSARError, ReportError
from fedqsar.prepared import TASK_COLUMNS, PreparedSet
from fedqsar.report import gather
from fedqsar.report.files import RUN_FILES


def test_gathers_every_file_of_a_complete_run(synthetic_run: Path) -> None:
    data = gather(synthetic_run)
    assert data.partner_names == ("biotech_c", "pharma_a", "pharma_b")
    assert data.missing == {}
    assert set(data.tables) == {
        "history",
        "metrics",
        "uplift",
        "endpoints",
        "folds",
        "coverage",
        "domain",
        "leave_one_out",
        "privacy_bits",
        "privacy_membership",
        "privacy_summary",
    }
    assert data.table("uplift")["delta_abs"].dtype == "float64"
    assert data.table("coverage")["n"].dtype == "float64"  # extra column of the producer, typed
    assert all(p.accounting_balances for p in data.partners)
    federation, evaluation = data.ledgers
    assert (federation.name, federation.state) == ("federation/ledger.sqlite", "verified")
    assert "all 18 entries chain correctly" in federation.detail and "closed" in federation.detail
    assert (evaluation.name, evaluation.state) == ("evaluation/ledger.sqlite", "verified")
    assert "The 3 result files match" in evaluation.detail
    assert len(data.config_hash) == 64 and data.config["federation"]["rounds"] == 12


def test_config_hash_ignores_formatting_but_not_values(run_copy: Path) -> None:
    before = gather(run_copy).config_hash
    config = run_copy / "config.toml"
    config.write_text("# a comment\n\n" + config.read_text(encoding="utf-8"), encoding="utf-8")
    assert gather(run_copy).config_hash == before
    config.write_text(config.read_text(encoding="utf-8").replace("rounds = 12", "rounds = 13"), encoding="utf-8")
    assert gather(run_copy).config_hash != before


@pytest.mark.parametrize("name", ["config", "consortium"])
def test_missing_required_file_is_a_report_error(run_copy: Path, name: str) -> None:
    (run_copy / RUN_FILES[name].relative).unlink()
    with pytest.raises(ReportError) as caught:
        gather(run_copy)
    assert RUN_FILES[name].relative in caught.value.what
    assert "fedqsar demo" in caught.value.fix


def test_missing_run_folder_is_a_report_error(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="does not exist"):
        gather(tmp_path / "nowhere")


@pytest.mark.parametrize(
    "name",
    [
        "history",
        "metrics",
        "uplift",
        "endpoints",
        "coverage",
        "domain",
        "ledger",
        "evaluation_ledger",
        "privacy_bits",
        "privacy_membership",
        "privacy_summary",
    ],
)
def test_missing_optional_file_names_its_producer(run_copy: Path, name: str) -> None:
    (run_copy / RUN_FILES[name].relative).unlink()
    data = gather(run_copy)
    assert RUN_FILES[name].relative in data.missing[name]
    assert RUN_FILES[name].producer in data.missing[name]
    assert name not in data.tables


def test_missing_column_names_the_column(run_copy: Path) -> None:
    path = run_copy / "evaluation" / "uplift.csv"
    pd.read_csv(path).drop(columns=["ci_high"]).to_csv(path, index=False)
    with pytest.raises(ReportError) as caught:
        gather(run_copy)
    assert "ci_high" in caught.value.what and "uplift.csv" in caught.value.what
    assert "fedqsar evaluate" in caught.value.fix


def test_text_in_numeric_column_names_row_and_value(run_copy: Path) -> None:
    path = run_copy / "federation" / "history.csv"
    table = pd.read_csv(path)
    table["value"] = table["value"].astype(object)
    table.loc[5, "value"] = "0.4x"
    table.to_csv(path, index=False)
    with pytest.raises(ReportError, match=r"'0\.4x' on data row 6"):
        gather(run_copy)


def test_empty_cells_are_missing_values_not_errors(run_copy: Path) -> None:
    path = run_copy / "evaluation" / "uplift.csv"
    table = pd.read_csv(path)
    table.loc[0, "ci_low"] = None
    table.to_csv(path, index=False)
    assert gather(run_copy).table("uplift")["ci_low"].isna().sum() >= 1


def test_empty_csv_file_is_a_report_error(run_copy: Path) -> None:
    (run_copy / "trust" / "domain.csv").write_text("", encoding="utf-8")
    with pytest.raises(ReportError, match="empty"):
        gather(run_copy)


@pytest.mark.parametrize(
    "content, message",
    [
        ("{not json", "not valid JSON"),
        ("{}", "lists no partner"),
        ('{"a": {"n_compounds": -3, "n_tasks": 2}}', "n_compounds=-3"),
        ('{"a": {"n_compounds": 3, "n_tasks": 2, "accounting": {"rejected": "many"}}}', "reason -> count"),
    ],
)
def test_malformed_consortium_is_a_report_error(run_copy: Path, content: str, message: str) -> None:
    (run_copy / "consortium.json").write_text(content, encoding="utf-8")
    with pytest.raises(ReportError, match=message):
        gather(run_copy)


def test_malformed_config_is_a_report_error(run_copy: Path) -> None:
    (run_copy / "config.toml").write_text("[model\nhidden = 3", encoding="utf-8")
    with pytest.raises(ReportError, match="not valid TOML"):
        gather(run_copy)


def test_unbalanced_accounting_is_detected(run_copy: Path) -> None:
    path = run_copy / "consortium.json"
    consortium = json.loads(path.read_text(encoding="utf-8"))
    consortium["pharma_a"]["accounting"]["input_rows"] += 5
    path.write_text(json.dumps(consortium), encoding="utf-8")
    balances = {p.name: p.accounting_balances for p in gather(run_copy).partners}
    assert balances == {"biotech_c": True, "pharma_a": False, "pharma_b": True}


def test_tampered_ledger_fails_verification(run_copy: Path) -> None:
    head = run_copy / "federation" / "ledger.head"
    record = json.loads(head.read_text(encoding="utf-8"))
    head.write_text(json.dumps({"seq": record["seq"] - 1, "hash": record["hash"]}), encoding="utf-8")
    federation, evaluation = gather(run_copy).ledgers
    assert federation.state == "failed" and "FAILED" in federation.detail
    assert evaluation.state == "verified"


def test_result_file_edited_after_evaluation_is_detected(run_copy: Path) -> None:
    path = run_copy / "evaluation" / "uplift.csv"
    path.write_text(path.read_text(encoding="utf-8").replace("pharma_b", "pharma_B", 1), encoding="utf-8")
    federation, evaluation = gather(run_copy).ledgers
    assert federation.state == "verified" and evaluation.state == "failed"
    assert "evaluation/uplift.csv changed after the evaluation recorded it" in evaluation.detail
    assert "metrics.csv" not in evaluation.detail


def test_federation_ledger_extended_after_evaluation_is_detected(run_copy: Path) -> None:
    from fedqsar.ledger import Ledger

    with pytest.raises(FedQSARError):  # the closed federation ledger refuses appends ...
        Ledger(run_copy / "federation" / "ledger.sqlite").append(
            "round", {"round": 99, "participants": [], "aggregate_hash": "0" * 64}
        )
    (run_copy / "federation" / "ledger.sqlite").unlink()  # ... so replace it with another valid one
    (run_copy / "federation" / "ledger.head").unlink()
    Ledger(run_copy / "federation" / "ledger.sqlite").append("run_start", {"config_hash": "x"})
    federation, evaluation = gather(run_copy).ledgers
    assert federation.state == "verified" and "not closed" in federation.detail
    assert evaluation.state == "failed" and "not at the head" in evaluation.detail


def tiny_prepared_set(n_compounds: int, n_tasks: int, accounting: dict) -> PreparedSet:
    """A valid PreparedSet: every compound measured (value 1, exact) in every regression task."""
    Y = sp.csr_matrix(np.ones((n_compounds, n_tasks), dtype=np.float32))
    censor = Y.astype(np.int8)
    censor.data[:] = 0
    tasks = pd.DataFrame({c: [0] * n_tasks for c in TASK_COLUMNS})
    tasks["task_id"], tasks["task_name"], tasks["kind"] = (
        range(n_tasks),
        [f"t{i}" for i in range(n_tasks)],
        "regression",
    )
    return PreparedSet(
        X=sp.csr_matrix((n_compounds, 64), dtype=np.float32),
        Y=Y,
        censor=censor,
        compounds=pd.DataFrame(
            {"row": range(n_compounds), "compound_id": [f"c{i}" for i in range(n_compounds)], "fold": [0] * n_compounds}
        ),
        tasks=tasks,
        accounting=accounting,
        manifest={"prep_hash": "abc123"},
    )


def test_without_consortium_json_partners_come_from_prepared_sets(run_copy: Path) -> None:
    (run_copy / "consortium.json").unlink()
    accounting = {"input_rows": 9, "used": 5, "merged": 1, "rejected": {"invalid_smiles": 3}}
    tiny_prepared_set(5, 2, accounting).save(run_copy / "prepared" / "lab_z")
    data = gather(run_copy)
    assert data.sources["partners"] == "prepared/"
    (partner,) = data.partners
    assert (partner.name, partner.n_compounds, partner.n_tasks, partner.prep_hash) == ("lab_z", 5, 2, "abc123")
    assert partner.rejected == {"invalid_smiles": 3} and partner.accounting_balances


def test_without_config_toml_the_evaluation_config_is_read(run_copy: Path) -> None:
    (run_copy / "evaluation" / "config.toml").write_text((run_copy / "config.toml").read_text(encoding="utf-8"))
    (run_copy / "config.toml").unlink()
    data = gather(run_copy)
    assert data.sources["config"] == "evaluation/config.toml" and data.config["federation"]["rounds"] == 12
