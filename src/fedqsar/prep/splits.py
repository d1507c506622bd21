"""User-given splits: a fold column (fold numbers or train/valid/test labels) or a split file.

Both ``prepare`` (``FoldConfig.scheme = "column"`` / ``"split_file"``) and ``evaluate``
(``--fold-column`` / ``--split-file``) read a partner's own split with these functions.

Labels map onto the fold numbers the training settings use: with ``n_folds`` folds, ``test``
is fold ``n_folds - 1`` and ``valid`` (also ``val``, ``validation``) fold ``n_folds - 2`` —
``TrainConfig``'s defaults (test 4, validation 3 for 5 folds) — and ``train`` the folds below
(a compound's keyed-scaffold fold folded into them, so cross-validation still sees several).
Fold numbers ``0 .. n_folds - 1`` are taken as they are. Anything else is a reject
(``invalid_split_label``), never a guess.

A split file is chemprop-style: JSON ``{"train": [ids], "val": [ids], "test": [ids]}`` (or a
one-element list of such an object, as chemprop writes, or ``{partner: {...}}`` for several
partners), or a CSV/Parquet table with ``compound_id``, a split column (``split`` or
``fold``, or the name given) and optionally ``partner``. Ids are compared as text.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from fedqsar.errors import InputFileError, InputSchemaError

LABELS = {
    "train": "train",
    "training": "train",
    "valid": "valid",
    "val": "valid",
    "validation": "valid",
    "test": "test",
}
SPLIT_COLUMNS = ("split", "fold")


def label_folds(
    values: pd.Series, n_folds: int, train_folds: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Fold numbers of split values (fold numbers or labels).

    Parameters
    ----------
    values
        (n,) split cells as given (text or numbers).
    n_folds
        Number of folds (labels need at least 3).
    train_folds
        int64 (n,) fold to use for a ``train`` row (e.g. its keyed scaffold fold); values are
        folded into ``0 .. n_folds - 3``. Default: fold 0.

    Returns
    -------
    tuple
        ``folds`` int64 (n,), -1 where invalid; ``bad`` bool (n,).
    """
    text = pd.Series(values, dtype=object).map(lambda v: "" if v is None or v is pd.NA else str(v).strip().lower())
    text = text.replace({"nan": ""})
    folds = np.full(len(text), -1, dtype=np.int64)
    numbers = pd.to_numeric(text, errors="coerce").to_numpy(dtype=float)
    is_number = np.isfinite(numbers) & (np.mod(numbers, 1) == 0) & (numbers >= 0) & (numbers < n_folds)
    folds[is_number] = numbers[is_number].astype(np.int64)
    label = text.map(LABELS).to_numpy(dtype=object)
    if n_folds >= 3:
        n_train = n_folds - 2
        base = np.zeros(len(text), dtype=np.int64) if train_folds is None else np.asarray(train_folds, np.int64)
        for name, fold in (("test", np.full(len(text), n_folds - 1)), ("valid", np.full(len(text), n_folds - 2))):
            folds[label == name] = fold[label == name]
        is_train = label == "train"
        folds[is_train] = np.mod(np.maximum(base[is_train], 0), n_train)
    return folds, folds < 0


def read_split_file(path: Path, split_column: str | None = None) -> pd.DataFrame:
    """A split file as a table ``compound_id, split, partner`` (partner ``""`` when the file names none).

    Raises
    ------
    InputFileError
        The file is missing or unreadable.
    InputSchemaError
        The JSON has no train/val/test lists, or the table lacks ``compound_id`` / a split column.
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"split file {path} does not exist", "check the path given to --split-file")
    if path.suffix.lower() == ".json":
        return _from_json(path)
    from fedqsar.prep.readers import read_table

    table = read_table(path)
    table.columns = [str(c).strip() for c in table.columns]
    lower = {c.lower(): c for c in table.columns}
    wanted = [split_column] if split_column else list(SPLIT_COLUMNS)
    split = next((lower[c.lower()] for c in wanted if c and c.lower() in lower), None)
    if "compound_id" not in lower or split is None:
        raise InputSchemaError(
            f"split file {path} needs columns compound_id and {' or '.join(wanted)}; it has {list(table.columns)}",
            "write one row per compound: compound_id,split (train / valid / test or a fold number)",
        )
    partner = table[lower["partner"]].astype(str) if "partner" in lower else ""
    return pd.DataFrame(
        {"compound_id": table[lower["compound_id"]].astype(str).str.strip(), "split": table[split], "partner": partner}
    )


def _from_json(path: Path) -> pd.DataFrame:
    fix = 'write {"train": [ids], "val": [ids], "test": [ids]} (chemprop style), or {partner: {...}} per partner'
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputFileError(f"cannot read split file {path}: {exc}", fix) from exc
    if isinstance(data, list):
        if len(data) != 1:
            raise InputSchemaError(f"split file {path} holds {len(data)} splits (a list); fedqsar uses one", fix)
        data = data[0]
    if not isinstance(data, dict):
        raise InputSchemaError(f"split file {path} is not a JSON object", fix)
    if set(map(str.lower, data)) & set(LABELS):
        return _split_lists(data, "", path, fix)
    parts = [_split_lists(value, str(partner), path, fix) for partner, value in data.items()]
    return pd.concat(parts, ignore_index=True)


def _split_lists(data: object, partner: str, path: Path, fix: str) -> pd.DataFrame:
    if not isinstance(data, dict) or not set(map(str.lower, data)) & set(LABELS):
        raise InputSchemaError(f"split file {path}: {partner or 'the object'} has no train / val / test lists", fix)
    rows = [
        (str(cid).strip(), label, partner)
        for label, ids in data.items()
        for cid in (ids if isinstance(ids, list) else [ids])
    ]
    return pd.DataFrame(rows, columns=["compound_id", "split", "partner"])


def splits_for(table: pd.DataFrame, partner: str) -> pd.Series:
    """Split value per compound id for ``partner`` (rows naming no partner apply to everyone).

    Raises
    ------
    InputSchemaError
        If one compound id is given two different splits.
    """
    rows = table[(table["partner"] == "") | (table["partner"] == partner)]
    clashes = rows.groupby("compound_id")["split"].nunique()
    clashing = clashes[clashes > 1]
    if len(clashing):
        raise InputSchemaError(
            f"the split file gives {len(clashing)} compound ids two splits (e.g. {clashing.index[0]!r})",
            "give every compound id exactly one split",
        )
    return rows.drop_duplicates("compound_id").set_index("compound_id")["split"]
