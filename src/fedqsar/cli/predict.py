"""``fedqsar predict --model MODEL --input new.csv --key KEY``: predictions for new SMILES."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import typer

from fedqsar.cli.common import console, reports_errors
from fedqsar.errors import InputFileError, InputSchemaError
from fedqsar.model.io import load_model
from fedqsar.model.predict_smiles import STATUS_REJECTED, predict_smiles
from fedqsar.prep.keys import load_key
from fedqsar.prep.readers import read_csv
from fedqsar.trust import has_trust
from fedqsar.trust.predict_columns import trust_columns


def _read_smiles(path: Path, column: str | None) -> tuple[pd.DataFrame, str]:
    if not path.is_file():
        raise InputFileError(f"input file {path} does not exist", "check the path given to --input")
    frame = read_csv(path)  # delimiter sniffed, every cell a string, empty cells NaN
    lowered = {c.lower(): c for c in frame.columns}
    name = column if column is not None else lowered.get("smiles") or lowered.get("canonical_smiles")
    if name is None or name not in frame.columns:
        raise InputSchemaError(
            f"{path} has no SMILES column {column or 'smiles'!r} (columns: {list(frame.columns)})",
            "name the column with --smiles-column",
        )
    return frame, name


@reports_errors
def predict(
    model: Path = typer.Option(..., "--model", "-m", help="model folder written by fedqsar train"),
    input_file: Path = typer.Option(..., "--input", "-i", help="CSV with a SMILES column"),
    key_file: Path = typer.Option(..., "--key", help="the consortium key file the training data was prepared with"),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="predictions CSV (default: INPUT_STEM.predictions.csv here)"
    ),
    smiles_column: str | None = typer.Option(
        None, "--smiles-column", help="SMILES column (default: 'smiles', any case)"
    ),
    id_column: str | None = typer.Option(None, "--id-column", help="column copied into the output to identify rows"),
    jobs: int = typer.Option(1, "--jobs", "-j", help="processes for standardisation (-1: all cores)"),
    confidence: float | None = typer.Option(
        None,
        "--confidence",
        help="confidence of prediction sets / intervals when the model folder has trust artefacts (default 0.9)",
    ),
) -> None:
    """Standardise and fingerprint new SMILES as `prepare` did, and predict every task."""
    saved = load_model(model)
    frame, column = _read_smiles(input_file, smiles_column)
    if id_column is not None and id_column not in frame.columns:
        raise InputSchemaError(f"{input_file} has no column {id_column!r}", f"columns are {list(frame.columns)}")
    key = load_key(key_file)
    result = predict_smiles(saved, frame[column].tolist(), key, n_jobs=jobs)
    if has_trust(model):  # trust step (fedqsar.trust): intervals / sets, calibrated probabilities, domain
        result = pd.concat([result, trust_columns(saved, result, key, confidence)], axis=1)
    if id_column is not None:
        result.insert(1, id_column, frame[id_column].to_numpy())
    out = out or Path(f"{input_file.stem}.predictions.csv")
    out.parent.mkdir(parents=True, exist_ok=True)
    result.to_csv(out, index=False)
    n_rejected = int((result["status"] == STATUS_REJECTED).sum())
    console.print(
        f"{len(result)} molecules, {len(result) - n_rejected} predicted, {n_rejected} rejected "
        f"(reasons in column 'reason'); {len(saved.tasks)} tasks -> {out}"
    )
    if n_rejected:
        counts = result.loc[result["status"] == STATUS_REJECTED, "reason"].value_counts()
        console.print("rejected: " + ", ".join(f"{reason} {count}" for reason, count in counts.items()))


def register(app: typer.Typer) -> None:
    app.command("predict")(predict)
