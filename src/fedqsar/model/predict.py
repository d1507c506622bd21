"""Predictions and trunk embeddings of a trained model.

Per-bit occlusion sensitivities are ``fedqsar.trust.attribution.occlusion_sensitivity`` (over
:func:`predict`), the one occlusion of fingerprint bits.

``source`` arguments are anything ``model.inputs.ModelInputs.of`` reads: a PreparedSet, a
``StructureBatch`` (predict path), ``ModelInputs`` or, for fingerprint-only trunks, a CSR matrix.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from fedqsar.model.inputs import ModelInputs
from fedqsar.model.network import MultitaskModel

PREDICT_BATCH_ROWS = 4096


def _batches(n_rows: int, size: int = PREDICT_BATCH_ROWS) -> list[np.ndarray]:
    return [np.arange(start, min(start + size, n_rows)) for start in range(0, n_rows, size)]


@torch.no_grad()
def raw_outputs(model: MultitaskModel, partner: str, X: Any) -> np.ndarray:
    """(n, n_tasks) raw head outputs (logits / standardised values) in eval mode."""
    inputs = ModelInputs.of(X)
    was_training = model.training
    model.eval()
    try:
        parts = [model(model.input_batch(inputs, rows, partner), partner).numpy() for rows in _batches(inputs.n_rows)]
    finally:
        model.train(was_training)
    return np.concatenate(parts) if parts else np.zeros((0, model.head_specs[partner].n_tasks), dtype=np.float32)


@torch.no_grad()
def predict(model: MultitaskModel, partner: str, X: Any) -> np.ndarray:
    """Predictions of ``partner``'s head for rows of ``X``.

    Parameters
    ----------
    X
        CSR (n, n_bits) for fingerprint-only trunks, or any source of ``ModelInputs``.

    Returns
    -------
    np.ndarray
        float32 (n, n_tasks): probability of class 1 for classification columns, value in
        the task's unit for regression columns; columns in the tasks table's order.
    """
    head = model.head(partner)
    return head.to_task_scale(torch.from_numpy(raw_outputs(model, partner, X))).numpy().astype(np.float32)


@torch.no_grad()
def trunk_embedding(model: MultitaskModel, X: Any, partner: str | None = None) -> np.ndarray:
    """Last hidden layer (after ReLU, no dropout) of every row: float32 (n, out_features).

    ``partner`` chooses whose private descriptor scaling applies (default: the only head).
    """
    inputs = ModelInputs.of(X)
    was_training = model.training
    model.eval()
    try:
        parts = [model.trunk(model.input_batch(inputs, rows, partner)).numpy() for rows in _batches(inputs.n_rows)]
    finally:
        model.train(was_training)
    return np.concatenate(parts) if parts else np.zeros((0, model.trunk.out_features), dtype=np.float32)
