"""Wide tables (one row per compound, one column per assay) -> the long input form.

Company exports and public ADME sets are often wide, e.g. Biogen's
``Internal ID, SMILES, LOG HLM_CLint (mL/min/kg), LOG SOLUBILITY PH 6.8 (ug/mL), ...``.
Each value column becomes an assay whose id is the column header; which endpoint it is
``prep.resolve`` decides from the header's meaning (or the ``--endpoint-map``), never from
the unit alone.

Units: the last ``(...)`` or ``[...]`` group of the header that is a known unit, wrapped in
``log10(...)`` when the header starts with ``LOG`` / ``log10``; ``units`` (``--unit
COLUMN=UNIT``) gives it for a header without one. A column of 0 / 1 values is not taken
for class labels unless its name or the endpoint map says so (it could be a flag). A
qualifier written in the cell (``<0.5``) stays in the value for the values stage to split.
Empty cells are not observations.

Value columns: ``value_columns`` if given, else every mostly-numeric column except the
SMILES, id and date columns and columns that look like identifiers or bookkeeping
(``Vendor ID``, ``CID``, ``index``, ``Regno``, ``cluster``, ``fold``, ``split``, an unnamed
index column).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from fedqsar.errors import InputSchemaError
from fedqsar.prep import readers
from fedqsar.prep import units as U

_GROUPS = re.compile(r"\(([^()]*)\)|\[([^\[\]]*)\]")
_LOG_PREFIX = re.compile(r"^\s*(log10|log)[\s_]", re.IGNORECASE)
_ID_LIKE = re.compile(
    r"(?:^|[\s_.])(?:id|cid|idx|index|regno|reg|no|number|cas|batch|cluster|fold|split)(?:$|[\s_.])|^unnamed", re.I
)
LONG_COLUMNS = ("compound_id", "smiles", "assay_id", "value", "unit", "qualifier", "endpoint", "date")


def header_unit(header: str) -> str:
    """The unit a header names in parentheses or brackets ("" when none is a known unit)."""
    for match in reversed(list(_GROUPS.finditer(header))):
        text = (match.group(1) if match.group(1) is not None else match.group(2)).strip()
        if text and U.lookup_unit(text) is not None:
            return text
    return ""


def unit_from_header(header: str) -> str:
    """Unit spelled by a wide-table header ("" when it names none).

    >>> unit_from_header("LOG HLM_CLint (mL/min/kg)")
    'log10(mL/min/kg)'
    >>> unit_from_header("exp_mean [nM]")
    'nM'
    """
    unit = header_unit(header)
    if _LOG_PREFIX.match(header):
        return f"log10({unit})" if unit else "log"
    return unit


def wide_to_long(
    path: Path,
    smiles_column: str = "smiles",
    id_column: str | None = None,
    value_columns: list[str] | None = None,
    date_column: str | None = None,
    units: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Read a wide table and return the long form (one row per non-empty value cell).

    Parameters
    ----------
    path
        CSV/Parquet/SDF file, n compounds x (id, SMILES, k value columns, date).
    smiles_column, id_column, date_column
        Column names (case-insensitive); without ``id_column`` the row number is the id;
        ``date_column`` fills the long form's ``date`` (time folds).
    value_columns
        Assay columns; default: see the module docstring.
    units
        ``{column: unit}`` for value columns whose header names no unit.

    Returns
    -------
    DataFrame with columns :data:`LONG_COLUMNS` (qualifier and endpoint empty).

    Raises
    ------
    InputSchemaError
        A named column is missing, no value column is found, or a ``units`` entry names a
        column that is not a value column, an unknown unit, or contradicts the header.
    """
    table = readers.read_table(Path(path))
    columns = {c.lower(): c for c in table.columns}
    smiles = _column(columns, smiles_column, path, "--smiles-column")
    ident = _column(columns, id_column, path, "--id-column") if id_column else None
    date = _column(columns, date_column, path, "--date-column") if date_column else None
    chosen = (
        [_column(columns, c, path, "--value-column") for c in value_columns]
        if value_columns
        else default_value_columns(table, exclude={smiles, ident, date})
    )
    if not chosen:
        raise InputSchemaError(f"{path}: no value columns found besides {smiles!r}", "name them with --value-column")
    unit_of = _units(chosen, units or {}, columns, path)
    ids = table[ident].astype(str) if ident else pd.Series([f"row{i}" for i in range(len(table))])
    dates = table[date] if date else pd.Series([None] * len(table), dtype=object)
    parts = [
        pd.DataFrame(
            {
                "compound_id": ids.to_numpy(dtype=object),
                "smiles": table[smiles].to_numpy(dtype=object),
                "assay_id": column,
                "value": table[column].to_numpy(dtype=object),
                "unit": unit_of[column],
                "qualifier": "",
                "endpoint": "",
                "date": dates.to_numpy(dtype=object),
            }
        )
        for column in chosen
    ]
    long = pd.concat(parts, ignore_index=True)
    present = long["value"].notna() & (long["value"].astype(str).str.strip() != "")
    return long.loc[present].reset_index(drop=True)


def _column(columns: dict[str, str], name: str, path: Path, option: str) -> str:
    found = columns.get(name.lower())
    if found is None:
        raise InputSchemaError(
            f"{path}: no column {name!r}; found {sorted(columns.values())}",
            f"name the right column with {option}",
        )
    return found


def _units(chosen: list[str], given: Mapping[str, str], columns: dict[str, str], path: Path) -> dict[str, str]:
    """Unit per value column: the header's or the ``--unit`` one."""
    out = {column: unit_from_header(column) for column in chosen}
    for name, unit in given.items():
        column = columns.get(name.lower())
        if column not in out:
            raise InputSchemaError(
                f"--unit names column {name!r}, which is not a value column of {path}",
                f"value columns: {chosen}",
            )
        if U.lookup_unit(unit) is None:
            raise InputSchemaError(f"--unit {name}={unit}: unknown unit", "use a unit listed in docs/partner-input.md")
        if out[column] and U.unit_key(out[column]) != U.unit_key(unit):
            raise InputSchemaError(
                f"column {column!r} names unit {out[column]!r} in its header but --unit says {unit!r}",
                "drop the --unit for this column, or fix the header",
            )
        out[column] = unit
    return out


def default_value_columns(table: pd.DataFrame, exclude: set[str | None]) -> list[str]:
    """Mostly-numeric columns that are not identifiers (see the module docstring)."""
    out = []
    for column in table.columns:
        if column in exclude or _ID_LIKE.search(str(column)) or not str(column).strip():
            continue
        parsed = pd.to_numeric(table[column].astype(str).str.lstrip("<>=~ "), errors="coerce")
        filled = table[column].notna().sum()
        if filled and parsed.notna().sum() >= 0.9 * filled:
            out.append(column)
    return out
