"""Where a partner's folds come from: keyed scaffolds, time (dates or ordinals) or its own split.

The pipeline's fold stage (``prep.pipeline``) asks this module, per ``FoldConfig.scheme``:

* ``row_sources(ok, cfg)``: the per-row fold source — a time value (``date`` column, read by
  ``folds.parse_time_values``) or a split label (``split`` column for ``scheme = "column"``,
  the split file for ``"split_file"``) — and the rows to reject for lack of one, each with a
  reason code (``missing_date``, ``not_a_date``, ``not_an_ordinal``, ``invalid_split_label``,
  ``not_in_split_file``, ``conflicting_split``);
* ``compound_folds(...)``: one fold per compound (time: its earliest time; a split: its one
  label) plus the manifest's ``folds`` record (scheme, how time values were read, realised
  fold shares, warnings when a requested time split cannot be honoured).

Scaffold folds need nothing here: the structure stage computes them (and they are always kept
in ``compounds.parquet`` as ``scaffold_fold`` so an evaluation can switch to them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fedqsar.errors import InputSchemaError
from fedqsar.prep import folds as fold_rules
from fedqsar.prep import splits
from fedqsar.prep.config import FoldConfig
from fedqsar.prep.reasons import CONFLICTING_SPLIT, INVALID_SPLIT_LABEL, NOT_IN_SPLIT_FILE


@dataclass
class RowSources:
    """Per-row fold source of the rows kept: ``values`` indexed by ``input_row``."""

    scheme: str
    values: pd.Series
    detail: dict[str, Any] = field(default_factory=dict)


def _rejects(rows: np.ndarray, reasons: list[str | None] | np.ndarray) -> pd.DataFrame:
    reasons = np.asarray(reasons, dtype=object)
    bad = pd.notna(reasons)
    return pd.DataFrame({"input_row": np.asarray(rows, np.int64)[bad], "reason": reasons[bad].astype(str)})


def row_sources(ok: pd.DataFrame, cfg: FoldConfig) -> tuple[RowSources | None, pd.DataFrame]:
    """The fold source of each open row (None: scaffold folds) and the rows to reject (``input_row, reason``)."""
    empty = pd.DataFrame({"input_row": np.zeros(0, np.int64), "reason": np.zeros(0, dtype=object)})
    if cfg.scheme == "scaffold" or not len(ok):
        return None, empty
    if cfg.scheme in ("time", "auto"):
        return _time_sources(ok, cfg, empty)
    labels = ok["split"] if cfg.scheme == "column" else _split_file_labels(ok, cfg)
    rows = ok["input_row"].to_numpy(np.int64)
    _, bad = splits.label_folds(labels, cfg.n_folds)
    reasons = np.full(len(rows), None, dtype=object)
    reasons[bad] = INVALID_SPLIT_LABEL
    if cfg.scheme == "split_file":
        reasons[labels.isna().to_numpy()] = NOT_IN_SPLIT_FILE
    normalised = labels.map(_normal_label)
    frame = pd.DataFrame({"key": ok["structure_key"].to_numpy(), "label": normalised.to_numpy(), "bad": bad})
    per_key = frame[~frame["bad"]].groupby("key")["label"].nunique()
    conflicting = frame["key"].isin(per_key[per_key > 1].index).to_numpy() & ~bad
    reasons[conflicting] = CONFLICTING_SPLIT
    keep = pd.isna(reasons)
    values = pd.Series(labels.to_numpy(dtype=object)[keep], index=rows[keep])
    detail = {"fold_column": cfg.fold_column} if cfg.scheme == "column" else {"split_file": str(cfg.split_file)}
    return RowSources(cfg.scheme, values, detail), _rejects(rows, reasons)


def _normal_label(value: object) -> str:
    text = str(value).strip().lower()
    return splits.LABELS.get(text, text.removesuffix(".0"))


def _time_sources(ok: pd.DataFrame, cfg: FoldConfig, empty: pd.DataFrame) -> tuple[RowSources | None, pd.DataFrame]:
    if "date" not in ok.columns:
        if cfg.scheme == "auto":
            return None, empty
        raise InputSchemaError(
            "folds.scheme = 'time' but the input has no date column",
            "add a date (or ordinal) column, or use scaffold folds",
        )
    values, reasons, kind = fold_rules.parse_time_values(ok["date"], cfg.time_values)
    rows = ok["input_row"].to_numpy(np.int64)
    if cfg.scheme == "auto" and any(r is not None for r in reasons):
        return None, empty
    keep = np.asarray([r is None for r in reasons])
    return RowSources("time", pd.Series(values[keep], index=rows[keep]), {"time_values": kind}), _rejects(rows, reasons)


def _split_file_labels(ok: pd.DataFrame, cfg: FoldConfig) -> pd.Series:
    table = splits.read_split_file(Path(str(cfg.split_file)))
    partners = sorted(set(table["partner"]) - {""})
    if len(partners) > 1:
        raise InputSchemaError(
            f"split file {cfg.split_file} holds splits of partners {partners}",
            "give prepare a split file of this partner only (fedqsar evaluate reads per-partner files)",
        )
    split = splits.splits_for(table, partners[0] if partners else "")
    return ok["compound_id"].astype(str).map(split)


def compound_folds(
    labels: pd.DataFrame,
    row_of_key: pd.Series,
    scaffold_folds: np.ndarray,
    sources: RowSources | None,
    cfg: FoldConfig,
) -> tuple[np.ndarray, dict[str, Any], np.ndarray | None]:
    """One fold per compound, the manifest's ``folds`` record, and the time folds (None unless by time).

    Parameters
    ----------
    labels
        The task labels (``structure_key``, ``input_row``): which rows make each compound.
    row_of_key
        structure key -> compound row.
    scaffold_folds
        int64 (n_compounds,) keyed scaffold folds.
    """
    record: dict[str, Any] = {"scheme": "scaffold" if sources is None else sources.scheme, "n_folds": cfg.n_folds}
    if sources is None:
        return scaffold_folds.astype(np.int64), record, None
    per_row = pd.DataFrame(
        {"key": labels["structure_key"].to_numpy(), "value": sources.values.reindex(labels["input_row"]).to_numpy()}
    )
    record.update(sources.detail)
    if sources.scheme == "time":
        earliest = per_row.groupby("key")["value"].min().reindex(row_of_key.index).to_numpy(dtype=float)
        folds = fold_rules.time_folds(earliest, cfg.n_folds, cfg.test_share, cfg.valid_share)
        record.update(fold_rules.time_split_report(folds, cfg.n_folds, cfg.test_share, cfg.valid_share))
        return folds, record, folds
    first = per_row.groupby("key")["value"].first().reindex(row_of_key.index)
    folds, _ = splits.label_folds(first, cfg.n_folds, scaffold_folds)
    record["fold_shares"] = {str(f): round(float((folds == f).mean()), 4) for f in range(cfg.n_folds)}
    return folds, record, None
