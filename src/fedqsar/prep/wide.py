"""Wide tables (one row per compound, one column per assay) -> the long input form.

Company exports and public ADME sets are often wide, e.g. Biogen's
``Internal ID, SMILES, LOG HLM_CLint (mL/min/kg), LOG SOLUBILITY PH 6.8 (ug/mL), ...``.
Each value column becomes an assay whose id is the column name; its unit is read from the
header: the text in the last parentheses, wrapped in ``log10(...)`` when the header starts
with ``LOG``/``log10``. A qualifier written in the cell (``<0.5``) is kept in the value for
the values stage to split. Empty cells are not observations and are not input rows.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from fedqsar.errors import InputSchemaError
from fedqsar.prep import readers

_UNIT_IN_HEADER = re.compile(r"\(([^()]*)\)\s*$")
_LOG_PREFIX = re.compile(r"^\s*(log10|log)[\s_]", re.IGNORECASE)


def unit_from_header(header: str) -> str:
    """Unit spelled by a wide-table header ("" when it names none).

    >>> unit_from_header("LOG HLM_CLint (mL/min/kg)")
    'log10(mL/min/kg)'
    """
    match = _UNIT_IN_HEADER.search(header)
    unit = match.group(1).strip() if match else ""
    if _LOG_PREFIX.match(header):
        return f"log10({unit})" if unit else "log"
    return unit


def wide_to_long(
    path: Path,
    smiles_column: str = "smiles",
    id_column: str | None = None,
    value_columns: list[str] | None = None,
) -> pd.DataFrame:
    """Read a wide table and return the long form (one row per non-empty value cell).

    Parameters
    ----------
    path
        CSV/Parquet/SDF file, n compounds x (id, SMILES, k value columns).
    smiles_column, id_column
        Column names (case-insensitive); without ``id_column`` the row number is the id.
    value_columns
        Assay columns; default: every column except id and SMILES whose values are mostly
        numeric.

    Returns
    -------
    DataFrame with columns ``compound_id, smiles, assay_id, value, unit, qualifier``
    (qualifier "" — the values stage splits qualifiers written inside the value).

    Raises
    ------
    InputSchemaError
        When the SMILES/id column is missing or no value column is found.
    """
    table = readers.read_table(Path(path))
    columns = {c.lower(): c for c in table.columns}
    smiles = _column(columns, smiles_column, path)
    ident = _column(columns, id_column, path) if id_column else None
    values = value_columns or _numeric_columns(table, exclude={smiles, ident})
    if not values:
        raise InputSchemaError(f"{path}: no value columns found besides {smiles!r}", "name them with --value-column")
    ids = table[ident].astype(str) if ident else pd.Series([f"row{i}" for i in range(len(table))])
    parts = [
        pd.DataFrame(
            {
                "compound_id": ids,
                "smiles": table[smiles],
                "assay_id": column,
                "value": table[column],
                "unit": unit_from_header(column),
                "qualifier": "",
            }
        )
        for column in values
    ]
    long = pd.concat(parts, ignore_index=True)
    present = long["value"].notna() & (long["value"].astype(str).str.strip() != "")
    return long.loc[present].reset_index(drop=True)


def _column(columns: dict[str, str], name: str, path: Path) -> str:
    found = columns.get(name.lower())
    if found is None:
        raise InputSchemaError(
            f"{path}: no column {name!r}; found {sorted(columns.values())}",
            "name the right column with --smiles-column / --id-column",
        )
    return found


def _numeric_columns(table: pd.DataFrame, exclude: set[str | None]) -> list[str]:
    """Mostly-numeric columns; only those with a unit in their header if any has one."""
    numeric = []
    for column in table.columns:
        if column in exclude:
            continue
        parsed = pd.to_numeric(table[column].astype(str).str.lstrip("<>=~ "), errors="coerce")
        filled = table[column].notna().sum()
        if filled and parsed.notna().sum() >= 0.9 * filled:
            numeric.append(column)
    with_units = [column for column in numeric if _UNIT_IN_HEADER.search(column)]
    return with_units or numeric
