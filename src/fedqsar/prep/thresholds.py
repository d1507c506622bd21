"""Expert classification thresholds per assay, from a CSV or TOML file.

CSV columns: ``assay_id`` and either ``thresholds`` (numbers separated by ``;`` or blanks,
e.g. ``6;7``) or ``expert_threshold_1..5``; optional ``endpoint``, ``direction`` ("high":
active when value >= threshold, "low": when value <= it) and ``weight`` (training weight).

TOML: one table per assay::

    [CHEMBL235]
    thresholds = [6.5, 7.5]
    direction = "high"      # optional
    endpoint = "pXC50"      # optional
    weight = 1.0            # optional

Thresholds are on the endpoint's canonical scale (e.g. pXC50, log10(fu)).
"""

from __future__ import annotations

import math
import tomllib
from pathlib import Path

import pandas as pd

from fedqsar.errors import InputFileError, InputSchemaError
from fedqsar.prep import readers
from fedqsar.prep.tables import (
    EXPERT_THRESHOLD_COLUMNS,
    assay_row,
    lower_columns,
    require_columns,
    text_or_none,
    thresholds_of,
)

THRESHOLD_REQUIRED = ("assay_id",)
THRESHOLD_OPTIONAL = ("thresholds", *EXPERT_THRESHOLD_COLUMNS, "endpoint", "direction", "weight")


TOML_KEYS = ("thresholds", "endpoint", "direction", "weight")


def read_thresholds(path: Path) -> pd.DataFrame:
    """Read an expert-threshold file (``.csv`` or ``.toml``; formats in the module doc).

    Returns
    -------
    DataFrame with ``assay_id``, ``thresholds`` (tuple of float, sorted), ``endpoint``,
    ``direction`` ("high" / "low" / None), ``weight`` (NaN when not given).

    Raises
    ------
    InputFileError
        Missing, empty, unreadable or not valid TOML.
    InputSchemaError
        Missing columns / keys, non-numeric thresholds, unknown direction.
    """
    path = Path(path)
    frame = _read_toml(path) if path.name.lower().endswith(".toml") else _read_csv(path)
    bad = frame.loc[~frame["direction"].isin(["high", "low"]) & frame["direction"].notna(), "direction"]
    if len(bad):
        raise InputSchemaError(f"{path.name}: direction {sorted(set(bad))} unknown", "use 'high' or 'low'")
    return frame


def _read_csv(path: Path) -> pd.DataFrame:
    table = lower_columns(readers.read_csv(path))
    require_columns(table, THRESHOLD_REQUIRED, THRESHOLD_OPTIONAL, what=f"{path.name} (thresholds)")
    if "thresholds" not in table.columns and not any(c in table.columns for c in EXPERT_THRESHOLD_COLUMNS):
        raise InputSchemaError(
            f"{path.name}: no threshold column",
            "add a 'thresholds' column (e.g. 6;7) or expert_threshold_1..5",
        )
    rows = []
    for _, row in table.iterrows():
        rows.append(
            _entry(
                str(row["assay_id"]).strip(),
                _parse_threshold_cell(row, path),
                row.get("endpoint"),
                row.get("direction"),
                row.get("weight"),
            )
        )
    return pd.DataFrame(rows)


def _read_toml(path: Path) -> pd.DataFrame:
    try:
        data = tomllib.loads(readers.read_text(path))
    except tomllib.TOMLDecodeError as exc:
        raise InputFileError(f"{path} is not valid TOML: {exc}", "fix the syntax at the position named") from exc
    if not data:
        raise InputFileError(f"{path} defines no assay", "add one table per assay, e.g. [CHEMBL235] thresholds = [6.5]")
    rows = []
    for assay_id, entry in data.items():
        if not isinstance(entry, dict):
            raise InputSchemaError(
                f"{path.name}: '{assay_id}' is not a table", "write [ASSAY_ID] then thresholds = [...]"
            )
        unknown = sorted(set(entry) - set(TOML_KEYS))
        if unknown or "thresholds" not in entry:
            raise InputSchemaError(
                f"{path.name}: assay '{assay_id}' has keys {sorted(entry)}",
                f"each assay needs 'thresholds' and may have {list(TOML_KEYS[1:])}",
            )
        values = entry["thresholds"] if isinstance(entry["thresholds"], list) else [entry["thresholds"]]
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            raise InputSchemaError(f"{path.name}: thresholds of '{assay_id}' are not numbers", "write e.g. [6.5, 7.5]")
        rows.append(
            _entry(
                str(assay_id),
                tuple(sorted(float(v) for v in values)),
                entry.get("endpoint"),
                entry.get("direction"),
                entry.get("weight"),
            )
        )
    return pd.DataFrame(rows)


def _entry(assay_id: str, thresholds: tuple[float, ...], endpoint: object, direction: object, weight: object) -> dict:
    weight_value = pd.to_numeric(pd.Series([weight], dtype=object), errors="coerce").iloc[0]
    return {
        "assay_id": assay_id,
        "thresholds": thresholds,
        "endpoint": text_or_none(endpoint),
        "direction": (text_or_none(direction) or "").lower() or None,
        "weight": float(weight_value) if pd.notna(weight_value) else math.nan,
    }


def _parse_threshold_cell(row: pd.Series, path: Path) -> tuple[float, ...]:
    if "thresholds" in row.index and text_or_none(row["thresholds"]):
        parts = str(row["thresholds"]).replace(";", " ").replace(",", " ").split()
        try:
            return tuple(sorted(float(p) for p in parts))
        except ValueError as exc:
            raise InputSchemaError(
                f"{path.name}: thresholds {row['thresholds']!r} of assay {row['assay_id']} are not numbers",
                "write them as numbers separated by ';', e.g. 6;7",
            ) from exc
    return thresholds_of(row, EXPERT_THRESHOLD_COLUMNS)


def merge_thresholds(assays: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """Override assay metadata with an expert-threshold table (assays absent there keep theirs)."""
    assays = assays.copy().set_index("assay_id", drop=False)
    for row in table.itertuples(index=False):
        if row.assay_id not in assays.index:
            assays.loc[row.assay_id] = pd.Series(assay_row(row.assay_id))
        if row.thresholds:
            assays.at[row.assay_id, "thresholds"] = row.thresholds
        if row.endpoint:
            assays.at[row.assay_id, "endpoint"] = row.endpoint
        if row.direction:
            assays.at[row.assay_id, "direction"] = row.direction
        if pd.notna(row.weight):
            assays.at[row.assay_id, "weight"] = float(row.weight)
    return assays.reset_index(drop=True).astype({"use_in_regression": bool, "is_binary": bool, "weight": float})
