"""``fedqsar evaluate --leave-one-out``: each partner's marginal effect on the others, then the report's heat map."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from fedqsar.cli.main import app
from fedqsar.model.trunk_file import read_trunk

from .synthetic import synthetic_prepared
from .test_evaluate_cli import CONFIG

pytestmark = pytest.mark.slow


def test_leave_one_out_table_trunks_and_report(tmp_path: Path) -> None:
    folders = [synthetic_prepared(n=160, seed=i, shift=0.2 * i).save(tmp_path / "sets" / f"p{i}") for i in range(3)]
    (tmp_path / "eval.toml").write_text(CONFIG, encoding="utf-8")
    ids = [f"c{i}" for i in range(160)]  # a user split (chemprop style) for every partner
    split = {"train": ids[:100], "val": ids[100:130], "test": ids[130:]}
    (tmp_path / "split.json").write_text(json.dumps(split), encoding="utf-8")
    run = tmp_path / "RUN"
    args = ["evaluate", "--partners", *map(str, folders), "--out", str(run), "--config", str(tmp_path / "eval.toml")]
    args += ["--split-file", str(tmp_path / "split.json")]
    result = CliRunner().invoke(
        app, [*args, "--no-secagg", "--kinds", "local,federated,personalised", "--leave-one-out"]
    )
    assert result.exit_code == 0, result.output
    table = pd.read_csv(run / "evaluation" / "leave_one_out.csv")
    names = {"p0", "p1", "p2"}
    assert set(table["removed"]) == names and set(table["model_kind"]) == {"federated", "personalised"}
    assert (table["removed"] != table["partner"]).all()  # a removed partner has no model in its re-run
    pairs = table[(table["model_kind"] == "federated") & (table["metric"] == "auc_pr")]
    assert len(pairs) == 6  # every ordered pair of distinct partners
    np.testing.assert_allclose(pairs["delta"], pairs["with_all"] - pairs["without"], atol=1e-9)
    assert "Removing p0" in result.output
    for name in names:  # each re-run publishes the trunk the others would give the left-out partner
        trunk = read_trunk(run / "evaluation" / "leave_one_out" / f"without_{name}" / "trunk")
        assert trunk.record["n_partners"] == 2
    folds = pd.read_csv(run / "evaluation" / "folds.csv")
    assert set(folds["partner"]) == names and (folds["scheme"] == "user split file").all()
    assert (folds["n_test"] == 30).all() and "user split file folds" in result.output
    report = CliRunner().invoke(app, ["report", str(run)])
    assert report.exit_code == 0, report.output
    html = (run / "report.html").read_text(encoding="utf-8")
    assert 'id="valuation"' in html and "Removing p1" in html and "leave_one_out.csv is not in" not in html
