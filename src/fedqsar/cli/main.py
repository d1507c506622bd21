"""The ``fedqsar`` Typer app.

Each verb lives in its own module ``fedqsar.cli.<verb>`` exposing ``register(app)``.
Add a verb by appending its module name to ``VERB_MODULES``; nothing else changes.

Verb modules import only the standard library, Typer and fedqsar's small config and error
modules at import time; the libraries a verb needs (torch, RDKit, pandas, Flower, Ray) are
imported inside the command, so ``fedqsar --help`` and every ``fedqsar VERB --help`` stay
fast (``bench/bench_cli.py`` measures them).
"""

from __future__ import annotations

import importlib

import typer

from fedqsar.errors import FAMILIES

VERB_MODULES: tuple[str, ...] = (
    "keygen",
    "prepare",
    "manifest_diff",
    "train",
    "predict",
    "score",
    "explain",
    "federate",
    "deploy",
    "ledger",
    "evaluate",
    "probe",
    "audit",
    "report",
    "demo",
)


def _exit_codes_help() -> str:
    lines = ["Exit codes: 0 done; 1 done, and the answer is no (a blocking manifest difference, no usable row)"]
    lines += [f"{family.exit_code} {family.family} error: {family.__doc__}" for family in FAMILIES]
    return "\n\n".join(lines)


app = typer.Typer(
    name="fedqsar",
    help="Federated multitask QSAR/ADMET modelling: prepare, train, federate, evaluate, report.",
    epilog=_exit_codes_help(),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def versions() -> dict[str, str]:
    """Installed versions of fedqsar and the libraries that shape its results (no library is imported)."""
    from fedqsar.versions import library_versions

    return library_versions()


def _print_version(value: bool) -> None:
    if value:
        typer.echo("  ".join(f"{name} {version}" for name, version in versions().items()))
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(
        False,
        "--version",
        callback=_print_version,
        is_eager=True,
        help="Print the versions of fedqsar, RDKit, torch, Flower, NumPy and pandas, and exit.",
    ),
) -> None:
    """Federated multitask QSAR/ADMET modelling: prepare, train, federate, evaluate, report."""


def _register_verbs() -> None:
    for name in VERB_MODULES:
        importlib.import_module(f"fedqsar.cli.{name}").register(app)


_register_verbs()
