"""Fused first-layer backward + row-sparse Adam step (numba), one pass over touched rows.

For a batch whose first layer computed ``pre[b] = sum_k value_bk * W[bit_bk] + bias``, the
gradient of table row r is ``g_r = sum over entries (b, k) with bit_bk = r of value_bk * dpre[b]``.
``fused_row_adam`` computes each g_r in a small per-row buffer and applies the Adam update of
``sparse_adam`` (same formula, per-row bias correction) to W, m and v in place: it reads and
writes every touched row once, instead of materialising the (U, H) gradient and running a
dozen separate torch kernels over gathered copies. The result equals
``RowSparseAdam.step(rows, row_gradient(...))`` up to float rounding (tested).
"""

from __future__ import annotations

import math
import threading

import numba
import numpy as np

# numba's default "workqueue" threading layer must not be entered from two threads at once
# (e.g. two partners trained in threads of one process): calls are serialised.
_KERNEL_LOCK = threading.Lock()


@numba.njit(parallel=True, cache=True)
def _fused_row_adam(
    weight: np.ndarray,
    exp_avg: np.ndarray,
    exp_avg_sq: np.ndarray,
    row_steps: np.ndarray,
    rows: np.ndarray,
    ptr: np.ndarray,
    entry_rows: np.ndarray,
    entry_values: np.ndarray,
    grad_out: np.ndarray,
    lr: float,
    beta1: float,
    beta2: float,
    eps: float,
    weight_decay: float,
) -> None:  # pragma: no cover - compiled
    width = weight.shape[1]
    decay = 1.0 - lr * weight_decay
    for i in numba.prange(rows.shape[0]):
        r = rows[i]
        grad = np.zeros(width, dtype=np.float32)
        for p in range(ptr[i], ptr[i + 1]):
            b = entry_rows[p]
            value = entry_values[p]
            for j in range(width):
                grad[j] += value * grad_out[b, j]
        t = row_steps[r] + 1
        row_steps[r] = t
        step_size = lr / (1.0 - beta1**t)
        bias2_sqrt = math.sqrt(1.0 - beta2**t)
        for j in range(width):
            g = grad[j]
            m = exp_avg[r, j] + (1.0 - beta1) * (g - exp_avg[r, j])
            v = beta2 * exp_avg_sq[r, j] + (1.0 - beta2) * g * g
            exp_avg[r, j] = m
            exp_avg_sq[r, j] = v
            weight[r, j] = weight[r, j] * decay - step_size * m / (math.sqrt(v) / bias2_sqrt + eps)


def group_entries(bits: np.ndarray, entry_rows: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, ...]:
    """Group a batch's stored entries by bit.

    Parameters
    ----------
    bits, entry_rows, values
        (nnz,) bit, batch row and value of every stored entry.

    Returns
    -------
    rows
        int64 (U,) distinct bits, ascending.
    ptr
        int64 (U + 1,): entries of rows[i] are ``ptr[i]:ptr[i + 1]`` of the next two arrays.
    grouped_rows, grouped_values
        (nnz,) entry_rows and values reordered by bit.
    """
    order = np.argsort(bits, kind="stable")
    sorted_bits = bits[order]
    starts = np.flatnonzero(np.r_[True, sorted_bits[1:] != sorted_bits[:-1]]) if len(bits) else np.zeros(0, np.int64)
    ptr = np.r_[starts, len(bits)].astype(np.int64)
    return (
        sorted_bits[starts].astype(np.int64),
        ptr,
        entry_rows[order].astype(np.int64),
        values[order].astype(np.float32),
    )


def fused_row_adam(
    weight: np.ndarray,
    exp_avg: np.ndarray,
    exp_avg_sq: np.ndarray,
    row_steps: np.ndarray,
    bits: np.ndarray,
    entry_rows: np.ndarray,
    values: np.ndarray,
    grad_out: np.ndarray,
    lr: float,
    betas: tuple[float, float],
    eps: float,
    weight_decay: float,
    threads: int,
) -> np.ndarray:
    """Apply one Adam step to the table rows of the bits in a batch, in place; returns those rows.

    ``weight``, ``exp_avg``, ``exp_avg_sq``: float32 (n_bits, H) C-contiguous, ``row_steps`` int64
    (n_bits,), all updated in place. ``grad_out``: float32 (batch, H) gradient of the layer output.
    """
    rows, ptr, grouped_rows, grouped_values = group_entries(bits, entry_rows, values)
    with _KERNEL_LOCK:
        numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
        _fused_row_adam(
            weight,
            exp_avg,
            exp_avg_sq,
            row_steps,
            rows,
            ptr,
            grouped_rows,
            grouped_values,
            np.ascontiguousarray(grad_out, dtype=np.float32),
            float(lr),
            float(betas[0]),
            float(betas[1]),
            float(eps),
            float(weight_decay),
        )
    return rows
