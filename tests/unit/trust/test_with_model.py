"""Trust on a real fedqsar model trained on real molecules (CI Biogen rPPB)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from fedqsar.cli.main import app
from fedqsar.errors import KeyMismatchError
from fedqsar.inference import InferencePipeline
from fedqsar.model.io import load_model
from fedqsar.prep.keys import save_key
from fedqsar.trust import annotate_predictions, load_trust, report_tables
from fedqsar.trust.model_adapter import fit_trust_for_saved_model, model_functions

from ._real import KEY, biogen_rppb, trained_model

pytestmark = pytest.mark.integration
SMILES = "CC(C)[C@@](C)(O)[C@@H]1CN(c2nc(-c3[nH]nc4ncccc34)c(F)cc2Cl)CCN1"


@pytest.fixture(scope="module")
def model_folder(shared_data: Path, tmp_path_factory: pytest.TempPathFactory):
    prepared, smiles = biogen_rppb(shared_data)
    folder = tmp_path_factory.mktemp("model")
    trained_model(prepared, folder)
    assert fit_trust_for_saved_model(folder, prepared) == folder / "trust"
    training_smiles = smiles[int(prepared.rows_in([0])[0])]
    return prepared, folder, training_smiles


def test_annotations_and_tables_on_the_test_fold(model_folder) -> None:
    prepared, folder, _ = model_folder
    saved = load_model(folder)
    predict, embed = model_functions(saved.model, saved.partner)
    test = prepared.rows_in([4])
    X = prepared.X[test]
    columns = annotate_predictions(load_trust(folder), predict(X), X, embed=embed)
    assert len(columns) == len(test)
    assert {
        "rPPB_high:set",
        "rPPB:low",
        "rPPB:high",
        "rPPB_high:p_calibrated",
        "embedding_distance",
        "in_domain",
    } <= set(columns.columns)
    assert columns["rPPB:low"].lt(columns["rPPB:high"]).all()
    coverage, domain = report_tables(load_trust(folder), predict, prepared, test, "A", embed=embed)
    assert set(coverage["task"]) == {"rPPB", "rPPB_high"}
    assert coverage["coverage"].between(0.6, 1.0).all()  # ~140 test compounds: loose sanity bound
    assert len(domain) == 20


def test_explain_cli_writes_picture_and_numbers_deterministically(model_folder, tmp_path: Path) -> None:
    _, folder, _ = model_folder
    key_file = tmp_path / "consortium.key"
    save_key(KEY, key_file)
    runner = CliRunner()
    outs = []
    for run in range(2):
        out = tmp_path / f"out{run}"
        result = runner.invoke(
            app,
            [
                "explain",
                "--model",
                str(folder),
                "--smiles",
                SMILES,
                "--task",
                "rPPB",
                "--key",
                str(key_file),
                "--out",
                str(out),
            ],
        )
        assert result.exit_code == 0, result.output
        outs.append(out)
    for name in ("rPPB.svg", "rPPB.png", "rPPB_atoms.csv", "rPPB_bits.csv", "rPPB.json"):
        assert (outs[0] / name).is_file()
    first, second = (pd.read_csv(o / "rPPB_atoms.csv") for o in outs)
    pd.testing.assert_frame_equal(first, second)
    bits = pd.read_csv(outs[0] / "rPPB_bits.csv")
    assert np.isclose(first["contribution"].sum(), bits["sensitivity"].sum(), rtol=1e-6, atol=1e-9)
    assert first["contribution"].abs().sum() > 0


def test_explain_rejects_unknown_task_and_wrong_key(model_folder, tmp_path: Path) -> None:
    _, folder, _ = model_folder
    runner = CliRunner()
    good_key, other_key = tmp_path / "good.key", tmp_path / "other.key"
    save_key(KEY, good_key)
    from fedqsar.prep.keys import generate_key

    save_key(generate_key(), other_key)
    result = runner.invoke(
        app,
        [
            "explain",
            "--model",
            str(folder),
            "--smiles",
            SMILES,
            "--task",
            "nope",
            "--key",
            str(good_key),
            "--out",
            str(tmp_path / "x"),
        ],
    )
    assert result.exit_code != 0 and "no task" in result.output
    result = runner.invoke(
        app,
        [
            "explain",
            "--model",
            str(folder),
            "--smiles",
            SMILES,
            "--task",
            "rPPB",
            "--key",
            str(other_key),
            "--out",
            str(tmp_path / "y"),
        ],
    )
    assert result.exit_code != 0 and "key" in result.output


def test_calibration_rows_are_the_validation_fold(model_folder) -> None:
    prepared, folder, _ = model_folder
    artefacts = load_trust(folder)
    assert artefacts.classifiers[0].n_calibration == prepared.rows_in([3]).size
    assert artefacts.reference.shape[0] == prepared.rows_in([0, 1, 2]).size


def test_explain_reports_trust_for_the_compound(model_folder, tmp_path: Path) -> None:
    _, folder, training_smiles = model_folder
    result = InferencePipeline.load(folder, KEY).explain(training_smiles, "rPPB_high", tmp_path)
    assert result.kind == "classification" and 0.0 <= result.prediction <= 1.0
    assert {"domain_similarity", "in_domain", "rPPB_high:set", "rPPB_high:p_calibrated"} <= set(result.trust)
    assert result.trust["nearest_similarity"] == pytest.approx(1.0)  # this compound is a training compound


def test_pipeline_trust_columns_match_the_prepared_fingerprints(model_folder) -> None:
    """The pipeline's trust columns equal ``annotate_predictions`` on the fingerprints ``prepare`` computes;
    a rejected structure gets empty trust columns (no embedding distance, no domain verdict)."""
    from fedqsar.prep.structures import process_structures

    from ._real import PREP

    _, folder, training_smiles = model_folder
    saved = load_model(folder)
    pipeline = InferencePipeline(saved, KEY)
    smiles = [training_smiles, SMILES, "not a smiles", "CCO"]
    featurised = pipeline.featurise(smiles)
    batch = process_structures(smiles, PREP, KEY)
    assert (featurised.X != batch.X).nnz == 0
    values = pipeline.values(featurised)
    columns = pipeline.trust_columns(featurised, values)
    predict, embed = model_functions(saved.model, saved.partner)
    ok = [0, 1, 3]
    expected = annotate_predictions(load_trust(folder), predict(batch.X[ok]), batch.X[ok], embed=embed)
    got = columns.loc[ok].reset_index(drop=True)
    got["in_domain"] = got["in_domain"].astype(bool)
    pd.testing.assert_frame_equal(got, expected)
    assert np.isnan(values[2]).all() and featurised.reasons[2] is not None
    rejected = columns.loc[2]
    assert (
        pd.isna(rejected["embedding_distance"]) and pd.isna(rejected["in_domain"]) and rejected["rPPB_high:set"] == ""
    )
    assert pd.isna(rejected.drop("rPPB_high:set")).all()
    assert columns.loc[0, "nearest_similarity"] == pytest.approx(1.0)


def test_every_inference_entry_point_checks_the_key(model_folder, tmp_path: Path) -> None:
    from fedqsar.prep.keys import generate_key

    _, folder, training_smiles = model_folder
    with pytest.raises(KeyMismatchError, match="key id"):
        InferencePipeline.load(folder, generate_key())  # predict, trust columns and explain all start here
    assert not (tmp_path / "rPPB.svg").exists()


def test_predict_cli_adds_trust_columns(model_folder, tmp_path: Path) -> None:
    _, folder, training_smiles = model_folder
    key_file, table, out = tmp_path / "k.key", tmp_path / "new.csv", tmp_path / "pred.csv"
    save_key(KEY, key_file)
    pd.DataFrame({"smiles": [training_smiles, SMILES, "not a smiles"]}).to_csv(table, index=False)
    result = CliRunner().invoke(
        app,
        [
            "predict",
            "--model",
            str(folder),
            "--input",
            str(table),
            "--key",
            str(key_file),
            "--out",
            str(out),
            "--confidence",
            "0.8",
        ],
    )
    assert result.exit_code == 0, result.output
    written = pd.read_csv(out, keep_default_na=False)
    assert {"rPPB", "rPPB:low", "rPPB:high", "rPPB_high:set", "rPPB_high:p_calibrated", "in_domain"} <= set(
        written.columns
    )
    assert written.loc[2, "status"] == "rejected" and written.loc[2, "rPPB:low"] == ""
    assert written.loc[2, "embedding_distance"] == "" and written.loc[2, "in_domain"] == ""
    assert float(written.loc[0, "rPPB:low"]) <= float(written.loc[0, "rPPB"]) <= float(written.loc[0, "rPPB:high"])


def test_predict_share_writes_no_membership_oracle(model_folder, tmp_path: Path) -> None:
    prepared, folder, training_smiles = model_folder
    key_file, table = tmp_path / "k.key", tmp_path / "new.csv"
    save_key(KEY, key_file)
    pd.DataFrame({"smiles": [training_smiles, SMILES, "not a smiles"]}).to_csv(table, index=False)
    outs = {}
    for label, extra in (("own", []), ("shared", ["--share"])):
        outs[label] = tmp_path / f"{label}.csv"
        args = ["predict", "--model", str(folder), "--input", str(table), "--key", str(key_file)]
        result = CliRunner().invoke(app, [*args, "--out", str(outs[label]), *extra])
        assert result.exit_code == 0, result.output
    own, shared = pd.read_csv(outs["own"]), pd.read_csv(outs["shared"])
    assert own.loc[0, "nearest_similarity"] == pytest.approx(1.0)  # the partner's own table: the exact value
    assert "embedding_distance" in own.columns and "embedding_distance" not in shared.columns
    assert shared.loc[0, "nearest_similarity"] < 1.0  # a training compound no longer reads 1.0
    assert set(shared["nearest_similarity"].dropna()) <= {round(0.1 * i, 1) for i in range(10)}
    assert pd.isna(shared.loc[2, "nearest_similarity"]) == pd.isna(own.loc[2, "nearest_similarity"])  # rejected row
    assert np.allclose(shared["rPPB"].dropna(), own["rPPB"].dropna())  # the predictions themselves are unchanged
