"""Callables over a trained model, the only place where trust touches ``fedqsar.model``.

Everything else in ``fedqsar.trust`` works on plain callables (``predict(X) -> (n, n_tasks)``,
``embed(X) -> (n, d)``), so it can be tested with any model and reused for baselines.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from fedqsar.model.network import MultitaskModel
from fedqsar.model.predict import predict as model_predict
from fedqsar.model.predict import trunk_embedding
from fedqsar.trust.calibrate import EmbedFn, PredictFn


def model_functions(model: MultitaskModel, partner: str) -> tuple[PredictFn, EmbedFn]:
    """``predict`` (partner's head, task scale) and ``embed`` (trunk output) for ``model``."""

    def predict(X: sp.csr_matrix) -> np.ndarray:
        return model_predict(model, partner, sp.csr_matrix(X, dtype=np.float32))

    def embed(X: sp.csr_matrix) -> np.ndarray:
        return trunk_embedding(model, sp.csr_matrix(X, dtype=np.float32))

    return predict, embed
