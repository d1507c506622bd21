"""``fedqsar predict --model MODEL --input new.csv --key KEY``: predictions for new SMILES."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from fedqsar.cli.common import ALLOW_OPEN_KEY, reports_errors, say
from fedqsar.errors import InputFileError, InputSchemaError

if TYPE_CHECKING:
    import pandas as pd

DEFAULT_ID_COLUMN = "compound_id"


def _read_input(path: Path, smiles_column: str | None, id_column: str | None) -> tuple[pd.DataFrame, str, str | None]:
    """The input table, its SMILES column and its id column (``compound_id`` when present, or ``--id-column``)."""
    from fedqsar.prep.readers import read_csv

    if not path.is_file():
        raise InputFileError(f"input file {path} does not exist", "check the path given to --input")
    frame = read_csv(path)  # delimiter sniffed, every cell a string, empty cells NaN
    lowered = {c.lower(): c for c in frame.columns}
    name = smiles_column if smiles_column is not None else lowered.get("smiles") or lowered.get("canonical_smiles")
    if name is None or name not in frame.columns:
        raise InputSchemaError(
            f"{path} has no SMILES column {smiles_column or 'smiles'!r} (columns: {list(frame.columns)})",
            "name the column with --smiles-column",
        )
    if id_column is not None and id_column not in frame.columns:
        raise InputSchemaError(f"{path} has no column {id_column!r}", f"columns are {list(frame.columns)}")
    ident = id_column if id_column is not None else lowered.get(DEFAULT_ID_COLUMN)
    return frame, name, ident


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
    id_column: str | None = typer.Option(
        None,
        "--id-column",
        help=f"column copied into the output to identify rows (default: '{DEFAULT_ID_COLUMN}' when the input has it)",
    ),
    jobs: int = typer.Option(1, "--jobs", "-j", help="processes for standardisation (-1: all cores)"),
    confidence: float | None = typer.Option(
        None,
        "--confidence",
        help="confidence of prediction sets / intervals when the model folder has trust artefacts (default 0.9)",
    ),
    share: bool = typer.Option(
        False,
        "--share",
        help="write predictions fit to send outside your company: similarities binned (0.1; 0.9 = 0.9 or more, "
        "never 1.0 for training compounds), embedding distance dropped (docs/privacy.md)",
    ),
    allow_open_key: bool = ALLOW_OPEN_KEY,
) -> None:
    """Standardise and fingerprint new SMILES as `prepare` did, and predict every task (rows in input order)."""
    from fedqsar.inference import STATUS_REJECTED, InferencePipeline
    from fedqsar.model.io import load_model
    from fedqsar.prep.keys import load_key

    saved = load_model(model)  # the model's problems first: a key is only checked against a model
    pipeline = InferencePipeline(saved, load_key(key_file, allow_open=allow_open_key))
    frame, column, ident = _read_input(input_file, smiles_column, id_column)
    result = pipeline.predict(frame[column].tolist(), n_jobs=jobs, confidence=confidence, share=share)
    if ident is not None:
        result.insert(1, ident if ident not in result.columns else f"input_{ident}", frame[ident].to_numpy())
    out = out or Path(f"{input_file.stem}.predictions.csv")
    out.parent.mkdir(parents=True, exist_ok=True)
    result.to_csv(out, index=False)
    n_rejected = int((result["status"] == STATUS_REJECTED).sum())
    say(
        f"{len(result)} molecules, {len(result) - n_rejected} predicted, {n_rejected} rejected "
        f"(reasons in column 'reason'); {len(pipeline.tasks)} tasks -> {out}"
    )
    if n_rejected:
        counts = result.loc[result["status"] == STATUS_REJECTED, "reason"].value_counts()
        say("rejected: " + ", ".join(f"{reason} {count}" for reason, count in counts.items()))


def register(app: typer.Typer) -> None:
    app.command("predict")(predict)
