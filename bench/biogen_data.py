"""Biogen ADME (Fang et al. 2023): the paper's per-endpoint train/test split (``MPNN/ADME_*_{train,test}.csv``).

Each file has ``smiles, activity``; ``activity`` is the log10 value of the endpoint as in the
published wide table, whose column header (with its unit in parentheses) is kept here so that
fedqsar prepares the values exactly as it prepares the published table.
"""

from __future__ import annotations

import os
from pathlib import Path

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
