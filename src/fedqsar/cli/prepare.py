"""``fedqsar prepare``: one partner's raw tables -> a PreparedSet folder."""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from fedqsar.cli.common import ALLOW_OPEN_KEY, StageProgress, console, reports_errors, say
from fedqsar.config import load_toml, save_toml
from fedqsar.errors import ConfigError, InputSchemaError
from fedqsar.prep.config import PrepConfig

if TYPE_CHECKING:  # RDKit and pandas load when the verb runs, not for --help
    from fedqsar.prep.keys import ConsortiumKey
    from fedqsar.prep.pipeline import PrepareResult


@reports_errors
def prepare_command(
    inputs: list[Path] = typer.Option(
        ..., "--input", "-i", help="long-form CSV/Parquet/SDF file, or a TUNER folder / T0,T1,T2 files (repeat --input)"
    ),
    out: Path = typer.Option(..., "--out", "-o", help="PreparedSet folder to write"),
    key_file: Path | None = typer.Option(
        None, "--key", help="consortium key file (fedqsar keygen); without it a new key is created beside --out"
    ),
    config_file: Path | None = typer.Option(
        None, "--config", help="PrepConfig TOML; the same for every partner but the fold scheme"
    ),
    thresholds: Path | None = typer.Option(
        None, "--thresholds", help="CSV of expert classification thresholds per assay"
    ),
    wide: bool = typer.Option(
        False,
        "--wide",
        help="input is wide: one row per compound, one column per assay (unit in the header's parentheses)",
    ),
    smiles_column: str = typer.Option("smiles", "--smiles-column", help="wide input: SMILES column"),
    id_column: str | None = typer.Option(None, "--id-column", help="wide input: compound id column"),
    value_columns: list[str] | None = typer.Option(
        None, "--value-column", help="wide input: assay columns (repeat; default: numeric columns that are not ids)"
    ),
    date_column: str | None = typer.Option(None, "--date-column", help="wide input: measurement date column"),
    column_units: list[str] | None = typer.Option(
        None, "--unit", help="wide input: COLUMN=UNIT for a column whose header names no unit (repeat)"
    ),
    endpoint_map: Path | None = typer.Option(
        None,
        "--endpoint-map",
        help="TOML/CSV: assay id or column -> endpoint [, unit, loq] (docs/partner-input.md); used when a name is unclear",
    ),
    allow_custom: bool = typer.Option(
        False,
        "--allow-custom",
        help="keep assays that match no single registered endpoint as custom endpoints instead of stopping",
    ),
    jobs: int = typer.Option(-1, "--jobs", "-j", help="processes for standardisation (-1: all cores)"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bars"),
    fold_scheme: str | None = typer.Option(
        None, "--fold-scheme", help="scaffold | time | auto (your own choice; it need not match your partners')"
    ),
    time_values: str | None = typer.Option(
        None, "--time-values", help="time folds read the date column as: date | ordinal | auto (integers -> ordinal)"
    ),
    test_share: float | None = typer.Option(
        None, "--test-share", help="time folds: the newest share of compounds as test fold (instead of 1/n_folds)"
    ),
    fold_column: str | None = typer.Option(
        None, "--fold-column", help="input column holding your own split: fold numbers or train/valid/test"
    ),
    split_file: Path | None = typer.Option(
        None, "--split-file", help="your own split: chemprop-style JSON (compound ids per train/val/test) or CSV"
    ),
    allow_open_key: bool = ALLOW_OPEN_KEY,
) -> None:
    """Standardise, fingerprint (keyed), fold, harmonise values and build tasks for one partner."""
    from fedqsar.prep.pipeline import prepare

    config = load_toml(PrepConfig, config_file) if config_file else PrepConfig()
    config = _with_folds(config, fold_scheme, time_values, test_share, fold_column, split_file)
    key = _key_for(key_file, out, allow_open_key)
    with tempfile.TemporaryDirectory(prefix="fedqsar-wide-") as scratch:
        source: Path | list[Path] = inputs[0] if len(inputs) == 1 else inputs
        if wide:
            units = _column_units(column_units or [])
            source = _widened(inputs, Path(scratch), smiles_column, id_column, value_columns, date_column, units)
        elif date_column or column_units:
            raise InputSchemaError(
                "--date-column and --unit are for wide tables", "add --wide, or use the long form's date/unit columns"
            )
        with StageProgress(enabled=not quiet) as progress:
            result = prepare(
                source,
                out,
                key,
                config,
                n_jobs=jobs,
                thresholds=thresholds,
                progress=progress,
                endpoint_map=endpoint_map,
                allow_custom=allow_custom,
            )
    save_toml(config, out / "prep_config.toml")
    _print_summary(result)
    _print_folds(result)
    if result.prepared.n_compounds == 0:
        say(f"no usable rows: every input row was rejected; see {out / 'rejected.csv'}", style="bold red")
        raise typer.Exit(code=1)


def _widened(
    inputs: list[Path],
    scratch: Path,
    smiles: str,
    ident: str | None,
    columns: list[str] | None,
    date: str | None,
    units: dict[str, str],
) -> Path:
    """Wide files -> one long Parquet file in a scratch folder (never inside the PreparedSet)."""
    from fedqsar.prep.wide import wide_to_long

    if len(inputs) != 1:
        raise InputSchemaError("--wide takes exactly one --input file", "convert and prepare one wide file at a time")
    long_file = scratch / "long.parquet"
    long = wide_to_long(
        inputs[0], smiles_column=smiles, id_column=ident, value_columns=columns, date_column=date, units=units
    )
    long.to_parquet(long_file, index=False)
    return long_file


def _column_units(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        column, sep, unit = pair.rpartition("=")
        if not sep or not column.strip() or not unit.strip():
            raise InputSchemaError(f"--unit {pair!r} is not COLUMN=UNIT", 'write e.g. --unit "KSOL=uM"')
        out[column.strip()] = unit.strip()
    return out


def _with_folds(
    config: PrepConfig,
    scheme: str | None,
    time_values: str | None,
    test_share: float | None,
    fold_column: str | None,
    split_file: Path | None,
) -> PrepConfig:
    """``config`` with the fold options of the command line (they override the config file)."""
    if fold_column and split_file:
        raise ConfigError("--fold-column and --split-file both give a split", "give one of them")
    changes: dict[str, Any] = {
        "scheme": "column" if fold_column else "split_file" if split_file else scheme,
        "time_values": time_values,
        "test_share": test_share,
        "fold_column": fold_column,
        "split_file": str(split_file) if split_file else None,
    }
    try:
        folds = dataclasses.replace(config.folds, **{k: v for k, v in changes.items() if v is not None})
    except ValueError as exc:
        raise ConfigError(str(exc), "see `fedqsar prepare --help` and docs/partner-input.md (Folds)") from exc
    return dataclasses.replace(config, folds=folds)


def _print_folds(result: PrepareResult) -> None:
    """The fold scheme used and every warning about a time split that could not be honoured."""
    record = result.prepared.manifest.fold_record
    detail = ", ".join(f"{k} {record[k]}" for k in ("time_values", "fold_column", "split_file") if record.get(k))
    say(f"folds: {record.get('scheme', 'scaffold')}" + (f" ({detail})" if detail else ""))
    for warning in record.get("warnings", []):
        say(f"warning: {warning}", style="bold yellow")


def _key_for(key_file: Path | None, out: Path, allow_open: bool = False) -> ConsortiumKey:
    from fedqsar.prep.keys import generate_key, load_key, save_key

    if key_file is not None:
        return load_key(key_file, allow_open=allow_open)
    new_file = out.with_name(out.name + ".key")
    if new_file.is_file():
        key = load_key(new_file, allow_open=allow_open)
        say(f"no --key given: reusing the key {new_file} (id {key.key_id}) created by an earlier prepare")
        return key
    key = generate_key()
    save_key(key, new_file)
    say(f"no --key given: created a new consortium key {new_file} (id {key.key_id}).", style="yellow")
    say("Give this file to your partners (never the server) so that all of you prepare with the same key.")
    return key


def _print_summary(result: PrepareResult) -> None:
    from rich.table import Table

    accounting = result.prepared.accounting
    table = Table(title=f"PreparedSet {result.out}", show_header=True)
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_row("input rows", str(accounting["input_rows"]))
    table.add_row("  used", str(accounting["used"]))
    table.add_row("  merged into replicates", str(accounting["merged"]))
    for reason, count in sorted(accounting["rejected"].items(), key=lambda item: -item[1]):
        table.add_row(f"  rejected: {reason}", str(count))
    tasks = result.prepared.tasks
    table.add_row("distinct input SMILES (standardised once)", str(result.n_unique_smiles))
    table.add_row("compounds", str(result.prepared.n_compounds))
    for kind in ("classification", "regression"):
        of_kind = tasks[tasks["kind"] == kind]
        table.add_row(f"{kind} tasks (passing quorum)", f"{len(of_kind)} ({int(of_kind['passes_quorum'].sum())})")
    folds = result.prepared.compounds["fold"].value_counts().sort_index()
    table.add_row("compounds per fold", " ".join(f"{int(f)}:{int(n)}" for f, n in folds.items()))
    console.print(table)
    _print_semantics(result)
    timing = "  ".join(f"{stage} {seconds:.1f}s" for stage, seconds in result.seconds.items())
    say(f"time per stage: {timing}")
    say(f"rejected rows with reasons: {result.out / 'rejected.csv'}")


def _print_semantics(result: PrepareResult) -> None:
    """Endpoints as read, how the unclear ones were read, and every warning (custom endpoints loudest)."""
    from rich.table import Table
    from rich.text import Text

    semantics = result.semantics
    table = Table(title="Endpoints (how each assay / column was read: assay_endpoints.csv)", show_header=True)
    table.add_column("endpoint")
    for column in ("assays", "rows", "censored at LOQ"):
        table.add_column(column, justify="right")
    censored = semantics.get("censored_at_loq", {})
    custom = {c["endpoint"] for c in semantics.get("custom_endpoints", [])}
    for row in semantics.get("endpoints", []):
        name = row["endpoint"] or "(assay's own scale)"
        shown = Text(f"{name} (CUSTOM)", style="bold yellow") if row["endpoint"] in custom else Text(name)
        table.add_row(shown, str(row["assays"]), str(row["rows"]), str(censored.get(row["endpoint"], "")))
    console.print(table)
    for note in semantics.get("notes", []):
        say(f"  read: {note['endpoint']}: {note['note']} ({note['assays']} assay(s))")
    for warning in semantics.get("warnings", []):
        console.print(Text.assemble(("warning:", "bold yellow"), " ", str(warning)), soft_wrap=True, highlight=False)


def register(app: typer.Typer) -> None:
    app.command("prepare")(prepare_command)
