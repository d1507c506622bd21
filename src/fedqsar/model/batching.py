"""Turn rows of CSR matrices into torch batches without densifying the fingerprints."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch


@dataclass(frozen=True)
class SparseBatch:
    """Fingerprint rows in embedding-bag form.

    Attributes
    ----------
    indices
        int64 (nnz,): bit (column) of every stored entry, row after row.
    offsets
        int64 (n_rows,): start of each row in ``indices``.
    values
        float32 (nnz,): transformed bit values (1.0 for binary input).
    """

    indices: torch.Tensor
    offsets: torch.Tensor
    values: torch.Tensor

    @property
    def n_rows(self) -> int:
        return int(self.offsets.shape[0])


@dataclass(frozen=True)
class TargetBatch:
    """Observed labels of a batch in dense (n_rows, n_tasks) form.

    Attributes
    ----------
    values
        float32 (n_rows, n_tasks): label or value where observed, 0 elsewhere.
    observed
        bool (n_rows, n_tasks): True where Y stores an entry (explicit zeros included).
    censor
        int8 (n_rows, n_tasks): -1 '<', 0 exact, +1 '>' (0 where not observed).
    """

    values: torch.Tensor
    observed: torch.Tensor
    censor: torch.Tensor


def gather_rows(matrix: sp.csr_matrix, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stored entries of ``rows`` of a CSR matrix, explicit zeros kept.

    Returns
    -------
    indptr
        int64 (len(rows) + 1,)
    indices
        int64 (nnz,)
    data
        (nnz,) in the matrix's dtype
    """
    rows = np.asarray(rows, dtype=np.int64)
    starts = matrix.indptr[rows].astype(np.int64)
    lengths = matrix.indptr[rows + 1].astype(np.int64) - starts
    indptr = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(lengths, out=indptr[1:])
    positions = np.repeat(starts - indptr[:-1], lengths) + np.arange(indptr[-1], dtype=np.int64)
    return indptr, matrix.indices[positions].astype(np.int64), matrix.data[positions]


def transform_values(values: np.ndarray, input_transform: str) -> np.ndarray:
    """Apply the model's input transform to stored fingerprint values, float32 (nnz,)."""
    return INPUT_TRANSFORM_FUNCTIONS[input_transform](np.asarray(values, dtype=np.float32))


INPUT_TRANSFORM_FUNCTIONS = {
    "binary": lambda v: np.ones_like(v, dtype=np.float32),
    "log1p": lambda v: np.log1p(v).astype(np.float32),
}


def sparse_batch(X: sp.csr_matrix, rows: np.ndarray, input_transform: str = "binary") -> SparseBatch:
    """Rows ``rows`` of fingerprint matrix ``X`` (n, n_bits) as a :class:`SparseBatch`."""
    indptr, indices, data = gather_rows(X, rows)
    return SparseBatch(
        indices=torch.from_numpy(indices),
        offsets=torch.from_numpy(indptr[:-1].copy()),
        values=torch.from_numpy(transform_values(data, input_transform)),
    )


def target_batch(Y: sp.csr_matrix, censor: sp.csr_matrix, rows: np.ndarray) -> TargetBatch:
    """Rows ``rows`` of Y and censor (same sparsity pattern) as a dense :class:`TargetBatch`."""
    indptr, columns, data = gather_rows(Y, rows)
    _, _, censor_data = gather_rows(censor, rows)
    n_rows, n_tasks = len(rows), Y.shape[1]
    row_of_entry = np.repeat(np.arange(n_rows), np.diff(indptr))
    values = np.zeros((n_rows, n_tasks), dtype=np.float32)
    observed = np.zeros((n_rows, n_tasks), dtype=bool)
    censor_dense = np.zeros((n_rows, n_tasks), dtype=np.int8)
    values[row_of_entry, columns] = data
    observed[row_of_entry, columns] = True
    censor_dense[row_of_entry, columns] = censor_data
    return TargetBatch(torch.from_numpy(values), torch.from_numpy(observed), torch.from_numpy(censor_dense))
