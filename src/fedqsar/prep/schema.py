"""Partner input schemas -> one canonical long table (:class:`RawInput`).

Accepted inputs
---------------
``long``
    One file (``.csv``, ``.csv.gz``, ``.tsv``, ``.parquet``, ``.sdf``) with columns
    ``compound_id, smiles, assay_id, value, unit, qualifier`` and optional
    ``endpoint, date``. Column names are matched case-insensitively after stripping
    blanks; ``rename`` maps other names onto these. In an SD file the structure is the
    record's molecule, ``compound_id`` falls back to the title line, and the other
    fields are SD properties.
``tuner``
    MELLODDY-TUNER 2/3 input: T0 assays (``input_assay_id, assay_type``, optional
    ``use_in_regression, expert_threshold_1..5, direction, is_binary, catalog_assay_id,
    parent_assay_id``; an ``endpoint`` column is our extension), T1 activities
    (``input_compound_id, input_assay_id, standard_qualifier, standard_value``), T2
    structures (``input_compound_id, smiles``). T1 values carry no unit: they are taken
    to be on the assay's own scale already (``unit`` empty). ``is_binary`` assays get
    unit/endpoint ``label`` (TUNER's -1/1 labels are mapped to 0/1 later).
``tuner_legacy``
    The older TUNER example: T2 structures, T3 classification tasks
    (``classification_task_id, input_assay_id, assay_type, threshold_value, weight``) and
    T4 labels (``input_compound_id, classification_task_id, class_label``). Each T4 row
    becomes a ``label`` observation of assay ``input_assay_id`` (or
    ``input_assay_id@threshold`` when T3 holds several thresholds of that assay).

The TUNER roles are recognised by their header columns, not by file names, so a folder
may hold ``T0.csv`` or ``chembl_23_example_T2.csv`` alike.

Every activity row keeps an ``input_row`` (0..n-1), its accounting identity. Rows that
cannot be used for a reason known already here (no structure for the compound id, a
malformed CSV line, an unreadable SD record, an ambiguous compound id) are *kept*, with
the reason in ``reject_reason``; :func:`pre_rejects` lists them for the accounting.

Modules: this one (entry point, long form), ``prep.tuner`` (TUNER tables),
``prep.thresholds`` (expert-threshold files), ``prep.tables`` (shared columns and
helpers), ``prep.readers`` (file mechanics: encodings, CSV / Parquet / SDF).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from fedqsar.errors import InputFileError, InputSchemaError
from fedqsar.prep import readers, reasons
from fedqsar.prep.tables import (  # noqa: F401 - re-exported: the schema's public names
    ACTIVITY_COLUMNS,
    AMBIGUOUS_STRUCTURE,
    ASSAY_COLUMNS,
    EXPERT_THRESHOLD_COLUMNS,
    LABEL,
    MALFORMED_ROW,
    UNKNOWN_TASK,
    UNPARSABLE_MOLBLOCK,
    RawInput,
    assay_frame,
    assay_row,
    cells,
    finish_activities,
    lower_columns,
    mark_malformed,
    missing_mask,
    require_columns,
)
from fedqsar.prep.thresholds import merge_thresholds, read_thresholds  # noqa: F401
from fedqsar.prep.tuner import ROLE_COLUMNS, identify_roles, read_tuner  # noqa: F401

LONG_REQUIRED = ("compound_id", "smiles", "assay_id", "value", "unit", "qualifier")
LONG_OPTIONAL = ("endpoint", "date", "split")


def read_partner_input(
    paths: str | Path | Sequence[str | Path],
    *,
    rename: Mapping[str, str] | None = None,
    thresholds: str | Path | None = None,
) -> RawInput:
    """Read a partner's raw input in any accepted form.

    Parameters
    ----------
    paths
        One long-form file; or a folder of TUNER CSV files (T0/T1/T2 or T2/T3/T4); or
        explicit TUNER file paths (roles recognised from their header columns).
    rename
        Optional mapping ``{column in file: canonical column}`` for long-form files.
    thresholds
        Optional expert-threshold table (see :func:`read_thresholds`) merged into
        ``assays`` (it overrides thresholds, direction, endpoint and weight given there).

    Raises
    ------
    InputFileError
        Missing, unreadable, empty or non-UTF-8 file; no recognisable TUNER files.
    InputSchemaError
        Missing or misnamed columns (the message names the expected ones).
    """
    files = _expand(paths)
    if len(files) == 1 and not Path(paths if isinstance(paths, (str, Path)) else files[0]).is_dir():
        raw = read_long(files[0], rename=rename)
    else:
        raw = read_tuner(files)
    if thresholds is not None:
        raw.assays = merge_thresholds(raw.assays, read_thresholds(Path(thresholds)))
    return raw


def _expand(paths: str | Path | Sequence[str | Path]) -> list[Path]:
    items = [Path(paths)] if isinstance(paths, (str, Path)) else [Path(p) for p in paths]
    if not items:
        raise InputFileError("no input file given", "give a long-form file or the TUNER T0/T1/T2 files")
    files: list[Path] = []
    for item in items:
        if item.is_dir():
            found = sorted(p for p in item.iterdir() if p.is_file() and p.name.lower().endswith(readers.CSV_SUFFIXES))
            if not found:
                raise InputFileError(f"folder {item} holds no CSV files", "put the TUNER T0/T1/T2 CSV files in it")
            files.extend(found)
        elif not item.exists():
            raise InputFileError(f"{item} does not exist", "check the path (and the working directory)")
        else:
            files.append(item)
    return files


def read_long(path: Path, *, rename: Mapping[str, str] | None = None) -> RawInput:
    """Read one long-form file (CSV / Parquet / SDF) into a :class:`RawInput`."""
    path = Path(path)
    table = readers.read_table(path)
    is_sdf = readers.file_kind(path) == "sdf"
    table = _apply_rename(table, rename)
    table = lower_columns(table)
    if is_sdf and "compound_id" not in table.columns and "_name" in table.columns:
        table["compound_id"] = table["_name"]
    if is_sdf:
        table = _fill_missing_sdf_columns(table)
    require_columns(table, LONG_REQUIRED, LONG_OPTIONAL, what=f"{path.name} (long form)")
    acts = pd.DataFrame({col: cells(table, col) for col in LONG_REQUIRED + LONG_OPTIONAL})
    acts.insert(0, "source", path.name)
    acts["reject_reason"] = None
    acts.loc[missing_mask(acts["smiles"]), "reject_reason"] = reasons.MISSING_STRUCTURE
    mark_malformed(acts, table, readers.MALFORMED_LINE)
    if readers.MOLBLOCK_ERROR.lower() in table.columns:
        broken = table[readers.MOLBLOCK_ERROR.lower()].fillna(False).astype(bool).to_numpy()
        acts.loc[broken, "reject_reason"] = UNPARSABLE_MOLBLOCK
        acts["raw_record"] = None
        acts.loc[broken, "raw_record"] = table.loc[broken, readers.RECORD.lower()].to_numpy(dtype=object)
    acts = finish_activities(acts)
    return RawInput(acts, assays_from_activities(acts), "long")


def _fill_missing_sdf_columns(table: pd.DataFrame) -> pd.DataFrame:
    """An unreadable SD record has no properties: give it empty required columns."""
    broken = table.get(readers.MOLBLOCK_ERROR.lower())
    if broken is not None and bool(broken.fillna(False).astype(bool).all()):
        for col in LONG_REQUIRED:
            if col not in table.columns:
                table[col] = np.nan
    return table


def _apply_rename(table: pd.DataFrame, rename: Mapping[str, str] | None) -> pd.DataFrame:
    if not rename:
        return table
    missing = [src for src in rename if src not in table.columns]
    if missing:
        raise InputSchemaError(
            f"rename refers to columns {missing} that the file does not have",
            f"the file's columns are {list(table.columns)}",
        )
    return table.rename(columns=dict(rename))


def assays_from_activities(acts: pd.DataFrame) -> pd.DataFrame:
    """Default assay metadata for the assays of a long table (endpoint: most common one)."""
    known = acts.dropna(subset=["assay_id"])
    counts = known.dropna(subset=["endpoint"]).groupby(["assay_id", "endpoint"]).size().reset_index(name="n")
    counts = counts.sort_values(["assay_id", "n", "endpoint"], ascending=[True, False, True])
    endpoint_of = (
        dict(zip(*counts.drop_duplicates("assay_id")[["assay_id", "endpoint"]].to_numpy().T, strict=True))
        if len(counts)
        else {}
    )
    rows = []
    for assay_id in sorted(known["assay_id"].unique()):
        endpoint = endpoint_of.get(assay_id)
        is_label = endpoint is not None and str(endpoint).lower() == LABEL
        rows.append(assay_row(assay_id, endpoint=endpoint, is_binary=is_label, use_in_regression=not is_label))
    return assay_frame(rows)


def pre_rejects(activities: pd.DataFrame) -> pd.DataFrame:
    """Rows already known unusable at reading time: ``input_row``, ``reason``.

    The pipeline rejects these first (before standardisation), so each is counted once.
    """
    mask = activities["reject_reason"].notna()
    return pd.DataFrame(
        {
            "input_row": activities.loc[mask, "input_row"].to_numpy(np.int64),
            "reason": activities.loc[mask, "reject_reason"].astype(str).to_numpy(),
        }
    )
