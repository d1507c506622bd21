"""Trust columns for the table ``fedqsar predict`` writes (one call from the predict CLI).

``fedqsar predict`` returns, per input row, ``status``, ``std_smiles`` and one column per task.
The fingerprints are rebuilt here from the *standardised* SMILES with the model's fingerprint
settings and key (no second standardisation, so this costs a few milliseconds per thousand
molecules), then :func:`fedqsar.trust.annotate.annotate_predictions` adds uncertainty and
domain columns. Rejected rows keep empty trust columns.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from rdkit import rdBase

from fedqsar.config import from_dict
from fedqsar.errors import ModelFileError
from fedqsar.model.io import SavedModel
from fedqsar.prep.config import PrepConfig
from fedqsar.prep.fingerprints import fingerprint_bits, rows_to_csr
from fedqsar.prep.keys import ConsortiumKey
from fedqsar.trust.annotate import annotate_predictions
from fedqsar.trust.model_adapter import model_functions
from fedqsar.trust.store import load_trust


def trust_columns(
    saved: SavedModel, predictions: pd.DataFrame, key: ConsortiumKey, confidence: float | None = None
) -> pd.DataFrame:
    """Trust columns aligned with ``predictions`` (the DataFrame of ``predict_smiles``).

    Parameters
    ----------
    saved
        The loaded model; its folder must hold trust artefacts (``fedqsar.trust.has_trust``).
    predictions
        n rows with ``std_smiles`` ("" when rejected) and one column per task name.
    key
        The consortium key (bit permutation).
    confidence
        Confidence of sets and intervals (default: the artefacts' setting, 0.9).

    Returns
    -------
    pd.DataFrame
        n rows, index as ``predictions``; columns of ``annotate_predictions``.
    """
    artefacts = load_trust(saved.folder)
    names = artefacts.tasks["task_name"].astype(str).tolist()
    missing = [n for n in names if n not in predictions.columns]
    if missing:
        raise ModelFileError(
            f"the trust artefacts in {saved.folder} name tasks {missing[:5]} the model does not predict",
            "re-fit the trust artefacts for this model",
        )
    cfg = from_dict(PrepConfig, saved.prep_config, where="config.json prep_config")
    permutation = key.permutation(cfg.fingerprint.n_bits)
    with rdBase.BlockLogs():
        rows = [fingerprint_bits(s, cfg.fingerprint, permutation) if s else None for s in predictions["std_smiles"]]
    X = rows_to_csr(rows, cfg.fingerprint.n_bits)
    _, embed = model_functions(saved.model, saved.partner)
    values = predictions[names].to_numpy(dtype=np.float64)
    return annotate_predictions(artefacts, values, X, embed=embed, confidence=confidence).set_index(predictions.index)
