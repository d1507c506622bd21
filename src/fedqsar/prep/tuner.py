"""MELLODDY-TUNER input: T0 assays / T1 activities / T2 structures, and the older T2/T3/T4 set.

Roles are recognised from header columns (not file names). Column names as in
MELLODDY-TUNER 2/3 (``validate_T0``/``validate_T1``/``validate_T2`` of its helper module):
T0 ``input_assay_id, assay_type, use_in_regression, expert_threshold_1..5, direction,
is_binary, catalog_assay_id, parent_assay_id`` (we require only the first two; an
``endpoint`` and a ``weight`` column are our extensions); T1 ``input_compound_id,
input_assay_id, standard_qualifier, standard_value``; T2 ``input_compound_id, smiles``.
Legacy example: T3 ``classification_task_id, input_assay_id, assay_type, threshold_value,
weight``; T4 ``input_compound_id, classification_task_id, class_label``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from fedqsar.errors import InputSchemaError
from fedqsar.prep import readers, reasons
from fedqsar.prep.tables import (
    AMBIGUOUS_STRUCTURE,
    EXPERT_THRESHOLD_COLUMNS,
    LABEL,
    UNKNOWN_TASK,
    RawInput,
    as_text,
    assay_frame,
    assay_row,
    bool_column,
    cells,
    finish_activities,
    lower_columns,
    mark_malformed,
    require_columns,
    text_or_none,
    thresholds_of,
)

T0_REQUIRED = ("input_assay_id", "assay_type")
T0_OPTIONAL = (
    "use_in_regression",
    "expert_threshold_1",
    "expert_threshold_2",
    "expert_threshold_3",
    "expert_threshold_4",
    "expert_threshold_5",
    "direction",
    "is_binary",
    "catalog_assay_id",
    "parent_assay_id",
    "endpoint",
    "weight",
)
T1_REQUIRED = ("input_compound_id", "input_assay_id", "standard_qualifier", "standard_value")
T2_REQUIRED = ("input_compound_id", "smiles")
T3_REQUIRED = ("classification_task_id", "input_assay_id", "assay_type", "threshold_value", "weight")
T4_REQUIRED = ("input_compound_id", "classification_task_id", "class_label")
ROLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "T0": T0_REQUIRED,
    "T1": T1_REQUIRED,
    "T2": T2_REQUIRED,
    "T3": T3_REQUIRED,
    "T4": T4_REQUIRED,
}


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
            raise InputSchemaError(
                f"both {roles[role].name} and {path.name} look like TUNER {role}", "give one file per role"
            )
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
    table = lower_columns(readers.read_csv(roles[role]))
    require_columns(table, ROLE_COLUMNS[role], optional, what=f"{roles[role].name} (TUNER {role})")
    return table


def _structures(t2: pd.DataFrame) -> tuple[dict[str, str | None], set[str]]:
    """compound id -> SMILES, and the ids listed with different SMILES (ambiguous)."""
    ids = as_text(t2["input_compound_id"])
    smiles = as_text(t2["smiles"])
    frame = pd.DataFrame({"id": ids, "smiles": smiles}).dropna(subset=["id"])
    counts = frame.dropna(subset=["smiles"]).groupby("id")["smiles"].nunique()
    ambiguous = set(counts[counts > 1].index)
    first = frame.dropna(subset=["smiles"]).drop_duplicates("id")
    return dict(zip(first["id"], first["smiles"], strict=True)), ambiguous


def _attach_structures(acts: pd.DataFrame, t2: pd.DataFrame) -> pd.DataFrame:
    lookup, ambiguous = _structures(t2)
    acts["smiles"] = pd.Series(
        [lookup.get(cid) if cid is not None else None for cid in acts["compound_id"]], index=acts.index, dtype=object
    )
    acts["reject_reason"] = acts.get("reject_reason", pd.Series([None] * len(acts), dtype=object)).astype(object)
    no_structure = acts["smiles"].isna() & acts["reject_reason"].isna()
    acts.loc[no_structure, "reject_reason"] = reasons.MISSING_STRUCTURE
    acts.loc[acts["compound_id"].isin(ambiguous) & acts["reject_reason"].isna(), "reject_reason"] = AMBIGUOUS_STRUCTURE
    return acts


def _read_tuner_current(roles: dict[str, Path]) -> RawInput:
    t0 = _read_role(roles, "T0", T0_OPTIONAL)
    t1 = _read_role(roles, "T1")
    t2 = _read_role(roles, "T2")
    assays = _tuner_assays(t0)
    binary = set(assays.loc[assays["is_binary"], "assay_id"])
    endpoint_of = dict(zip(assays["assay_id"], assays["endpoint"], strict=True))
    acts = pd.DataFrame(
        {
            "source": roles["T1"].name,
            "compound_id": as_text(t1["input_compound_id"]),
            "assay_id": as_text(t1["input_assay_id"]),
            "value": cells(t1, "standard_value"),
            "qualifier": as_text(t1["standard_qualifier"]),
            "date": as_text(t1["date"]) if "date" in t1.columns else None,
        }
    )
    acts["endpoint"] = acts["assay_id"].map(endpoint_of).astype(object)
    acts["unit"] = None
    is_label = acts["assay_id"].isin(binary)
    acts.loc[is_label, "unit"] = LABEL
    acts.loc[is_label, "endpoint"] = LABEL
    acts["reject_reason"] = None
    mark_malformed(acts, t1, readers.MALFORMED_LINE)
    acts = _attach_structures(acts, t2)
    missing_assays = sorted(set(acts["assay_id"].dropna()) - set(assays["assay_id"]))
    if missing_assays:  # TUNER stops here; we keep the data with default metadata
        assays = pd.concat([assays, assay_frame([assay_row(a) for a in missing_assays])], ignore_index=True)
    return RawInput(finish_activities(acts), assays, "tuner")


def _tuner_assays(t0: pd.DataFrame) -> pd.DataFrame:
    is_binary = bool_column(t0, "is_binary", False)
    use_reg = bool_column(t0, "use_in_regression", True)
    rows = []
    for i, row in t0.reset_index(drop=True).iterrows():
        binary = bool(is_binary.iloc[i])
        endpoint = text_or_none(row.get("endpoint"))
        direction = text_or_none(row.get("direction"))
        weight = pd.to_numeric(pd.Series([row.get("weight")]), errors="coerce").iloc[0]
        rows.append(
            assay_row(
                str(row["input_assay_id"]).strip(),
                endpoint=LABEL if binary else endpoint,
                thresholds=thresholds_of(row, EXPERT_THRESHOLD_COLUMNS),
                direction=direction.lower() if direction else None,
                assay_type=text_or_none(row.get("assay_type")),
                use_in_regression=bool(use_reg.iloc[i]) and not binary,
                is_binary=binary,
                weight=float(weight) if pd.notna(weight) else 1.0,
                catalog_assay_id=text_or_none(row.get("catalog_assay_id")),
                parent_assay_id=text_or_none(row.get("parent_assay_id")),
            )
        )
    frame = assay_frame(rows)
    dupes = frame["assay_id"][frame["assay_id"].duplicated()].unique().tolist()
    if dupes:
        raise InputSchemaError(
            f"T0 lists assay ids {dupes[:5]} more than once", "each input_assay_id must appear once in T0"
        )
    return frame


def _read_tuner_legacy(roles: dict[str, Path]) -> RawInput:
    t2 = _read_role(roles, "T2")
    t3 = _read_role(roles, "T3")
    t4 = _read_role(roles, "T4")
    tasks = _legacy_tasks(t3)
    task_assay = dict(zip(tasks["classification_task_id"], tasks["assay_id"], strict=True))
    task_ids = as_text(t4["classification_task_id"])
    acts = pd.DataFrame(
        {
            "source": roles["T4"].name,
            "compound_id": as_text(t4["input_compound_id"]),
            "assay_id": task_ids.map(lambda t: task_assay.get(t, f"task_{t}")).astype(object),
            "value": cells(t4, "class_label"),
            "qualifier": "=",
            "unit": LABEL,
            "endpoint": LABEL,
            "date": None,
        }
    )
    acts["reject_reason"] = None
    acts.loc[~task_ids.isin(task_assay.keys()).to_numpy(), "reject_reason"] = UNKNOWN_TASK
    mark_malformed(acts, t4, readers.MALFORMED_LINE)
    acts = _attach_structures(acts, t2)
    assays = assay_frame(
        [
            assay_row(
                r.assay_id,
                endpoint=LABEL,
                thresholds=(r.threshold,) if pd.notna(r.threshold) else (),
                assay_type=r.assay_type,
                use_in_regression=False,
                is_binary=True,
                weight=r.weight,
            )
            for r in tasks.itertuples(index=False)
        ]
    )
    return RawInput(finish_activities(acts), assays, "tuner_legacy")


def _legacy_tasks(t3: pd.DataFrame) -> pd.DataFrame:
    tasks = pd.DataFrame(
        {
            "classification_task_id": as_text(t3["classification_task_id"]),
            "input_assay_id": as_text(t3["input_assay_id"]),
            "assay_type": as_text(t3["assay_type"]),
            "threshold": pd.to_numeric(t3["threshold_value"], errors="coerce"),
            "weight": pd.to_numeric(t3["weight"], errors="coerce").fillna(1.0),
        }
    )
    several = tasks.groupby("input_assay_id")["classification_task_id"].transform("count") > 1
    tasks["assay_id"] = np.where(
        several,
        tasks["input_assay_id"] + "@" + tasks["threshold"].map(lambda t: f"{t:g}"),
        tasks["input_assay_id"],
    )
    return tasks
