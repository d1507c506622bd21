"""The PreparedSets an evaluation actually trains and scores on.

Before any model is fitted, each partner's PreparedSet may change in two ways, both recorded
in its manifest and in ``evaluation/folds.csv``:

1. **Folds given for the evaluation** (``EvalConfig.split_file`` / ``EvalConfig.fold_column``,
   ``fedqsar evaluate --split-file / --fold-column``): a chemprop-style split file or a column
   of ``compounds.parquet`` (e.g. ``scaffold_fold``, ``time_fold`` that ``prepare`` keeps)
   replaces the partner's folds (``prep.splits``). Compounds the split file does not name are
   left out of that partner's evaluation (counted); a partner the file does not name at all
   (a file with a ``partner`` column naming others) keeps its own folds.
2. **No test compound trains anyone** (``evaluation.overlap``): rows whose keyed structure is in
   any partner's test fold leave every partner's training and validation rows.

Changed sets are written to ``RUN/evaluation/prepared/<partner>/`` (the Flower partners read
folders); unchanged partners keep their own folder.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from fedqsar.errors import ConfigError
from fedqsar.evaluation.overlap import PartnerOverlap, find_overlap, folds_table, without_rows
from fedqsar.prep.splits import label_folds, read_split_file, splits_for
from fedqsar.prepared import PreparedSet

SETS_DIR = "evaluation/prepared"


@dataclass
class EvaluationSets:
    """The sets to evaluate on and what was done to them."""

    folders: dict[str, Path]
    prepared: dict[str, PreparedSet]
    folds: pd.DataFrame
    overlap: dict[str, PartnerOverlap]


def _n_folds(prepared: PreparedSet) -> int:
    recorded = prepared.manifest.n_folds
    return recorded if recorded is not None else max(int(prepared.folds.max(initial=0)) + 1, 5)


def _with_folds(prepared: PreparedSet, folds: np.ndarray, scheme: str, source: str) -> PreparedSet:
    keep = np.flatnonzero(folds >= 0)
    subset = prepared.subset(keep)
    subset.compounds["fold"] = folds[keep]
    subset.manifest = prepared.manifest.with_extra(
        evaluation_folds={"scheme": scheme, "source": source, "n_unassigned": int((folds < 0).sum())}
    )
    return subset


def given_folds(name: str, prepared: PreparedSet, split_file: str | None, fold_column: str | None) -> PreparedSet:
    """``prepared`` with the folds the user gave for the evaluation (unchanged when none).

    Raises
    ------
    ConfigError
        The fold column is not in ``compounds.parquet``, or a value is not a fold or label.
    """
    if split_file is None and fold_column is None:
        return prepared
    n_folds = _n_folds(prepared)
    scaffold = prepared.compounds.get("scaffold_fold")
    base = None if scaffold is None else scaffold.to_numpy(np.int64)
    if split_file is not None:
        split = splits_for(read_split_file(Path(split_file), fold_column), name)
        if split.empty:  # the file names other partners only: this one keeps its own folds
            return prepared
        values = prepared.compounds["compound_id"].astype(str).map(split)
        folds, bad = label_folds(values, n_folds, base)
        given = values.notna().to_numpy()
        if (bad & given).any():
            example = values[bad & given].iloc[0]
            raise ConfigError(
                f"{split_file}: split {example!r} of partner {name} is not a fold number or train / valid / test",
                f"use fold numbers 0..{n_folds - 1} or the labels train, valid, test",
            )
        return _with_folds(prepared, folds, "user split file", str(split_file))
    assert fold_column is not None
    if fold_column not in prepared.compounds.columns:
        raise ConfigError(
            f"partner {name}'s compounds.parquet has no column {fold_column!r} "
            f"(columns: {list(prepared.compounds.columns)})",
            "name a fold column prepare kept (scaffold_fold, time_fold), or give --split-file",
        )
    folds, bad = label_folds(prepared.compounds[fold_column], n_folds, base)
    if bad.any():
        raise ConfigError(
            f"partner {name}: {int(bad.sum())} values of {fold_column!r} are not fold numbers or train / valid / test",
            f"use fold numbers 0..{n_folds - 1} or the labels train, valid, test",
        )
    scheme = {"scaffold_fold": "scaffold", "time_fold": "time"}.get(fold_column, f"column {fold_column}")
    return _with_folds(prepared, folds, scheme, f"compounds.parquet:{fold_column}")


def evaluation_sets(
    prepared: Mapping[str, PreparedSet],
    folders: Mapping[str, Path],
    out: Path,
    *,
    test_fold: int,
    validation_fold: int,
    policy: str = "exclude",
    split_file: str | None = None,
    fold_column: str | None = None,
) -> EvaluationSets:
    """Apply given folds and the test-overlap rule; write changed sets under ``out/evaluation/prepared``."""
    refolded = {name: given_folds(name, p, split_file, fold_column) for name, p in prepared.items()}
    sources = {name: str(p.manifest.evaluation_folds.get("source", "prepare")) for name, p in refolded.items()}
    overlap = find_overlap(refolded, test_fold, validation_fold)
    table = folds_table(refolded, overlap, sources, policy, test_fold, validation_fold)
    final, new_folders = {}, {}
    for name, p in refolded.items():
        changed = p is not prepared[name]
        rows = overlap[name].excluded_rows
        if policy == "exclude" and len(rows):
            note = {
                "excluded_rows": len(rows),
                "why": "keyed structure in a partner's test fold",
                "source": str(folders[name]),
            }
            p, changed = without_rows(p, rows, note), True
        final[name] = p
        new_folders[name] = p.save(Path(out) / SETS_DIR / name) if changed else Path(folders[name])
    return EvaluationSets(new_folders, final, table, overlap)
