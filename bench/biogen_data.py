"""Biogen ADME (Fang et al. 2023): the paper's per-endpoint train/test split (``MPNN/ADME_*_{train,test}.csv``).

Each file has ``smiles, activity``; ``activity`` is the log10 value of the endpoint as in the
published wide table, whose column header (with its unit in parentheses) is kept here so that
fedqsar prepares the values exactly as it prepares the published table.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

# short name -> (file stem in MPNN/, column header of ADME_public_set_3521.csv)
ENDPOINTS: dict[str, tuple[str, str]] = {
    "HLM": ("ADME_HLM", "LOG HLM_CLint (mL/min/kg)"),
    "RLM": ("ADME_RLM", "LOG RLM_CLint (mL/min/kg)"),
    "MDR1_ER": ("ADME_MDR1_ER", "LOG MDR1-MDCK ER (B-A/A-B)"),
    "Sol": ("ADME_Sol", "LOG SOLUBILITY PH 6.8 (ug/mL)"),
    "hPPB": ("ADME_hPPB", "LOG PLASMA PROTEIN BINDING (HUMAN) (% unbound)"),
    "rPPB": ("ADME_rPPB", "LOG PLASMA PROTEIN BINDING (RAT) (% unbound)"),
}


def data_dir() -> Path:
    """The shared data folder (env ``FEDQSAR_DATA``, else ``../shared/data`` beside the repository)."""
    default = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
    return Path(os.environ.get("FEDQSAR_DATA", default)).resolve()


def split_files(endpoint: str) -> tuple[Path, Path]:
    """(train CSV, test CSV) of ``endpoint``."""
    stem = ENDPOINTS[endpoint][0]
    folder = data_dir() / "biogen_adme" / "MPNN"
    return folder / f"{stem}_train.csv", folder / f"{stem}_test.csv"


SPLITS = ("test", "validation")
VALIDATION_SHARE = 0.2


def split_frames(endpoint: str, split: str = "test") -> tuple[pd.DataFrame, pd.DataFrame]:
    """(training rows, evaluation rows) of ``endpoint``.

    ``"test"``: the paper's train file and test file. ``"validation"``: the train file only, cut
    into a seeded random 80 % (trained on) and 20 % (evaluated): the research validation sets of
    ``bench/research`` (same seed and order), on which settings are chosen; the test file is not read.
    """
    train_csv, test_csv = split_files(endpoint)
    train = pd.read_csv(train_csv)
    if split == "test":
        return train, pd.read_csv(test_csv)
    if split != "validation":
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    order = np.random.default_rng([0, list(ENDPOINTS).index(endpoint)]).permutation(len(train))
    n_validation = int(round(VALIDATION_SHARE * len(train)))
    evaluation, rest = order[:n_validation], order[n_validation:]
    return train.iloc[np.sort(rest)].reset_index(drop=True), train.iloc[evaluation].reset_index(drop=True)
