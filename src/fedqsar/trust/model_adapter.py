"""Callables over a trained model, the only place where trust touches ``fedqsar.model``.

Everything else in ``fedqsar.trust`` works on plain callables (``predict(X) -> (n, n_tasks)``,
``embed(X) -> (n, d)``), so it can be tested with any model and reused for baselines.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from fedqsar.errors import ModelDataMismatchError, ModelFileError
from fedqsar.model.io import load_model
from fedqsar.model.network import MultitaskModel
from fedqsar.model.predict import predict as model_predict
from fedqsar.model.predict import trunk_embedding
from fedqsar.model.training import training_rows
from fedqsar.prepared import PreparedSet
from fedqsar.trust.calibrate import EmbedFn, PredictFn, TrustConfig, fit_trust
from fedqsar.trust.store import save_trust


def model_functions(model: MultitaskModel, partner: str) -> tuple[PredictFn, EmbedFn]:
    """``predict`` (partner's head, task scale) and ``embed`` (trunk output) for ``model``.

    Both read CSR fingerprint rows or ``ModelInputs`` (fingerprints + descriptors + structures).
    A model whose trunk reads more than fingerprints (descriptor block, message passing) marks
    them ``reads_model_inputs``: the trust functions then hand them ``ModelInputs`` rows
    (``trust.calibrate.model_rows``).
    """

    def predict(X: Any) -> np.ndarray:
        return model_predict(model, partner, _source(X))

    def embed(X: Any) -> np.ndarray:
        return trunk_embedding(model, _source(X), partner)

    needs_inputs = needs_model_inputs(model)
    predict.reads_model_inputs = needs_inputs  # type: ignore[attr-defined]
    embed.reads_model_inputs = needs_inputs  # type: ignore[attr-defined]
    return predict, embed


def needs_model_inputs(model: MultitaskModel) -> bool:
    """True when the model reads more than fingerprint rows (a descriptor block or molecular graphs)."""
    return bool(model.n_descriptors) or model.model_cfg.trunk != "ecfp"


def _source(X: Any) -> Any:
    return sp.csr_matrix(X, dtype=np.float32) if sp.issparse(X) else X


def fit_trust_for_saved_model(model_folder: Path, prepared: PreparedSet, config: TrustConfig = TrustConfig()) -> Path:
    """Fit and save the trust artefacts of a saved partner model (call after ``save_model``).

    Calibration rows: the model's validation fold; domain reference: its training rows
    (every fold not held out). The test fold is never read.

    Returns
    -------
    Path
        ``<model_folder>/trust``.

    Raises
    ------
    ModelDataMismatchError
        When the PreparedSet is not the one the model was trained on (exit code 3).
    ModelFileError
        When the validation fold is empty.
    """
    saved = load_model(model_folder)
    if saved.prep_hash and prepared.manifest.prep_hash and saved.prep_hash != prepared.manifest.prep_hash:
        raise ModelDataMismatchError(
            f"{model_folder} was trained on data prepared with another config",
            "pass the PreparedSet the model was trained on",
        )
    calibration = prepared.rows_in([saved.train_cfg.validation_fold])
    if calibration.size == 0:
        raise ModelFileError(
            f"validation fold {saved.train_cfg.validation_fold} has no rows: nothing to calibrate on",
            "train with a validation fold that holds compounds",
        )
    reference = training_rows(prepared.folds, saved.train_cfg)
    predict, embed = model_functions(saved.model, saved.partner)
    return save_trust(fit_trust(predict, prepared, calibration, reference, embed=embed, config=config), model_folder)
