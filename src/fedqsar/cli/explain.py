"""``fedqsar explain --model M --smiles S --task T --key KEY --out DIR``: atom-level explanation."""

from __future__ import annotations

from pathlib import Path

import typer

from fedqsar.cli.common import console, reports_errors
from fedqsar.errors import KeyFileError
from fedqsar.model.io import load_model
from fedqsar.prep.keys import load_key
from fedqsar.trust.explain import explain_smiles


@reports_errors
def explain(
    model: Path = typer.Option(..., "--model", help="model folder written by `fedqsar train` / `fedqsar federate`"),
    smiles: str = typer.Option(..., "--smiles", help="structure to explain"),
    task: str = typer.Option(..., "--task", help="task name (or column number) of the model's tasks table"),
    key: Path = typer.Option(..., "--key", help="consortium key file the model's data were prepared with"),
    out: Path = typer.Option(
        Path("explanation"), "--out", help="folder for the picture (SVG, PNG) and the numbers (CSV, JSON)"
    ),
) -> None:
    """Colour the atoms of SMILES by how much they push the model's prediction for TASK."""
    saved = load_model(model)
    consortium_key = load_key(key)
    if saved.key_id and saved.key_id != consortium_key.key_id:
        raise KeyFileError(
            f"key {key} has id {consortium_key.key_id}, the model was trained on data keyed {saved.key_id}",
            "pass the consortium key used by `fedqsar prepare` for this model's data",
        )
    result = explain_smiles(saved, smiles, task, consortium_key, out)
    console.print(
        f"{result.task} ({result.kind}): prediction [bold]{result.prediction:.3g}[/] for {result.standardised_smiles}"
    )
    if result.trust:
        flag = "in domain" if result.trust.get("in_domain") else "[bold red]OUT OF DOMAIN[/]"
        console.print(f"domain similarity {result.trust.get('domain_similarity', float('nan')):.2f} ({flag})")
    if result.deletion_top_change is not None:
        console.print(
            f"deleting the top atoms' bits changes it by {result.deletion_top_change:.3g}; "
            f"random bits of the same count by {result.deletion_random_change:.3g}"
        )
    for kind, path in result.files.items():
        console.print(f"  {kind}: {path}")


def register(app: typer.Typer) -> None:
    app.command("explain")(explain)
