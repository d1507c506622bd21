"""``fedqsar train`` and ``fedqsar predict`` end to end on real molecules (Biogen rat PPB, CI subset)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from fedqsar.cli.main import app
from fedqsar.model.io import load_model

runner = CliRunner()


@pytest.fixture(scope="module")
def prepared_biogen(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A PreparedSet of 300 Biogen rPPB values written by the real `fedqsar prepare`."""
    root = tmp_path_factory.mktemp("train_predict")
    source = pd.read_csv(shared_data / "ci" / "biogen_adme" / "MPNN" / "ADME_rPPB_train.csv").head(300)
    long_form = root / "rppb.csv"
    pd.DataFrame(
        {
            "compound_id": [f"m{i}" for i in range(len(source))],
            "smiles": source["smiles"],
            "assay_id": "rPPB",
            "value": source["activity"],
            "unit": "log10(% unbound)",  # Biogen's LOG PLASMA PROTEIN BINDING (RAT) (% unbound)
            "qualifier": "=",
        }
    ).to_csv(long_form, index=False)
    assert runner.invoke(app, ["keygen", "--out", str(root / "k.key")]).exit_code == 0
    result = runner.invoke(
        app,
        [
            "prepare",
            "--input",
            str(long_form),
            "--out",
            str(root / "prepared"),
            "--key",
            str(root / "k.key"),
            "-q",
            "-j",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    return root / "prepared", root / "k.key"


def test_train_writes_model_and_long_validation_metrics(prepared_biogen: tuple[Path, Path], tmp_path: Path) -> None:
    prepared, _ = prepared_biogen
    out = tmp_path / "model"
    result = runner.invoke(
        app,
        [
            "train",
            "--data",
            str(prepared),
            "--out",
            str(out),
            "--epochs",
            "4",
            "--hidden",
            "64",
            "--batch-size",
            "32",
            "--partner",
            "biogen",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "validation fold 3" in result.output and "rmse" in result.output
    metrics = pd.read_csv(out / "metrics.csv")
    assert list(metrics.columns) == ["task", "fold", "metric", "value"]
    assert set(metrics["fold"]) == {3}
    assert {"rmse", "r2", "spearman", "n"} <= set(metrics["metric"])
    n_validation = metrics.loc[metrics.metric == "n", "value"].max()
    assert 0 < n_validation < 300  # one fold of the set, not the training rows
    saved = load_model(out)
    assert saved.partner == "biogen" and saved.model_cfg.hidden_sizes == (64,)
    assert (out / "train_config.toml").is_file() and (out / "history.csv").is_file()
    again = runner.invoke(app, ["train", "--data", str(prepared), "--out", str(out), "--epochs", "1"])
    assert again.exit_code == 2 and "--force" in again.output  # an existing model is never overwritten silently


def test_predict_scores_good_smiles_and_reports_bad_ones(prepared_biogen: tuple[Path, Path], tmp_path: Path) -> None:
    prepared, key = prepared_biogen
    model = tmp_path / "model"
    assert (
        runner.invoke(
            app, ["train", "--data", str(prepared), "--out", str(model), "--epochs", "2", "--hidden", "32"]
        ).exit_code
        == 0
    )
    smiles = ["CCOc1ccc(CC(=O)N2CCCC2)cc1", "not_a_smiles", "", "C1CC", "c1ccccc1C(=O)O", "[Na+].CC(=O)[O-]"]
    new = tmp_path / "new.csv"
    pd.DataFrame({"name": [f"n{i}" for i in range(len(smiles))], "SMILES": smiles}).to_csv(new, index=False)
    out = tmp_path / "pred.csv"
    result = runner.invoke(
        app,
        [
            "predict",
            "--model",
            str(model),
            "--input",
            str(new),
            "--key",
            str(key),
            "--out",
            str(out),
            "--id-column",
            "name",
        ],
    )
    assert result.exit_code == 0, result.output
    predictions = pd.read_csv(out, keep_default_na=False, na_values=[""])
    assert len(predictions) == len(smiles) and predictions["name"].tolist() == [f"n{i}" for i in range(len(smiles))]
    task = load_model(model).tasks["task_name"].iloc[0]
    bad = predictions["status"] == "rejected"
    assert bad.tolist() == [False, True, True, True, False, False]
    assert predictions.loc[bad, "reason"].notna().all()
    assert np.isfinite(predictions.loc[~bad, task]).all() and predictions.loc[bad, task].isna().all()
    assert "3 rejected" in result.output


def test_predict_refuses_another_consortium_key(prepared_biogen: tuple[Path, Path], tmp_path: Path) -> None:
    prepared, _ = prepared_biogen
    model = tmp_path / "model"
    assert (
        runner.invoke(
            app, ["train", "--data", str(prepared), "--out", str(model), "--epochs", "1", "--hidden", "16"]
        ).exit_code
        == 0
    )
    assert runner.invoke(app, ["keygen", "--out", str(tmp_path / "other.key")]).exit_code == 0
    new = tmp_path / "new.csv"
    pd.DataFrame({"smiles": ["CCO"]}).to_csv(new, index=False)
    result = runner.invoke(
        app, ["predict", "--model", str(model), "--input", str(new), "--key", str(tmp_path / "other.key")]
    )
    assert result.exit_code == 3 and "key id" in result.output  # a compatibility error


def test_predict_on_a_missing_model_says_how_to_fix(tmp_path: Path) -> None:
    new = tmp_path / "new.csv"
    pd.DataFrame({"smiles": ["CCO"]}).to_csv(new, index=False)
    result = runner.invoke(
        app, ["predict", "--model", str(tmp_path / "none"), "--input", str(new), "--key", str(tmp_path / "k")]
    )
    assert result.exit_code == 2 and "fedqsar train" in result.output


def test_predict_uses_the_same_fingerprints_as_prepare(prepared_biogen: tuple[Path, Path], tmp_path: Path) -> None:
    """SMILES of prepared compounds get exactly the predictions of their PreparedSet rows."""
    from fedqsar.model.inputs import ModelInputs
    from fedqsar.model.predict import predict as predict_rows
    from fedqsar.prepared import PreparedSet

    prepared_dir, key = prepared_biogen
    model = tmp_path / "model"
    assert (
        runner.invoke(
            app, ["train", "--data", str(prepared_dir), "--out", str(model), "--epochs", "1", "--hidden", "16"]
        ).exit_code
        == 0
    )
    prepared = PreparedSet.load(prepared_dir)
    source = pd.read_csv(prepared_dir.parent / "rppb.csv")
    chosen = prepared.compounds.head(5)
    smiles = source.set_index("compound_id").loc[chosen["compound_id"], "smiles"].tolist()
    new = tmp_path / "again.csv"
    pd.DataFrame({"smiles": smiles}).to_csv(new, index=False)
    out = tmp_path / "again.pred.csv"
    assert (
        runner.invoke(
            app, ["predict", "--model", str(model), "--input", str(new), "--key", str(key), "--out", str(out)]
        ).exit_code
        == 0
    )
    saved = load_model(model)
    # the default model also reads the descriptor block: the PreparedSet's rows carry it
    expected = predict_rows(saved.model, saved.partner, ModelInputs.of(prepared).rows(chosen["row"].to_numpy()))
    got = pd.read_csv(out)[saved.tasks["task_name"].tolist()].to_numpy()
    assert np.allclose(got, expected, atol=1e-5)
