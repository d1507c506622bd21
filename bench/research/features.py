"""Research: featurise every Biogen split SMILES once (fedqsar's structure path) and cache it.

Writes ``runs/research/features.npz``: per distinct input SMILES the standardised SMILES,
keyed ECFP6 counts (32,768 bits), the physchem descriptor block, RDKit's full 2D
descriptor list, and the keyed scaffold fold. Not part of the package.
"""

from __future__ import annotations

import hashlib
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from biogen_data import ENDPOINTS, split_files  # noqa: E402
from fedqsar.prep.config import DescriptorConfig, FingerprintConfig, PrepConfig  # noqa: E402
from fedqsar.prep.descriptors import descriptor_matrix, rdkit_descriptor_names  # noqa: E402
from fedqsar.prep.keys import ConsortiumKey  # noqa: E402
from fedqsar.prep.structures import process_structures  # noqa: E402

OUT = Path(__file__).resolve().parents[2] / "runs" / "research"
KEY = ConsortiumKey(hashlib.sha256(b"fedqsar biogen research key").digest())


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    frames = []
    for name in ENDPOINTS:
        train, test = split_files(name)
        frames.append(pd.read_csv(train).assign(endpoint=name, split="train"))
        frames.append(pd.read_csv(test).assign(endpoint=name, split="test"))
    table = pd.concat(frames, ignore_index=True)
    unique = pd.unique(table["smiles"]).tolist()
    cfg = PrepConfig(fingerprint=FingerprintConfig(counts=True))
    started = time.process_time()
    batch = process_structures(unique, cfg, KEY, n_jobs=1)
    print(
        f"{len(unique)} SMILES standardised + ECFP + physchem in {time.process_time() - started:.0f} CPU s", flush=True
    )
    started = time.process_time()
    full = descriptor_matrix(batch.std_smiles, DescriptorConfig(names=rdkit_descriptor_names()))
    print(f"RDKit full 2D set ({full.shape[1]}) in {time.process_time() - started:.0f} CPU s", flush=True)
    table.to_csv(OUT / "table.csv", index=False)
    sp.save_npz(OUT / "ecfp_counts.npz", batch.X)
    np.savez(
        OUT / "features.npz",
        smiles=np.array(unique, dtype=object).astype(str),
        std_smiles=np.array([s or "" for s in batch.std_smiles]),
        physchem=batch.descriptors,
        physchem_names=np.array(cfg.descriptors.names),
        rdkit=full,
        rdkit_names=np.array(rdkit_descriptor_names()),
        scaffold_fold=batch.scaffold_folds,
        reasons=np.array([r or "" for r in batch.reasons]),
    )


if __name__ == "__main__":
    main()
