"""Probes of inference with a real trained model (``fedqsar predict`` / ``explain`` in their own process):

* ``predict`` gave trust numbers (an embedding distance of 0.72) for rejected rows: every trust
  column of a rejected row is now empty;
* ``explain`` and the trust columns never checked the key: every entry point goes through the
  one inference pipeline, which refuses a key that is not the model's;
* ``predict`` dropped the input's identifier: ``compound_id`` (or ``--id-column``) is carried
  through, rows in input order;
* ``fedqsar --version`` did not exist; ``fedqsar --help`` imported everything.
"""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pandas as pd

from fedqsar.errors import EXIT_CODES

from .conftest import Consortium, no_traceback, run_cli

BAD = ["not_a_smiles", "", "C1CC"]


def _predict(consortium: Consortium, tmp_path: Path, table: pd.DataFrame, *extra: str) -> pd.DataFrame:
    new, out = tmp_path / "new.csv", tmp_path / "pred.csv"
    table.to_csv(new, index=False)
    result = run_cli(
        "predict",
        "--model",
        str(consortium.model),
        "--input",
        str(new),
        "--key",
        str(consortium.key_file),
        "--out",
        str(out),
        *extra,
    )
    assert result.returncode == 0, no_traceback(result)
    return pd.read_csv(out, keep_default_na=False, na_values=[""], dtype=str)


def test_rejected_rows_have_empty_prediction_and_trust_columns(consortium: Consortium, tmp_path: Path) -> None:
    smiles = consortium.raw["smiles"].head(3).tolist() + BAD
    predictions = _predict(consortium, tmp_path, pd.DataFrame({"smiles": smiles}))
    rejected = predictions["status"] == "rejected"
    assert rejected.tolist() == [False] * 3 + [True] * 3
    after_smiles = list(predictions.columns[list(predictions.columns).index("std_smiles") + 1 :])
    assert "embedding_distance" in after_smiles and "in_domain" in after_smiles
    assert predictions.loc[rejected, after_smiles].isna().all().all()  # predictions and trust: all empty
    assert predictions.loc[~rejected, ["embedding_distance", "domain_similarity", "in_domain"]].notna().all().all()
    only_bad = _predict(consortium, tmp_path, pd.DataFrame({"smiles": BAD}))  # nothing to predict: still a table
    assert list(only_bad.columns) == list(predictions.columns) and only_bad[after_smiles].isna().all().all()


def test_compound_ids_are_carried_through_in_input_order(consortium: Consortium, tmp_path: Path) -> None:
    rows = consortium.raw.sample(6, random_state=3)
    table = pd.DataFrame(
        {"compound_id": rows["compound_id"].tolist() + ["bad-1"], "smiles": rows["smiles"].tolist() + ["x"]}
    )
    predictions = _predict(consortium, tmp_path, table)
    assert list(predictions.columns[:2]) == ["input_row", "compound_id"]
    assert predictions["compound_id"].tolist() == table["compound_id"].tolist()
    assert predictions["input_row"].tolist() == [str(i) for i in range(7)]
    named = _predict(
        consortium, tmp_path, table.rename(columns={"compound_id": "Internal ID"}), "--id-column", "Internal ID"
    )
    assert named["Internal ID"].tolist() == table["compound_id"].tolist()


def test_explain_and_predict_refuse_another_consortium_key(consortium: Consortium, tmp_path: Path) -> None:
    smiles = consortium.raw["smiles"].iloc[0]
    task = pd.read_parquet(consortium.model / "tasks.parquet")["task_name"].iloc[0]
    explained = run_cli(
        "explain", "--model", str(consortium.model), "--smiles", smiles, "--task", str(task),
        "--key", str(consortium.other_key_file), "--out", str(tmp_path / "why"),
    )  # fmt: skip
    assert explained.returncode == EXIT_CODES["compatibility"] and "key id" in no_traceback(explained)
    assert not (tmp_path / "why").exists()
    new = tmp_path / "new.csv"
    pd.DataFrame({"smiles": [smiles]}).to_csv(new, index=False)
    predicted = run_cli(
        "predict", "--model", str(consortium.model), "--input", str(new), "--key", str(consortium.other_key_file)
    )
    assert predicted.returncode == EXIT_CODES["compatibility"] and "key id" in no_traceback(predicted)
    good = run_cli(
        "explain", "--model", str(consortium.model), "--smiles", smiles, "--task", str(task),
        "--key", str(consortium.key_file), "--out", str(tmp_path / "why"),
    )  # fmt: skip
    assert good.returncode == 0, no_traceback(good)
    assert smiles.split("(")[0] in good.stdout or "prediction" in good.stdout


def test_version_names_the_libraries_that_shape_results() -> None:
    result = run_cli("--version")
    assert result.returncode == 0
    for name in ("fedqsar", "rdkit", "torch", "flwr"):
        assert f"{name} {metadata.version(name)}" in result.stdout


def test_the_command_line_loads_no_heavy_library_for_help() -> None:
    """``fedqsar --help`` must not import torch, RDKit, pandas, Flower or Ray (timings: bench/bench_cli.py)."""
    heavy = ("torch", "rdkit", "pandas", "flwr", "ray", "scipy", "matplotlib", "sklearn", "cryptography")
    code = f"import sys, fedqsar.cli.main; print(' '.join(m for m in {heavy!r} if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert loaded == []
