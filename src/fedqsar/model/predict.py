"""Predictions, trunk embeddings and per-bit sensitivities of a trained model."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp
import torch

from fedqsar.model.batching import SparseBatch, sparse_batch
from fedqsar.model.network import MultitaskModel

PREDICT_BATCH_ROWS = 4096


def _batches(n_rows: int, size: int = PREDICT_BATCH_ROWS) -> list[np.ndarray]:
    return [np.arange(start, min(start + size, n_rows)) for start in range(0, n_rows, size)]


@torch.no_grad()
def raw_outputs(model: MultitaskModel, partner: str, X: sp.csr_matrix) -> np.ndarray:
    """(n, n_tasks) raw head outputs (logits / standardised values) in eval mode."""
    was_training = model.training
    model.eval()
    try:
        parts = [
            model(sparse_batch(X, rows, model.model_cfg.input_transform), partner).numpy()
            for rows in _batches(X.shape[0])
        ]
    finally:
        model.train(was_training)
    return np.concatenate(parts) if parts else np.zeros((0, model.head_specs[partner].n_tasks), dtype=np.float32)


@torch.no_grad()
def predict(model: MultitaskModel, partner: str, X: sp.csr_matrix) -> np.ndarray:
    """Predictions of ``partner``'s head for fingerprint rows ``X``.

    Parameters
    ----------
    X
        CSR (n, n_bits).

    Returns
    -------
    np.ndarray
        float32 (n, n_tasks): probability of class 1 for classification columns, value in
        the task's unit for regression columns; columns in the tasks table's order.
    """
    head = model.head(partner)
    return head.to_task_scale(torch.from_numpy(raw_outputs(model, partner, X))).numpy().astype(np.float32)


@torch.no_grad()
def trunk_embedding(model: MultitaskModel, X: sp.csr_matrix) -> np.ndarray:
    """Last hidden layer (after ReLU, no dropout) of every row: float32 (n, hidden_sizes[-1])."""
    was_training = model.training
    model.eval()
    try:
        parts = [
            model.trunk(sparse_batch(X, rows, model.model_cfg.input_transform)).numpy() for rows in _batches(X.shape[0])
        ]
    finally:
        model.train(was_training)
    return np.concatenate(parts) if parts else np.zeros((0, model.trunk.out_features), dtype=np.float32)


def _one_row(model: MultitaskModel, x_row: sp.csr_matrix) -> SparseBatch:
    return sparse_batch(sp.csr_matrix(x_row), np.array([0]), model.model_cfg.input_transform)


def _occlusion(model: MultitaskModel, partner: str, x: SparseBatch, task: int) -> np.ndarray:
    """Output change when each present bit is removed: f(x) - f(x without bit)."""
    k = int(x.indices.shape[0])
    keep = ~torch.eye(k, dtype=torch.bool)
    indices = torch.cat([x.indices, x.indices.repeat(k, 1)[keep]])
    values = torch.cat([x.values, x.values.repeat(k, 1)[keep]])
    offsets = (
        torch.cat([torch.zeros(1, dtype=torch.int64), 1 * k + torch.arange(k, dtype=torch.int64) * (k - 1)])
        if k
        else torch.zeros(1, dtype=torch.int64)
    )
    with torch.no_grad():
        out = model.head(partner).to_task_scale(model(SparseBatch(indices, offsets, values), partner))[:, task]
    return (out[0] - out[1:]).numpy()


def _gradient_times_input(model: MultitaskModel, partner: str, x: SparseBatch, task: int) -> np.ndarray:
    """d output / d bit value, times the value (first-order estimate of removing the bit)."""
    values = x.values.clone().requires_grad_(True)
    out = model.head(partner).to_task_scale(model(SparseBatch(x.indices, x.offsets, values), partner))[0, task]
    (grad,) = torch.autograd.grad(out, values)
    return (grad * x.values).detach().numpy()


SENSITIVITY_METHODS: dict[str, Callable[[MultitaskModel, str, SparseBatch, int], np.ndarray]] = {
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
        CSR (1, n_bits) fingerprint row.
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
        x = _one_row(model, x_row)
        scores = SENSITIVITY_METHODS[method](model, partner, x, int(task))
    finally:
        model.train(was_training)
    return {int(bit): float(score) for bit, score in zip(x.indices.tolist(), scores, strict=True)}
