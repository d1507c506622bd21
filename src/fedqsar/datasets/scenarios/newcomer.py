"""A company joining the potency consortium, judged on its own future compounds.

Source: SIMPD (Landrum et al. 2023; ChEMBL32 Ki): 41 assay sets on 30-odd targets, each split
into ``train`` (earlier) and ``test`` (later) compounds by a simulated medicinal-chemistry time
split. The newcomer holds every SIMPD set; one target's sets are one task
``"<target>_Ki"`` — the naming of the potency scenario's tasks, so the newcomer measures the
consortium's targets with its own assays.

What the newcomer's evaluation folds are (its split file, ``evaluation.sets``):

- ``test``: a compound that is ``test`` in any of its SIMPD sets (its future chemistry; a compound
  is never test in one task and training in another);
- validation (fold 3): a keyed random quarter of the remaining (earlier) compounds;
- training (folds 0–2): the rest.

The other partners keep their own keyed-scaffold folds.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from fedqsar.datasets.fetch import fetch
from fedqsar.datasets.registry import files
from fedqsar.datasets.scenarios.common import finish, keyed_bucket

NAME = "newcomer"
SOURCE_PREFIX = "simpd/datasets/chemblKi_SIMPD/"
FILE_PATTERN = re.compile(r"(CHEMBL\d+)-\d+\.csv$")
UNIT = "pchembl"
VALIDATION_FOLD, TEST_FOLD, TRAIN_FOLDS = 3, 4, 3


def read_sets(data_dir: Path | None) -> pd.DataFrame:
    """Every SIMPD set in one table with a ``target`` column added."""
    parts = []
    for entry in files(SOURCE_PREFIX):
        match = FILE_PATTERN.search(entry.name)
        if match:
            parts.append(pd.read_csv(fetch(entry.name, data_dir)).assign(target=match.group(1)))
    return pd.concat(parts, ignore_index=True)


def newcomer_table(sets: pd.DataFrame) -> pd.DataFrame:
    """The newcomer's raw long table (``RAW_COLUMNS``) from the SIMPD sets."""
    table = pd.DataFrame(
        {
            "compound_id": sets["compound_chembl_id"].astype(str).to_numpy(),
            "smiles": sets["canonical_smiles"].astype(str).to_numpy(),
            "assay_id": (sets["target"] + "_Ki").to_numpy(),
            "value": sets["pchembl_value"].to_numpy(),
            "unit": UNIT,
            "qualifier": "=",
            "endpoint": "Ki",
            "date": "",
        }
    )
    return finish(table.drop_duplicates(["compound_id", "assay_id", "value"]), f"{NAME}")


def newcomer_folds(sets: pd.DataFrame) -> pd.DataFrame:
    """Split table ``compound_id, split, partner``: fold numbers, test = any SIMPD ``test``.

    Returns
    -------
    pandas.DataFrame
        One row per compound id; ``split`` int fold (``TEST_FOLD`` for the future compounds,
        ``VALIDATION_FOLD`` for a keyed quarter of the earlier ones, else 0..2).
    """
    is_test = sets["split"].astype(str).str.lower().eq("test").groupby(sets["compound_chembl_id"].astype(str)).any()
    ids = is_test.index.to_series()
    bucket = ids.map(lambda c: keyed_bucket(f"newcomer-fold:{c}", TRAIN_FOLDS + 1)).to_numpy(np.int64)
    folds = np.where(is_test.to_numpy(), TEST_FOLD, bucket)
    return pd.DataFrame({"compound_id": ids.to_numpy(), "split": folds, "partner": NAME})


def build_newcomer(out: Path, data_dir: Path | str | None = None) -> tuple[Path, Path]:
    """Write the newcomer's raw table and its split file into ``out``.

    Returns
    -------
    tuple[Path, Path]
        ``out/newcomer.csv`` (input of ``fedqsar prepare``) and ``out/newcomer_split.csv``
        (``--split-file`` of ``fedqsar evaluate``; columns compound_id, split, partner).
    """
    sets = read_sets(Path(data_dir) if data_dir is not None else None)
    out.mkdir(parents=True, exist_ok=True)
    table_path, split_path = out / f"{NAME}.csv", out / f"{NAME}_split.csv"
    newcomer_table(sets).to_csv(table_path, index=False)
    newcomer_folds(sets).to_csv(split_path, index=False)
    return table_path, split_path
