"""A small real PreparedSet (Biogen rPPB from the CI data) and a model trained on it.

Built with fedqsar's own structure fast path and model, with a 2,048-bit fingerprint and
without tautomer canonicalisation so the fixture takes seconds.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from fedqsar.config import to_dict
from fedqsar.model.config import ModelConfig, TrainConfig
from fedqsar.model.io import save_model
from fedqsar.model.network import HeadSpec, MultitaskModel
from fedqsar.model.training import fit
from fedqsar.prep.config import TUNER_STEPS, FingerprintConfig, PrepConfig, StandardizeConfig
from fedqsar.prep.keys import ConsortiumKey
from fedqsar.prep.structures import process_structures
from fedqsar.prepared import TASK_COLUMNS, PreparedSet

PREP = PrepConfig(
    standardize=StandardizeConfig(steps=tuple(s for s in TUNER_STEPS if s != "canonical_tautomer")),
    fingerprint=FingerprintConfig(n_bits=2048),
)
KEY = ConsortiumKey(b"fedqsar-trust-tests-0123456789ab")


def biogen_rppb(shared_data: Path) -> tuple[PreparedSet, list[str]]:
    """rPPB values (regression) and rPPB above its median (classification), keyed scaffold folds.

    Returns the PreparedSet and the input SMILES of its rows.
    """
    folder = shared_data / "ci" / "biogen_adme" / "MPNN"
    raw = pd.concat([pd.read_csv(folder / "ADME_rPPB_train.csv"), pd.read_csv(folder / "ADME_rPPB_test.csv")])
    batch = process_structures(raw["smiles"].tolist(), PREP, KEY)
    ok = np.array([s is not None for s in batch.std_smiles])
    X = batch.X[np.flatnonzero(ok)]
    value = raw["activity"].to_numpy(np.float32)[ok]
    n = int(ok.sum())
    label = (value > np.median(value)).astype(np.float32)
    data = np.column_stack([label, value]).ravel()
    Y = sp.csr_matrix((data, np.tile([0, 1], n), np.arange(0, 2 * n + 1, 2)), shape=(n, 2))
    censor = sp.csr_matrix((np.zeros(2 * n, np.int8), Y.indices.copy(), Y.indptr.copy()), shape=(n, 2))
    tasks = pd.DataFrame(
        [_task(0, "rPPB_high", "classification", label), _task(1, "rPPB", "regression", label)],
        columns=list(TASK_COLUMNS),
    )
    compounds = pd.DataFrame(
        {"row": np.arange(n), "compound_id": [f"c{i}" for i in range(n)], "fold": batch.scaffold_folds[ok]}
    )
    manifest = {"prep_hash": PREP.hash(), "prep_config": to_dict(PREP), "key_id": KEY.key_id}
    smiles = [s for s, keep in zip(raw["smiles"], ok, strict=True) if keep]
    return PreparedSet(X, Y, censor, compounds, tasks, manifest=manifest), smiles


def _task(task_id: int, name: str, kind: str, label: np.ndarray) -> dict:
    positive = int(label.sum()) if kind == "classification" else 0
    negative = int(label.size - label.sum()) if kind == "classification" else 0
    return {
        "task_id": task_id,
        "task_name": name,
        "assay_id": "rPPB",
        "endpoint": "rPPB",
        "kind": kind,
        "unit": "log",
        "threshold": np.nan,
        "training_weight": 1.0,
        "aggregation_weight": 1.0,
        "n_observed": int(label.size),
        "n_positive": positive,
        "n_negative": negative,
        "n_censored": 0,
        "passes_quorum": True,
    }


def trained_model(prepared: PreparedSet, folder: Path) -> MultitaskModel:
    """Small model trained on folds 0-2 (validation 3, test 4), saved into ``folder``."""
    model_cfg = ModelConfig(hidden_sizes=(128,), dropout=0.1)
    train_cfg = replace(TrainConfig(), epochs=8, batch_size=64, validation_fold=3, test_fold=4)
    model = MultitaskModel(prepared.n_bits, model_cfg, {"A": HeadSpec.from_tasks(prepared.tasks)})
    fit(model, "A", prepared, train_cfg)
    save_model(folder, model, model_cfg, train_cfg, prepared.tasks, prepared.manifest, partner="A")
    return model
