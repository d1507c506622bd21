"""``fedqsar evaluate`` on the user's own PreparedSets, then ``fedqsar report`` on its run folder."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from fedqsar.cli.main import app

from .synthetic import synthetic_prepared

pytestmark = pytest.mark.slow

CONFIG = """
[model]
hidden_sizes = [16, 8]
[train]
epochs = 4
batch_size = 64
early_stopping_patience = 2
[federation]
rounds = 3
min_partners = 3
[federation.personalisation]
head_epochs = 2
full_epochs = 2
[evaluation]
compound_bootstrap = 20
[evaluation.rf]
n_estimators = 10
[evaluation.uplift]
n_bootstrap = 100
"""


def test_evaluate_then_report_on_own_prepared_sets(tmp_path: Path) -> None:
    folders = [synthetic_prepared(n=200, seed=i, shift=0.3 * i).save(tmp_path / "sets" / f"p{i}") for i in range(3)]
    (tmp_path / "eval.toml").write_text(CONFIG, encoding="utf-8")
    run = tmp_path / "RUN"
    args = ["evaluate", "--partners", *map(str, folders), "--out", str(run), "--config", str(tmp_path / "eval.toml")]
    result = CliRunner().invoke(app, [*args, "--no-secagg"])
    assert result.exit_code == 0, result.output
    assert "personalised vs local" in result.output and f"fedqsar report {run}" in result.output
    kinds = set(pd.read_parquet(run / "evaluation" / "predictions.parquet")["model_kind"])
    assert kinds == {"local", "federated", "personalised", "pooled", "rf"}
    uplift = pd.read_csv(run / "evaluation" / "uplift.csv")
    assert {"personalised_vs_local", "federated_vs_local"} <= set(uplift["comparison"])
    assert (run / "trust" / "coverage.csv").is_file() and (run / "consortium.json").is_file()
    report = CliRunner().invoke(app, ["report", str(run)])
    assert report.exit_code == 0, report.output
    html = (run / "report.html").read_text(encoding="utf-8")
    assert "Trust metrics were not computed" not in html and "personalised" in html
    again = CliRunner().invoke(app, [*args, "--no-secagg"])
    assert again.exit_code != 0 and "already holds an evaluation" in again.output
