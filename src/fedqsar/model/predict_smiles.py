"""Predict new structures: the same standardisation and keyed fingerprints as ``prepare``.

Molecules that fail standardisation get a row with the reject reason and empty predictions;
they never stop the run.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from fedqsar.config import from_dict
from fedqsar.errors import ConfigError, KeyFileError, ModelFileError
from fedqsar.model.io import SavedModel
from fedqsar.model.predict import predict
from fedqsar.prep.config import PrepConfig
from fedqsar.prep.keys import ConsortiumKey
from fedqsar.prep.structures import process_structures

STATUS_OK, STATUS_REJECTED = "ok", "rejected"


def prep_config_of(saved: SavedModel) -> PrepConfig:
    """The PrepConfig the model's PreparedSet was made with.

    Raises
    ------
    ModelFileError
        If the model folder carries no (or an unreadable) prep config.
    """
    if not saved.prep_config:
        raise ModelFileError(
            f"model {saved.folder} does not record the preparation settings of its training data",
            "re-train it with `fedqsar train --data PREPARED` on a folder written by `fedqsar prepare`",
        )
    try:
        return from_dict(PrepConfig, saved.prep_config, where="config.json prep_config")
    except ConfigError as exc:
        raise ModelFileError(f"model {saved.folder} has an unreadable prep config: {exc.what}", exc.fix) from exc


def check_key(saved: SavedModel, key: ConsortiumKey) -> None:
    """Raise :class:`KeyFileError` if ``key`` is not the key the training data was prepared with."""
    if saved.key_id and key.key_id != saved.key_id:
        raise KeyFileError(
            f"key id {key.key_id} differs from the model's training key {saved.key_id}",
            "pass the consortium key file used by `fedqsar prepare` for this model's data",
        )


def predict_smiles(
    saved: SavedModel, smiles: Sequence[str | None], key: ConsortiumKey, n_jobs: int = 1
) -> pd.DataFrame:
    """Predictions of the saved model's partner head for new SMILES.

    Parameters
    ----------
    smiles
        n input SMILES (None / empty allowed: rejected with a reason).

    Returns
    -------
    pd.DataFrame
        n rows in input order: ``input_row``, ``status`` ("ok" / "rejected"), ``reason``
        (reject code or empty), ``std_smiles``, then one column per task (task_name): probability
        of class 1 or value in the task's unit; NaN for rejected rows.
    """
    cfg = prep_config_of(saved)
    check_key(saved, key)
    batch = process_structures(list(smiles), cfg, key, n_jobs=n_jobs)
    if batch.X.shape[1] != saved.model.n_bits:
        raise ModelFileError(
            f"fingerprints have {batch.X.shape[1]} bits, the model reads {saved.model.n_bits}",
            "the model folder is inconsistent; re-train it",
        )
    values = predict(saved.model, saved.partner, batch.X).astype(np.float64)
    rejected = np.array([reason is not None for reason in batch.reasons], dtype=bool)
    values[rejected] = np.nan
    out = pd.DataFrame(
        {
            "input_row": np.arange(len(smiles)),
            "status": np.where(rejected, STATUS_REJECTED, STATUS_OK),
            "reason": [reason or "" for reason in batch.reasons],
            "std_smiles": [s or "" for s in batch.std_smiles],
        }
    )
    names = saved.tasks.sort_values("task_id")["task_name"].astype(str).tolist()
    return pd.concat([out, pd.DataFrame(values, columns=names)], axis=1)
