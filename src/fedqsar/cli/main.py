"""The ``fedqsar`` Typer app.

Each verb lives in its own module ``fedqsar.cli.<verb>`` exposing ``register(app)``.
Add a verb by appending its module name to ``VERB_MODULES``; nothing else changes.
"""

from __future__ import annotations

import importlib

import typer

VERB_MODULES: tuple[str, ...] = (
    "keygen",
    "prepare",
    "manifest_diff",
    "train",
    "predict",
    "explain",
    "federate",
    "deploy",
    "ledger",
    "evaluate",
    "report",
    "demo",
)

app = typer.Typer(
    name="fedqsar",
    help="Federated multitask QSAR/ADMET modelling: prepare, train, federate, evaluate, report.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def main() -> None:
    """Federated multitask QSAR/ADMET modelling: prepare, train, federate, evaluate, report."""


def _register_verbs() -> None:
    for name in VERB_MODULES:
        try:
            module = importlib.import_module(f"fedqsar.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"fedqsar.cli.{name}":
                continue  # verb not built yet
            raise
        module.register(app)


_register_verbs()
