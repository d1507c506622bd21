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
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from fedqsar.errors import InputFileError, InputSchemaError
from fedqsar.prep import accounting as reasons
from fedqsar.prep import readers

ACTIVITY_COLUMNS = (
    "input_row", "source", "compound_id", "smiles", "assay_id", "value", "unit", "qualifier",
    "endpoint", "date", "reject_reason",
)
ASSAY_COLUMNS = (
    "assay_id", "endpoint", "thresholds", "direction", "assay_type", "use_in_regression",
    "is_binary", "weight", "catalog_assay_id", "parent_assay_id",
)
LONG_REQUIRED = ("compound_id", "smiles", "assay_id", "value", "unit", "qualifier")
LONG_OPTIONAL = ("endpoint", "date")
T0_REQUIRED = ("input_assay_id", "assay_type")
T0_OPTIONAL = (
    "use_in_regression", "expert_threshold_1", "expert_threshold_2", "expert_threshold_3",
    "expert_threshold_4", "expert_threshold_5", "direction", "is_binary", "catalog_assay_id",
    "parent_assay_id", "endpoint", "weight",
)
T1_REQUIRED = ("input_compound_id", "input_assay_id", "standard_qualifier", "standard_value")
T2_REQUIRED = ("input_compound_id", "smiles")
T3_REQUIRED = ("classification_task_id", "input_assay_id", "assay_type", "threshold_value", "weight")
T4_REQUIRED = ("input_compound_id", "classification_task_id", "class_label")
ROLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "T0": T0_REQUIRED, "T1": T1_REQUIRED, "T2": T2_REQUIRED, "T3": T3_REQUIRED, "T4": T4_REQUIRED,
}
EXPERT_THRESHOLD_COLUMNS = tuple(f"expert_threshold_{i}" for i in range(1, 6))
LABEL = "label"  # unit and endpoint of ready-made class labels

AMBIGUOUS_STRUCTURE = "ambiguous_structure"  # one compound id, several different SMILES
MALFORMED_ROW = "malformed_row"  # CSV line with more fields than the header
UNPARSABLE_MOLBLOCK = "unparsable_molblock"  # SD record RDKit cannot read
UNKNOWN_TASK = "unknown_classification_task"  # T4 task id absent from T3
reasons.REASONS.update({
    AMBIGUOUS_STRUCTURE: "the compound id appears with different SMILES in the structure table",
    MALFORMED_ROW: "the CSV line has more fields than the header",
    UNPARSABLE_MOLBLOCK: "RDKit could not read this SD record",
    UNKNOWN_TASK: "the T4 classification_task_id is not in T3",
})


@dataclass
class RawInput:
    """Partner input in canonical long form.

    Attributes
    ----------
    activities
        One row per input observation, columns :data:`ACTIVITY_COLUMNS`: ``input_row``
        (int64, 0..n-1), ``source`` (file name), ``compound_id`` (str), ``smiles`` (str or
        None), ``assay_id`` (str), ``value`` (raw cell, object), ``unit``, ``qualifier``,
        ``endpoint``, ``date`` (str or None) and ``reject_reason`` (None, or a reason
        code known at reading time).
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


# --- entry point -------------------------------------------------------------------------
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


# --- long form ---------------------------------------------------------------------------
def read_long(path: Path, *, rename: Mapping[str, str] | None = None) -> RawInput:
    """Read one long-form file (CSV / Parquet / SDF) into a :class:`RawInput`."""
    path = Path(path)
    table = readers.read_table(path)
    is_sdf = readers.file_kind(path) == "sdf"
    table = _apply_rename(table, rename)
    table = _lower_columns(table)
    if is_sdf and "compound_id" not in table.columns and "_name" in table.columns:
        table["compound_id"] = table["_name"]
    if is_sdf:
        table = _fill_missing_sdf_columns(table)
    require_columns(table, LONG_REQUIRED, LONG_OPTIONAL, what=f"{path.name} (long form)")
    acts = pd.DataFrame({col: _cells(table, col) for col in LONG_REQUIRED + LONG_OPTIONAL})
    acts.insert(0, "source", path.name)
    acts["reject_reason"] = None
    acts.loc[_missing(acts["smiles"]), "reject_reason"] = reasons.MISSING_STRUCTURE
    if readers.MALFORMED_LINE in table.columns:
        acts.loc[table[readers.MALFORMED_LINE].notna().to_numpy(), "reject_reason"] = MALFORMED_ROW
    if readers.MOLBLOCK_ERROR.lower() in table.columns:
        acts.loc[table[readers.MOLBLOCK_ERROR.lower()].fillna(False).astype(bool).to_numpy(), "reject_reason"] = UNPARSABLE_MOLBLOCK
    acts = _finish_activities(acts)
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


def _lower_columns(table: pd.DataFrame) -> pd.DataFrame:
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
        f"expected columns {list(required)}" + (f" (optional {list(optional)})" if optional else "")
        + (f"; did you mean {hints}?" if hints else "") + "; rename the columns or pass rename={...}",
    )


def _near_misses(missing: Sequence[str], found: Sequence[str]) -> dict[str, str]:
    import difflib

    hints = {}
    for col in missing:
        close = difflib.get_close_matches(col, found, n=1, cutoff=0.6)
        if close:
            hints[close[0]] = col
    return hints


def _cells(table: pd.DataFrame, col: str) -> pd.Series:
    if col not in table.columns:
        return pd.Series([None] * len(table), dtype=object)
    series = table[col].astype(object)
    return series.where(series.notna(), None).reset_index(drop=True)


def _missing(series: pd.Series) -> np.ndarray:
    text = series.astype(object).where(series.notna(), "").astype(str).str.strip()
    return (text == "").to_numpy()


def _finish_activities(acts: pd.DataFrame) -> pd.DataFrame:
    acts = acts.reset_index(drop=True)
    for col in ("compound_id", "assay_id", "unit", "qualifier", "endpoint", "date", "smiles"):
        acts[col] = _as_text(acts[col])
    acts.insert(0, "input_row", np.arange(len(acts), dtype=np.int64))
    return acts.loc[:, list(ACTIVITY_COLUMNS)]


def _as_text(series: pd.Series) -> pd.Series:
    """Stripped strings, None for empty / missing cells (object dtype)."""
    text = [_text_or_none(v) for v in series.to_numpy(dtype=object)]
    return pd.Series(text, index=series.index, dtype=object)


def assays_from_activities(acts: pd.DataFrame) -> pd.DataFrame:
    """Default assay metadata for the assays of a long table (endpoint: most common one)."""
    known = acts.dropna(subset=["assay_id"])
    counts = known.dropna(subset=["endpoint"]).groupby(["assay_id", "endpoint"]).size().reset_index(name="n")
    counts = counts.sort_values(["assay_id", "n", "endpoint"], ascending=[True, False, True])
    endpoint_of = dict(zip(*counts.drop_duplicates("assay_id")[["assay_id", "endpoint"]].to_numpy().T)) if len(counts) else {}
    rows = []
    for assay_id in sorted(known["assay_id"].unique()):
        endpoint = endpoint_of.get(assay_id)
        is_label = endpoint is not None and str(endpoint).lower() == LABEL
        rows.append(_assay_row(assay_id, endpoint=endpoint, is_binary=is_label, use_in_regression=not is_label))
    return _assay_frame(rows)


def _assay_row(assay_id: str, **fields: object) -> dict[str, object]:
    row: dict[str, object] = {
        "assay_id": str(assay_id), "endpoint": None, "thresholds": (), "direction": None,
        "assay_type": None, "use_in_regression": True, "is_binary": False, "weight": 1.0,
        "catalog_assay_id": None, "parent_assay_id": None,
    }
    row.update(fields)
    return row


def _assay_frame(rows: list[dict[str, object]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(ASSAY_COLUMNS))
    return frame.astype({"use_in_regression": bool, "is_binary": bool, "weight": float})


# --- TUNER ----------------------------------------------------------------------------------
def identify_roles(files: Sequence[Path]) -> dict[str, Path]:
    """Map TUNER roles (T0..T4) to files by their header columns.

    Raises
    ------
    InputSchemaError
        If a file matches no role, two files claim one role, or the set is incomplete.
    """
    roles: dict[str, Path] = {}
    unknown: list[str] = []
    for path in files:
        header = {c.lower() for c in readers.read_header(path)}
        matches = [role for role, cols in ROLE_COLUMNS.items() if set(cols) <= header and _role_fits(role, header)]
        if not matches:
            unknown.append(f"{path.name} {sorted(header)}")
            continue
        role = max(matches, key=lambda r: len(ROLE_COLUMNS[r]))  # the most specific role
        if role in roles:
            raise InputSchemaError(f"both {roles[role].name} and {path.name} look like TUNER {role}", "give one file per role")
        roles[role] = path
    if unknown:
        raise InputSchemaError(
            f"not a TUNER table: {'; '.join(unknown)}",
            "expected columns " + "; ".join(f"{r}: {list(c)}" for r, c in ROLE_COLUMNS.items()),
        )
    return roles


def _role_fits(role: str, header: set[str]) -> bool:
    """T0 and T3 must not be activity tables; T2 must not be T1/T4."""
    if role == "T0":
        return "input_compound_id" not in header and "classification_task_id" not in header
    if role == "T3":
        return "input_compound_id" not in header
    if role == "T2":
        return "input_assay_id" not in header and "classification_task_id" not in header
    return True


def read_tuner(files: Sequence[Path]) -> RawInput:
    """Read TUNER T0/T1/T2 (or legacy T2/T3/T4) files into a :class:`RawInput`."""
    roles = identify_roles(files)
    if {"T0", "T1", "T2"} <= roles.keys():
        return _read_tuner_current(roles)
    if {"T2", "T3", "T4"} <= roles.keys():
        return _read_tuner_legacy(roles)
    raise InputSchemaError(
        f"incomplete TUNER input: found {sorted(roles)} ({', '.join(p.name for p in roles.values())})",
        "give T0 (assays), T1 (activities) and T2 (structures), or the older T2/T3/T4 set; expected columns "
        + "; ".join(f"{r}: {list(c)}" for r, c in ROLE_COLUMNS.items()),
    )


def _read_role(roles: dict[str, Path], role: str, optional: Sequence[str] = ()) -> pd.DataFrame:
    table = _lower_columns(readers.read_csv(roles[role]))
    require_columns(table, ROLE_COLUMNS[role], optional, what=f"{roles[role].name} (TUNER {role})")
    return table


def _structures(t2: pd.DataFrame) -> tuple[dict[str, str | None], set[str]]:
    """compound id -> SMILES, and the ids listed with different SMILES (ambiguous)."""
    ids = _as_text(t2["input_compound_id"])
    smiles = _as_text(t2["smiles"])
    frame = pd.DataFrame({"id": ids, "smiles": smiles}).dropna(subset=["id"])
    counts = frame.dropna(subset=["smiles"]).groupby("id")["smiles"].nunique()
    ambiguous = set(counts[counts > 1].index)
    first = frame.dropna(subset=["smiles"]).drop_duplicates("id")
    return dict(zip(first["id"], first["smiles"])), ambiguous


def _attach_structures(acts: pd.DataFrame, t2: pd.DataFrame) -> pd.DataFrame:
    lookup, ambiguous = _structures(t2)
    acts["smiles"] = pd.Series([lookup.get(cid) if cid is not None else None for cid in acts["compound_id"]],
                               index=acts.index, dtype=object)
    acts["reject_reason"] = acts.get("reject_reason", pd.Series([None] * len(acts), dtype=object)).astype(object)
    no_structure = acts["smiles"].isna() & acts["reject_reason"].isna()
    acts.loc[no_structure, "reject_reason"] = reasons.MISSING_STRUCTURE
    acts.loc[acts["compound_id"].isin(ambiguous) & acts["reject_reason"].isna(), "reject_reason"] = AMBIGUOUS_STRUCTURE
    return acts


def _bool_column(table: pd.DataFrame, col: str, default: bool) -> pd.Series:
    if col not in table.columns:
        return pd.Series([default] * len(table))
    text = table[col].astype(object).where(table[col].notna(), "").astype(str).str.strip().str.lower()
    return text.map(lambda v: default if v == "" else v in ("true", "1", "yes", "t", "y"))


def _thresholds_of(row: pd.Series, columns: Sequence[str]) -> tuple[float, ...]:
    values = []
    for col in columns:
        if col in row.index:
            value = pd.to_numeric(pd.Series([row[col]]), errors="coerce").iloc[0]
            if pd.notna(value):
                values.append(float(value))
    return tuple(sorted(values))


def _read_tuner_current(roles: dict[str, Path]) -> RawInput:
    t0 = _read_role(roles, "T0", T0_OPTIONAL)
    t1 = _read_role(roles, "T1")
    t2 = _read_role(roles, "T2")
    assays = _tuner_assays(t0)
    binary = set(assays.loc[assays["is_binary"], "assay_id"])
    endpoint_of = dict(zip(assays["assay_id"], assays["endpoint"]))
    acts = pd.DataFrame({
        "source": roles["T1"].name,
        "compound_id": _as_text(t1["input_compound_id"]),
        "assay_id": _as_text(t1["input_assay_id"]),
        "value": _cells(t1, "standard_value"),
        "qualifier": _as_text(t1["standard_qualifier"]),
        "date": _as_text(t1["date"]) if "date" in t1.columns else None,
    })
    acts["endpoint"] = acts["assay_id"].map(endpoint_of).astype(object)
    acts["unit"] = None
    is_label = acts["assay_id"].isin(binary)
    acts.loc[is_label, "unit"] = LABEL
    acts.loc[is_label, "endpoint"] = LABEL
    acts["reject_reason"] = None
    if readers.MALFORMED_LINE in t1.columns:
        acts.loc[t1[readers.MALFORMED_LINE.lower()].notna().to_numpy(), "reject_reason"] = MALFORMED_ROW
    acts = _attach_structures(acts, t2)
    missing_assays = sorted(set(acts["assay_id"].dropna()) - set(assays["assay_id"]))
    if missing_assays:  # TUNER stops here; we keep the data with default metadata
        assays = pd.concat([assays, _assay_frame([_assay_row(a) for a in missing_assays])], ignore_index=True)
    return RawInput(_finish_activities(acts), assays, "tuner")


def _tuner_assays(t0: pd.DataFrame) -> pd.DataFrame:
    is_binary = _bool_column(t0, "is_binary", False)
    use_reg = _bool_column(t0, "use_in_regression", True)
    rows = []
    for i, row in t0.reset_index(drop=True).iterrows():
        binary = bool(is_binary.iloc[i])
        endpoint = _text_or_none(row.get("endpoint"))
        direction = _text_or_none(row.get("direction"))
        weight = pd.to_numeric(pd.Series([row.get("weight")]), errors="coerce").iloc[0]
        rows.append(_assay_row(
            str(row["input_assay_id"]).strip(),
            endpoint=LABEL if binary else endpoint,
            thresholds=_thresholds_of(row, EXPERT_THRESHOLD_COLUMNS),
            direction=direction.lower() if direction else None,
            assay_type=_text_or_none(row.get("assay_type")),
            use_in_regression=bool(use_reg.iloc[i]) and not binary,
            is_binary=binary,
            weight=float(weight) if pd.notna(weight) else 1.0,
            catalog_assay_id=_text_or_none(row.get("catalog_assay_id")),
            parent_assay_id=_text_or_none(row.get("parent_assay_id")),
        ))
    frame = _assay_frame(rows)
    dupes = frame["assay_id"][frame["assay_id"].duplicated()].unique().tolist()
    if dupes:
        raise InputSchemaError(f"T0 lists assay ids {dupes[:5]} more than once", "each input_assay_id must appear once in T0")
    return frame


def _text_or_none(value: object) -> str | None:
    if isinstance(value, str):
        return value.strip() or None
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None
    return str(value).strip() or None


def _read_tuner_legacy(roles: dict[str, Path]) -> RawInput:
    t2 = _read_role(roles, "T2")
    t3 = _read_role(roles, "T3")
    t4 = _read_role(roles, "T4")
    tasks = _legacy_tasks(t3)
    task_assay = dict(zip(tasks["classification_task_id"], tasks["assay_id"]))
    task_ids = _as_text(t4["classification_task_id"])
    acts = pd.DataFrame({
        "source": roles["T4"].name,
        "compound_id": _as_text(t4["input_compound_id"]),
        "assay_id": task_ids.map(lambda t: task_assay.get(t, f"task_{t}")).astype(object),
        "value": _cells(t4, "class_label"),
        "qualifier": "=",
        "unit": LABEL,
        "endpoint": LABEL,
        "date": None,
    })
    acts["reject_reason"] = None
    acts.loc[~task_ids.isin(task_assay.keys()).to_numpy(), "reject_reason"] = UNKNOWN_TASK
    if readers.MALFORMED_LINE in t4.columns:
        acts.loc[t4[readers.MALFORMED_LINE.lower()].notna().to_numpy(), "reject_reason"] = MALFORMED_ROW
    acts = _attach_structures(acts, t2)
    assays = _assay_frame([
        _assay_row(
            r.assay_id, endpoint=LABEL, thresholds=(r.threshold,) if pd.notna(r.threshold) else (),
            assay_type=r.assay_type, use_in_regression=False, is_binary=True, weight=r.weight,
        )
        for r in tasks.itertuples(index=False)
    ])
    return RawInput(_finish_activities(acts), assays, "tuner_legacy")


def _legacy_tasks(t3: pd.DataFrame) -> pd.DataFrame:
    tasks = pd.DataFrame({
        "classification_task_id": _as_text(t3["classification_task_id"]),
        "input_assay_id": _as_text(t3["input_assay_id"]),
        "assay_type": _as_text(t3["assay_type"]),
        "threshold": pd.to_numeric(t3["threshold_value"], errors="coerce"),
        "weight": pd.to_numeric(t3["weight"], errors="coerce").fillna(1.0),
    })
    several = tasks.groupby("input_assay_id")["classification_task_id"].transform("count") > 1
    tasks["assay_id"] = np.where(
        several, tasks["input_assay_id"] + "@" + tasks["threshold"].map(lambda t: f"{t:g}"), tasks["input_assay_id"],
    )
    return tasks


# --- pre-rejects and expert thresholds ------------------------------------------------------
def pre_rejects(activities: pd.DataFrame) -> pd.DataFrame:
    """Rows already known unusable at reading time: ``input_row``, ``reason``.

    The pipeline rejects these first (before standardisation), so each is counted once.
    """
    mask = activities["reject_reason"].notna()
    return pd.DataFrame({
        "input_row": activities.loc[mask, "input_row"].to_numpy(np.int64),
        "reason": activities.loc[mask, "reject_reason"].astype(str).to_numpy(),
    })


THRESHOLD_REQUIRED = ("assay_id",)
THRESHOLD_OPTIONAL = ("thresholds", *EXPERT_THRESHOLD_COLUMNS, "endpoint", "direction", "weight")


def read_thresholds(path: Path) -> pd.DataFrame:
    """Read an expert-threshold table (CSV).

    Columns: ``assay_id`` and either ``thresholds`` (numbers separated by ``;`` or
    blanks, e.g. ``"6;7"``) or ``expert_threshold_1..5``; optional ``endpoint``,
    ``direction`` ("high": active when value >= threshold, "low": when value <= it) and
    ``weight`` (training weight).

    Returns
    -------
    DataFrame with ``assay_id``, ``thresholds`` (tuple of float), ``endpoint``,
    ``direction``, ``weight`` (NaN when not given).
    """
    table = _lower_columns(readers.read_csv(Path(path)))
    require_columns(table, THRESHOLD_REQUIRED, THRESHOLD_OPTIONAL, what=f"{Path(path).name} (thresholds)")
    if "thresholds" not in table.columns and not any(c in table.columns for c in EXPERT_THRESHOLD_COLUMNS):
        raise InputSchemaError(
            f"{Path(path).name}: no threshold column", "add a 'thresholds' column (e.g. 6;7) or expert_threshold_1..5",
        )
    rows = []
    for _, row in table.iterrows():
        rows.append({
            "assay_id": str(row["assay_id"]).strip(),
            "thresholds": _parse_threshold_cell(row, Path(path)),
            "endpoint": _text_or_none(row.get("endpoint")),
            "direction": (_text_or_none(row.get("direction")) or "").lower() or None,
            "weight": pd.to_numeric(pd.Series([row.get("weight")]), errors="coerce").iloc[0],
        })
    frame = pd.DataFrame(rows)
    bad = frame.loc[~frame["direction"].isin(["high", "low"]) & frame["direction"].notna(), "direction"]
    if len(bad):
        raise InputSchemaError(f"{Path(path).name}: direction {sorted(set(bad))} unknown", "use 'high' or 'low'")
    return frame


def _parse_threshold_cell(row: pd.Series, path: Path) -> tuple[float, ...]:
    if "thresholds" in row.index and _text_or_none(row["thresholds"]):
        parts = str(row["thresholds"]).replace(";", " ").replace(",", " ").split()
        try:
            return tuple(sorted(float(p) for p in parts))
        except ValueError as exc:
            raise InputSchemaError(
                f"{path.name}: thresholds {row['thresholds']!r} of assay {row['assay_id']} are not numbers",
                "write them as numbers separated by ';', e.g. 6;7",
            ) from exc
    return _thresholds_of(row, EXPERT_THRESHOLD_COLUMNS)


def merge_thresholds(assays: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """Override assay metadata with an expert-threshold table (assays absent there keep theirs)."""
    assays = assays.copy().set_index("assay_id", drop=False)
    for row in table.itertuples(index=False):
        if row.assay_id not in assays.index:
            assays.loc[row.assay_id] = pd.Series(_assay_row(row.assay_id))
        if row.thresholds:
            assays.at[row.assay_id, "thresholds"] = row.thresholds
        if row.endpoint:
            assays.at[row.assay_id, "endpoint"] = row.endpoint
        if row.direction:
            assays.at[row.assay_id, "direction"] = row.direction
        if pd.notna(row.weight):
            assays.at[row.assay_id, "weight"] = float(row.weight)
    return assays.reset_index(drop=True).astype({"use_in_regression": bool, "is_binary": bool, "weight": float})
