"""``fedqsar train`` for use (no test fold unless asked), single-task selection, and ``fedqsar score``
on an external labelled file (Biogen rat PPB, the paper's own train/test split, CI subset)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rdkit import Chem
from rdkit.Chem import Descriptors
from scipy.stats import pearsonr
from typer.testing import CliRunner

from fedqsar.cli.main import app
from fedqsar.model.io import load_model
from fedqsar.prepared import PreparedSet

runner = CliRunner()
PPB = "LOG PLASMA PROTEIN BINDING (RAT) (% unbound)"
SOL = "LOG SOLUBILITY PH 6.8 (ug/mL)"


def _wide(source: Path, out: Path, column: str, n: int | None = None) -> Path:
    frame = pd.read_csv(source).head(n) if n else pd.read_csv(source)
    pd.DataFrame(
        {"id": [f"m{i}" for i in range(len(frame))], "smiles": frame["smiles"], column: frame["activity"]}
    ).to_csv(out, index=False)
    return out


def _ok(args: list[str]) -> str:
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def split_files(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("score")
    folder = shared_data / "ci" / "biogen_adme" / "MPNN"
    files = {
        "root": root,
        "train": _wide(folder / "ADME_rPPB_train.csv", root / "train.csv", PPB, 300),
        "test": _wide(folder / "ADME_rPPB_test.csv", root / "test.csv", PPB),
        "key": root / "k.key",
    }
    _ok(["keygen", "--out", str(files["key"])])
    common = ["--wide", "--id-column", "id", "--key", str(files["key"]), "-q", "-j", "1"]
    _ok(["prepare", "--input", str(files["train"]), "--out", str(root / "prepared"), *common])
    files["prepared"] = root / "prepared"
    return files


def _train(files: dict[str, Path], out: Path, *extra: str) -> Path:
    _ok(["train", "--data", str(files["prepared"]), "--out", str(out), "--epochs", "3", "--hidden", "32", *extra])
    return out


def test_train_for_use_trains_on_every_fold_but_validation(split_files: dict[str, Path], tmp_path: Path) -> None:
    prepared = PreparedSet.load(split_files["prepared"])
    model = _train(split_files, tmp_path / "use")
    history = pd.read_csv(model / "history.csv")
    assert history["n_rows"].iloc[0] == int((prepared.folds != 3).sum())  # fold 4 trained on too
    config = tomllib.loads((model / "train_config.toml").read_text())
    assert config["test_fold"] == -1 and load_model(model).train_cfg.test_fold is None

    held = _train(split_files, tmp_path / "held", "--hold-out-test")
    assert pd.read_csv(held / "history.csv")["n_rows"].iloc[0] == int((~np.isin(prepared.folds, [3, 4])).sum())
    assert tomllib.loads((held / "train_config.toml").read_text())["test_fold"] == 4
    assert load_model(held).train_cfg.held_out_folds == (3, 4)


def test_a_config_file_that_sets_test_fold_is_honoured(split_files: dict[str, Path], tmp_path: Path) -> None:
    config = tmp_path / "train.toml"
    config.write_text("test_fold = 2\n")
    model = _train(split_files, tmp_path / "m", "--train-config", str(config))
    assert load_model(model).train_cfg.test_fold == 2


def test_single_task_mode_selects_tasks_without_a_config_file(split_files: dict[str, Path], tmp_path: Path) -> None:
    all_tasks = PreparedSet.load(split_files["prepared"]).tasks
    assert len(all_tasks) > 1  # regression + thresholded classification tasks
    model = _train(split_files, tmp_path / "one", "--task-kind", "regression")
    assert load_model(model).tasks["task_name"].tolist() == [PPB]
    result = runner.invoke(
        app, ["train", "--data", str(split_files["prepared"]), "--out", str(tmp_path / "x"), "--tasks", "nope"]
    )
    assert result.exit_code != 0 and "no task is named" in result.output


def test_score_reports_canonical_and_input_unit_metrics(split_files: dict[str, Path], tmp_path: Path) -> None:
    model = _train(split_files, tmp_path / "m", "--task-kind", "regression")
    out = tmp_path / "scores.csv"
    output = _ok(
        ["score", "--model", str(model), "--key", str(split_files["key"]), "--input", str(split_files["test"]),
         "--wide", "--id-column", "id", "--out", str(out), "-q"]
    )  # fmt: skip
    assert "177 input rows" in output and "176 compounds scored" in output
    scores = pd.read_csv(out)
    predictions = pd.read_csv(tmp_path / "scores.predictions.csv")
    test = pd.read_csv(split_files["test"])
    assert len(predictions) == predictions["compound_id"].nunique() > 150  # every scored compound once
    # the input's values come back exactly in its own unit (log10 % unbound = log10 fu + 2), except
    # where prepare changed them: fu at or below 0.001 is censored at that floor, replicates are merged
    merged = predictions.merge(test, left_on="compound_id", right_on="id")
    censored = merged["censor"] != 0
    assert (merged.loc[censored, PPB] <= -1.0).all() and (merged.loc[censored, "observed_input"] == -1.0).all()
    differs = np.abs(merged.loc[~censored, "observed_input"] - merged.loc[~censored, PPB]) > 1e-5
    assert differs.sum() == 1 and "1 merged" in output  # the one merged pair of replicates (their median)
    np.testing.assert_allclose(merged["predicted_input"], merged["predicted"] + 2.0, atol=1e-6)
    assert set(predictions["input_unit"]) == {"log10(% unbound)"}
    # the reported metric is the one recomputed from the predictions file
    r_input = scores.query("scale == 'input' and metric == 'pearson'")["value"].item()
    r_canonical = scores.query("scale == 'canonical' and metric == 'pearson'")["value"].item()
    exact = merged["censor"] == 0
    expected = pearsonr(merged.loc[exact, "observed_input"], merged.loc[exact, "predicted_input"]).statistic
    assert r_input == pytest.approx(expected, abs=1e-6) and r_canonical == pytest.approx(expected, abs=1e-6)


def test_score_converts_mass_concentrations_with_each_compounds_weight(
    split_files: dict[str, Path], shared_data: Path, tmp_path: Path
) -> None:
    """A solubility model predicts logS; scored against µg/mL it answers in log10(µg/mL) per compound."""
    folder = shared_data / "ci" / "biogen_adme" / "MPNN"
    train = _wide(folder / "ADME_rPPB_train.csv", tmp_path / "sol_train.csv", SOL, 200)
    test = _wide(folder / "ADME_rPPB_test.csv", tmp_path / "sol_test.csv", SOL, 40)
    common = ["--wide", "--id-column", "id", "--key", str(split_files["key"]), "-q"]
    _ok(["prepare", "--input", str(train), "--out", str(tmp_path / "sol"), *common, "-j", "1"])
    model = tmp_path / "solm"
    _ok(["train", "--data", str(tmp_path / "sol"), "--out", str(model), "--epochs", "2", "--hidden", "16",
         "--tasks", SOL, "--task-kind", "regression"])  # fmt: skip
    out = tmp_path / "sol_scores.csv"
    _ok(["score", "--model", str(model), "--input", str(test), "--out", str(out), *common])
    predictions = pd.read_csv(tmp_path / "sol_scores.predictions.csv")
    assert set(predictions["canonical_unit"]) == {"log10(M)"} and set(predictions["input_unit"]) == {"log10(ug/mL)"}
    weights = np.array([Descriptors.MolWt(Chem.MolFromSmiles(s)) for s in predictions["std_smiles"]])
    np.testing.assert_allclose(
        predictions["predicted_input"], predictions["predicted"] + 3.0 + np.log10(weights), atol=1e-6
    )
    merged = predictions.merge(pd.read_csv(test), left_on="compound_id", right_on="id")
    np.testing.assert_allclose(merged["observed_input"], merged[SOL], atol=1e-5)


def test_score_without_a_matching_task_says_so(split_files: dict[str, Path], tmp_path: Path) -> None:
    model = _train(split_files, tmp_path / "m", "--task-kind", "regression")
    other = tmp_path / "other.csv"
    pd.DataFrame({"id": ["a", "b"], "smiles": ["CCO", "CCN"], "LOG HLM_CLint (mL/min/kg)": [1.0, 2.0]}).to_csv(
        other, index=False
    )
    result = runner.invoke(
        app, ["score", "--model", str(model), "--key", str(split_files["key"]), "--input", str(other), "--wide",
              "--id-column", "id", "--out", str(tmp_path / "s.csv"), "-q"]
    )  # fmt: skip
    assert result.exit_code != 0 and "matches the model's tasks" in result.output
