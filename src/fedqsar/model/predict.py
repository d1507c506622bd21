"""Predictions, trunk embeddings and per-bit sensitivities of a trained model.

``source`` arguments are anything ``model.inputs.ModelInputs.of`` reads: a PreparedSet, a
``StructureBatch`` (predict path), ``ModelInputs`` or, for fingerprint-only trunks, a CSR matrix.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from fedqsar.model.batching import SparseBatch
from fedqsar.model.inputs import ModelInputs
from fedqsar.model.network import FingerprintBatch, MultitaskModel

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


def _one_row(model: MultitaskModel, partner: str, x_row: Any) -> FingerprintBatch:
    inputs = ModelInputs.of(x_row)
    return model.input_batch(inputs.rows(np.array([0])), np.array([0]), partner)


def _with_bits(x: FingerprintBatch, bits: SparseBatch) -> FingerprintBatch:
    """The batch of ``bits`` rows, each with the (one) molecule's descriptors."""
    if x.descriptors is None:
        return FingerprintBatch(bits)
    return FingerprintBatch(bits, x.descriptors.expand(bits.n_rows, -1))


def _occlusion(model: MultitaskModel, partner: str, batch: FingerprintBatch, task: int) -> np.ndarray:
    """Output change when each present bit is removed: f(x) - f(x without bit)."""
    x = batch.bits
    k = int(x.indices.shape[0])
    keep = ~torch.eye(k, dtype=torch.bool)
    indices = torch.cat([x.indices, x.indices.repeat(k, 1)[keep]])
    values = torch.cat([x.values, x.values.repeat(k, 1)[keep]])
    offsets = (
        torch.cat([torch.zeros(1, dtype=torch.int64), 1 * k + torch.arange(k, dtype=torch.int64) * (k - 1)])
        if k
        else torch.zeros(1, dtype=torch.int64)
    )
    occluded = _with_bits(batch, SparseBatch(indices, offsets, values))
    with torch.no_grad():
        out = model.head(partner).to_task_scale(model(occluded, partner))[:, task]
    return (out[0] - out[1:]).numpy()


def _gradient_times_input(model: MultitaskModel, partner: str, batch: FingerprintBatch, task: int) -> np.ndarray:
    """d output / d bit value, times the value (first-order estimate of removing the bit)."""
    x = batch.bits
    values = x.values.clone().requires_grad_(True)
    out = model.head(partner).to_task_scale(
        model(_with_bits(batch, SparseBatch(x.indices, x.offsets, values)), partner)
    )
    (grad,) = torch.autograd.grad(out[0, task], values)
    return (grad * x.values).detach().numpy()


SENSITIVITY_METHODS: dict[str, Callable[[MultitaskModel, str, FingerprintBatch, int], np.ndarray]] = {
    "occlusion": _occlusion,
    "gradient": _gradient_times_input,
}


def bit_sensitivity(
    model: MultitaskModel, partner: str, x_row: sp.csr_matrix, task: int, method: str = "occlusion"
) -> dict[int, float]:
    """Contribution of every bit present in one molecule to one task's prediction.

    Parameters
    ----------
    x_row
        CSR (1, n_bits) fingerprint row, or one row of ``ModelInputs`` (with its descriptors).
    task
        Column index in the tasks table.
    method
        ``"occlusion"`` (exact: prediction minus prediction without the bit, in probability or
        task units) or ``"gradient"`` (gradient x input).

    Returns
    -------
    dict[int, float]
        bit -> contribution; positive means the bit raises the prediction.
    """
    was_training = model.training
    model.eval()
    try:
        x = _one_row(model, partner, x_row)
        scores = SENSITIVITY_METHODS[method](model, partner, x, int(task))
    finally:
        model.train(was_training)
    return {int(bit): float(score) for bit, score in zip(x.bits.indices.tolist(), scores, strict=True)}
