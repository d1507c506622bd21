"""Read and validate the CSV files of a run folder.

Every problem becomes a :class:`~fedqsar.errors.ReportError` naming the file, the column
and the row, with a fix-it message; nothing is silently dropped.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from fedqsar.errors import ReportError
from fedqsar.report.files import NUMERIC_COLUMNS, OPTIONAL_COLUMNS, RUN_FILES


def read_run_table(run_dir: Path, name: str) -> pd.DataFrame | None:
    """Read the CSV ``name`` of ``RUN_FILES`` from ``run_dir``.

    Parameters
    ----------
    run_dir
        The run folder.
    name
        Key of ``RUN_FILES`` (``"history"``, ``"metrics"``, ``"uplift"``, ...).

    Returns
    -------
    pandas.DataFrame or None
        The table with its declared columns (text columns as ``str``, numeric columns as
        ``float64``, empty cells NaN), or ``None`` if the file does not exist.

    Raises
    ------
    ReportError
        If the file is unreadable, lacks a declared column, or has text in a numeric column.
    """
    spec = RUN_FILES[name]
    path = run_dir / spec.relative
    if not path.is_file():
        return None
    table = _read_csv(path, spec.producer)
    _check_columns(table, spec.columns, path, spec.producer)
    numeric = NUMERIC_COLUMNS.get(name, ())
    for column in spec.columns:
        if column in numeric:
            table[column] = _as_numbers(table[column], path, column, spec.producer)
        else:
            table[column] = table[column].astype(str)
    for column, kind in OPTIONAL_COLUMNS.get(name, {}).items():
        if column in table.columns:
            table[column] = (
                _as_numbers(table[column], path, column, spec.producer)
                if kind == "number"
                else table[column].astype(str)
            )
    return table


def _read_csv(path: Path, producer: str) -> pd.DataFrame:
    try:
        return pd.read_csv(path, keep_default_na=True, na_values=[""], dtype=str)
    except pd.errors.EmptyDataError as exc:
        raise ReportError(
            f"{path} is empty (not even a header line)",
            f"re-run {producer} to write it again, or delete it to leave its section out",
        ) from exc
    except (pd.errors.ParserError, UnicodeDecodeError, OSError) as exc:
        raise ReportError(
            f"{path} cannot be read as CSV: {exc}",
            f"re-run {producer} to write it again",
        ) from exc


def _check_columns(table: pd.DataFrame, columns: tuple[str, ...], path: Path, producer: str) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ReportError(
            f"{path} lacks column(s) {missing}; it has {list(table.columns)}",
            f"it must have columns {list(columns)} (docs/CONTRACTS.md); re-run {producer}",
        )


def _as_numbers(column: pd.Series, path: Path, name: str, producer: str) -> pd.Series:
    numbers = pd.to_numeric(column, errors="coerce")
    bad = numbers.isna() & column.notna() & ~column.astype(str).str.lower().isin(["nan", "inf", "-inf"])
    if bad.any():
        row = int(bad.idxmax())
        raise ReportError(
            f"{path} column {name!r} has non-numeric value {column[row]!r} on data row {row + 1}",
            f"the column must hold numbers (empty for missing); re-run {producer}",
        )
    return numbers.astype("float64")
