"""Shared pieces of the partner-input readers: canonical columns, RawInput, cell helpers.

``prep.schema`` (entry point, long form), ``prep.tuner`` (MELLODDY-TUNER tables) and
``prep.thresholds`` (expert thresholds) build on these.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from fedqsar.errors import InputSchemaError
from fedqsar.prep.reasons import (  # noqa: F401 - re-exported: reading-time codes
    AMBIGUOUS_STRUCTURE,
    MALFORMED_ROW,
    UNKNOWN_TASK,
    UNPARSABLE_MOLBLOCK,
)

ACTIVITY_COLUMNS = (
    "input_row",
    "source",
    "compound_id",
    "smiles",
    "assay_id",
    "value",
    "unit",
    "qualifier",
    "endpoint",
    "date",
    "split",  # the partner's own split (fold number or train/valid/test) when folds come from a column
    "reject_reason",
    "raw_record",
)

ASSAY_COLUMNS = (
    "assay_id",
    "endpoint",
    "thresholds",
    "direction",
    "assay_type",
    "use_in_regression",
    "is_binary",
    "weight",
    "catalog_assay_id",
    "parent_assay_id",
)

EXPERT_THRESHOLD_COLUMNS = tuple(f"expert_threshold_{i}" for i in range(1, 6))

LABEL = "label"  # unit and endpoint of ready-made class labels


@dataclass
class RawInput:
    """Partner input in canonical long form.

    Attributes
    ----------
    activities
        One row per input observation, columns :data:`ACTIVITY_COLUMNS`: ``input_row``
        (int64, 0..n-1), ``source`` (file name), ``compound_id`` (str), ``smiles`` (str or
        None), ``assay_id`` (str), ``value`` (raw cell, object), ``unit``, ``qualifier``,
        ``endpoint``, ``date``, ``split`` (str or None) and ``reject_reason`` (None, or a reason
        code known at reading time), ``raw_record`` (None, or for a row rejected at reading
        the raw line / "SD record <n>" it came from, kept for ``rejected.csv``).
    assays
        One row per assay id, columns :data:`ASSAY_COLUMNS`: ``thresholds`` is a tuple of
        floats (expert thresholds, possibly empty), ``direction`` "high" / "low" / None,
        ``use_in_regression`` / ``is_binary`` bool, ``weight`` float (training weight).
    source_format
        ``"long"``, ``"tuner"`` or ``"tuner_legacy"``.
    """

    activities: pd.DataFrame
    assays: pd.DataFrame
    source_format: str


def lower_columns(table: pd.DataFrame) -> pd.DataFrame:
    table = table.copy()
    table.columns = [str(c).strip().lower() for c in table.columns]
    dupes = sorted({c for c in table.columns if list(table.columns).count(c) > 1})
    if dupes:
        raise InputSchemaError(f"columns {dupes} appear more than once (ignoring case)", "keep one column per name")
    return table


def require_columns(table: pd.DataFrame, required: Sequence[str], optional: Sequence[str] = (), *, what: str) -> None:
    """Raise :class:`InputSchemaError` naming the expected columns if any is missing."""
    missing = [c for c in required if c not in table.columns]
    if not missing:
        return
    found = [c for c in table.columns if not c.startswith("__")]
    hints = _near_misses(missing, found)
    raise InputSchemaError(
        f"{what}: missing column(s) {missing}; found {found}",
        f"expected columns {list(required)}"
        + (f" (optional {list(optional)})" if optional else "")
        + (f"; did you mean {hints}?" if hints else "")
        + "; rename the columns or pass rename={...}",
    )


def _near_misses(missing: Sequence[str], found: Sequence[str]) -> dict[str, str]:
    import difflib

    hints = {}
    for col in missing:
        close = difflib.get_close_matches(col, found, n=1, cutoff=0.6)
        if close:
            hints[close[0]] = col
    return hints


def cells(table: pd.DataFrame, col: str) -> pd.Series:
    if col not in table.columns:
        return pd.Series([None] * len(table), dtype=object)
    series = table[col].astype(object)
    return series.where(series.notna(), None).reset_index(drop=True)


def missing_mask(series: pd.Series) -> np.ndarray:
    text = series.astype(object).where(series.notna(), "").astype(str).str.strip()
    return (text == "").to_numpy()


def finish_activities(acts: pd.DataFrame) -> pd.DataFrame:
    acts = acts.reset_index(drop=True)
    if "raw_record" not in acts.columns:
        acts["raw_record"] = None
    if "split" not in acts.columns:
        acts["split"] = None
    for col in ("compound_id", "assay_id", "unit", "qualifier", "endpoint", "date", "split", "smiles", "raw_record"):
        acts[col] = as_text(acts[col])
    acts.insert(0, "input_row", np.arange(len(acts), dtype=np.int64))
    return acts.loc[:, list(ACTIVITY_COLUMNS)]


def as_text(series: pd.Series) -> pd.Series:
    """Stripped strings, None for empty / missing cells (object dtype)."""
    text = [text_or_none(v) for v in series.to_numpy(dtype=object)]
    return pd.Series(text, index=series.index, dtype=object)


def text_or_none(value: object) -> str | None:
    if isinstance(value, str):
        return value.strip() or None
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None
    return str(value).strip() or None


def assay_row(assay_id: str, **fields: object) -> dict[str, object]:
    row: dict[str, object] = {
        "assay_id": str(assay_id),
        "endpoint": None,
        "thresholds": (),
        "direction": None,
        "assay_type": None,
        "use_in_regression": True,
        "is_binary": False,
        "weight": 1.0,
        "catalog_assay_id": None,
        "parent_assay_id": None,
    }
    row.update(fields)
    return row


def assay_frame(rows: list[dict[str, object]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(ASSAY_COLUMNS))
    return frame.astype({"use_in_regression": bool, "is_binary": bool, "weight": float})


def bool_column(table: pd.DataFrame, col: str, default: bool) -> pd.Series:
    if col not in table.columns:
        return pd.Series([default] * len(table))
    text = table[col].astype(object).where(table[col].notna(), "").astype(str).str.strip().str.lower()
    return text.map(lambda v: default if v == "" else v in ("true", "1", "yes", "t", "y"))


def thresholds_of(row: pd.Series, columns: Sequence[str]) -> tuple[float, ...]:
    values = []
    for col in columns:
        if col in row.index:
            value = pd.to_numeric(pd.Series([row[col]]), errors="coerce").iloc[0]
            if pd.notna(value):
                values.append(float(value))
    return tuple(sorted(values))


def mark_malformed(acts: pd.DataFrame, table: pd.DataFrame, malformed_column: str) -> None:
    """Reject rows read from lines with too many fields; keep each raw line in ``raw_record``."""
    if malformed_column not in table.columns:
        return
    bad = table[malformed_column].notna().to_numpy()
    acts.loc[bad, "reject_reason"] = MALFORMED_ROW
    acts["raw_record"] = acts.get("raw_record", pd.Series([None] * len(acts), dtype=object)).astype(object)
    acts.loc[bad, "raw_record"] = table.loc[bad, malformed_column].to_numpy(dtype=object)
