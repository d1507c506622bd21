"""``fedqsar explain --model M --smiles S --task T --key KEY --out DIR``: atom-level explanation."""

from __future__ import annotations

from pathlib import Path

import typer

from fedqsar.cli.common import ALLOW_OPEN_KEY, reports_errors, say


@reports_errors
def explain(
    model: Path = typer.Option(..., "--model", help="model folder written by `fedqsar train` / `fedqsar federate`"),
    smiles: str = typer.Option(..., "--smiles", help="structure to explain"),
    task: str = typer.Option(..., "--task", help="task name (or column number) of the model's tasks table"),
    key: Path = typer.Option(..., "--key", help="consortium key file the model's data were prepared with"),
    out: Path = typer.Option(
        Path("explanation"), "--out", help="folder for the picture (SVG, PNG) and the numbers (CSV, JSON)"
    ),
    allow_open_key: bool = ALLOW_OPEN_KEY,
) -> None:
    """Colour the atoms of SMILES by how much they push the model's prediction for TASK."""
    from fedqsar.inference import InferencePipeline
    from fedqsar.model.io import load_model
    from fedqsar.prep.keys import load_key

    saved = load_model(model)  # the model's problems first: a key is only checked against a model
    result = InferencePipeline(saved, load_key(key, allow_open=allow_open_key)).explain(smiles, task, out)
    say(f"{result.task} ({result.kind}): prediction {result.prediction:.3g} for {result.standardised_smiles}")
    if result.trust:
        flag = "in domain" if result.trust.get("in_domain") else "OUT OF DOMAIN"
        say(f"domain similarity {result.trust.get('domain_similarity', float('nan')):.2f} ({flag})")
    if result.deletion_top_change is not None:
        say(
            f"deleting the top atoms' bits changes it by {result.deletion_top_change:.3g}; "
            f"random bits of the same count by {result.deletion_random_change:.3g}"
        )
    for kind, path in result.files.items():
        say(f"  {kind}: {path}")


def register(app: typer.Typer) -> None:
    app.command("explain")(explain)
