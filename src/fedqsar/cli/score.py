"""``fedqsar score --model M --key K --input labelled.csv --out scores.csv``: metrics on an external labelled set."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from fedqsar.cli.common import StageProgress, console, reports_errors
from fedqsar.cli.prepare import _column_units, _widened

if TYPE_CHECKING:  # heavy imports happen when the verb runs, not for --help
    from fedqsar.inference.score import ScoreResult

SHOWN = {"regression": ("n", "rmse", "r2", "pearson", "spearman"), "classification": ("n", "auc_roc", "auc_pr")}


@reports_errors
def score(
    model: Path = typer.Option(..., "--model", "-m", help="model folder written by fedqsar train / federate"),
    key_file: Path = typer.Option(..., "--key", help="the consortium key file the training data was prepared with"),
    inputs: list[Path] = typer.Option(
        ..., "--input", "-i", help="labelled file in any form `fedqsar prepare` reads (repeat --input for TUNER files)"
    ),
    out: Path = typer.Option(..., "--out", "-o", help="per-task metrics CSV to write"),
    predictions: Path | None = typer.Option(
        None, "--predictions", help="per-observation predictions CSV (default: OUT_STEM.predictions.csv beside --out)"
    ),
    wide: bool = typer.Option(False, "--wide", help="input is wide: one row per compound, one column per assay"),
    smiles_column: str = typer.Option("smiles", "--smiles-column", help="wide input: SMILES column"),
    id_column: str | None = typer.Option(None, "--id-column", help="wide input: compound id column"),
    value_columns: list[str] | None = typer.Option(
        None, "--value-column", help="wide input: assay columns (repeat; default: numeric columns)"
    ),
    column_units: list[str] | None = typer.Option(
        None, "--unit", help="wide input: COLUMN=UNIT for a column whose header names no unit (repeat)"
    ),
    endpoint_map: Path | None = typer.Option(
        None, "--endpoint-map", help="the endpoint map the training data was prepared with (fedqsar prepare)"
    ),
    allow_custom: bool = typer.Option(
        False, "--allow-custom", help="keep custom endpoints, as fedqsar prepare --allow-custom did for training"
    ),
    thresholds: Path | None = typer.Option(None, "--thresholds", help="expert thresholds CSV used at training time"),
    keep_prepared: Path | None = typer.Option(
        None, "--keep-prepared", help="keep the labelled set's PreparedSet in this folder (default: a temporary one)"
    ),
    jobs: int = typer.Option(1, "--jobs", "-j", help="processes for standardisation (-1: all cores)"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bars"),
) -> None:
    """Prepare a labelled file with the model's prep config and report per-task metrics.

    Regression metrics are given on the canonical scale and, where the input names a unit,
    in that unit too (e.g. solubility in log10(ug/mL) instead of logS); the predictions file
    has both.
    """
    from fedqsar.inference.score import score_labelled
    from fedqsar.model.io import load_model
    from fedqsar.prep.keys import load_key

    saved = load_model(model)
    key = load_key(key_file)
    with tempfile.TemporaryDirectory(prefix="fedqsar-score-") as scratch:
        source: Path | list[Path] = inputs[0] if len(inputs) == 1 else inputs
        if wide:
            units = _column_units(column_units or [])
            source = _widened(inputs, Path(scratch), smiles_column, id_column, value_columns, None, units)
        work = keep_prepared or Path(scratch) / "prepared"
        with StageProgress(enabled=not quiet) as progress:
            result = score_labelled(
                saved,
                source,
                key,
                work,
                n_jobs=jobs,
                thresholds=thresholds,
                progress=progress,
                endpoint_map=endpoint_map,
                allow_custom=allow_custom,
            )
    out.parent.mkdir(parents=True, exist_ok=True)
    result.metrics.to_csv(out, index=False)
    predictions = predictions or out.with_name(f"{out.stem}.predictions.csv")
    result.predictions.to_csv(predictions, index=False)
    _print(result, out, predictions)


def _print(result: ScoreResult, out: Path, predictions: Path) -> None:
    from rich.table import Table

    from fedqsar.inference.score import SCALE_INPUT

    accounting = result.prepared.accounting
    console.print(
        f"{accounting['input_rows']} input rows: {accounting['used']} used, {accounting['merged']} merged, "
        f"{sum(accounting['rejected'].values())} rejected; {result.prepared.n_compounds} compounds scored"
    )
    for kind, metrics in SHOWN.items():
        rows = result.metrics[result.metrics["kind"] == kind]
        if rows.empty:
            continue
        wide = rows.pivot_table(index=["task", "scale", "unit"], columns="metric", values="value", aggfunc="first")
        table = Table(title=f"{kind} tasks")
        for name in ("task", "scale", "unit", *metrics):
            table.add_column(name, justify="left" if name in ("task", "scale", "unit") else "right", no_wrap=True)
        for (task, scale, unit), row in wide.iterrows():
            cells = [
                f"{row.get(m, float('nan')):.0f}" if m == "n" else f"{row.get(m, float('nan')):.3f}" for m in metrics
            ]
            table.add_row(str(task), str(scale), str(unit), *cells)
        console.print(table)
    if result.model_tasks_without_labels:
        console.print(f"model tasks without labels in the input: {', '.join(result.model_tasks_without_labels)}")
    if result.input_tasks_not_in_model:
        console.print(f"input tasks the model does not predict: {', '.join(result.input_tasks_not_in_model)}")
    has_input = bool((result.metrics["scale"] == SCALE_INPUT).any())
    console.print(
        f"metrics -> {out}; predictions (canonical{' and input units' if has_input else ''}) -> {predictions}"
    )


def register(app: typer.Typer) -> None:
    app.command("score")(score)
