"""Potency consortium (MELLODDY-style): ChEMBL assays dealt to four partners.

Source: the overlapping-assays IC50 and Ki sets (Landrum & Riniker 2024; ChEMBL32, "max
curation"): per target, several assays measuring it. Each ChEMBL assay goes to one of
``N_PARTNERS`` partners by HMAC-SHA256 of its assay id with a fixed scenario salt, so the
partners measure the same targets with different assays — the situation in which
federation is supposed to help, and where assay-to-assay noise (median 0.27 log units,
11% of pairs > 1 log unit in the source paper) limits it.

Task bounding: a partner's assays on one target and activity type are one task,
``assay_id = "<target>_<IC50|Ki>"`` (most single assays have 20–40 compounds, too few for a
scaffold test fold). The keyed assignment is still per ChEMBL assay.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from fedqsar.datasets.fetch import fetch
from fedqsar.datasets.registry import files
from fedqsar.datasets.scenarios.common import keyed_bucket

N_PARTNERS = 4
PARTNER_NAMES = tuple(f"pharma_{c}" for c in "abcd")
SOURCE_PREFIX = "overlapping_assays/datasets/source_data/"
FILE_PATTERN = re.compile(r"target_(CHEMBL\d+)-\d+\.(IC50|Ki)\.csv\.gz$")
UNIT = "pchembl"  # the source's pchembl_value: -log10(molar); prepare reads IC50 / Ki as pXC50


def source_files() -> list[tuple[str, str, str]]:
    """(registry name, target id, activity type) of every overlapping-assays set."""
    out = []
    for entry in files(SOURCE_PREFIX):
        match = FILE_PATTERN.search(entry.name)
        if match:
            out.append((entry.name, match.group(1), match.group(2)))
    return out


def read_sets(data_dir: Path | None) -> pd.DataFrame:
    """All sets in one table with ``target`` and ``activity`` columns added."""
    parts = []
    for name, target, activity in source_files():
        table = pd.read_csv(fetch(name, data_dir))
        parts.append(table.assign(target=target, activity=activity))
    return pd.concat(parts, ignore_index=True)


def assign_partners(assay_ids: pd.Series, salt: bytes, n_partners: int = N_PARTNERS) -> pd.Series:
    """Partner index of each assay id (keyed hash; identical on every machine for a salt)."""
    unique = pd.unique(assay_ids.astype(str))
    bucket = {a: keyed_bucket(a, n_partners, salt) for a in unique}
    return assay_ids.astype(str).map(bucket)


def build(
    data_dir: Path | None, salt: bytes, sample: Callable[[pd.DataFrame], pd.DataFrame] = lambda table: table
) -> dict[str, pd.DataFrame]:
    """Raw tables of the four potency partners, each passed through ``sample``."""
    sets = read_sets(data_dir).drop_duplicates(["assay_chembl_id", "compound_chembl_id", "activity"])
    sets["partner"] = assign_partners(sets["assay_chembl_id"], salt)
    tables = {}
    for index, name in enumerate(PARTNER_NAMES):
        mine = sets[sets["partner"] == index]
        tables[name] = sample(
            pd.DataFrame(
                {
                    "compound_id": mine["compound_chembl_id"].astype(str).to_numpy(),
                    "smiles": mine["canonical_smiles"].astype(str).to_numpy(),
                    "assay_id": (mine["target"] + "_" + mine["activity"]).to_numpy(),
                    "value": mine["pchembl_value"].to_numpy(),
                    "unit": UNIT,
                    "qualifier": "=",
                    "endpoint": mine["activity"].to_numpy(),  # "IC50" / "Ki", as the source says
                    "date": "",
                }
            )
        )
    return tables
