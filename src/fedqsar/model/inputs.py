"""What a trunk reads for a set of compounds: fingerprint rows, the raw descriptor block, structures.

``ModelInputs.of(source)`` accepts anything that carries rows of compounds: a PreparedSet
(``X``, ``descriptors``, ``structures``), a ``prep.structures.StructureBatch`` (``X``,
``descriptors``, ``std_smiles``; the predict path), another ``ModelInputs``, or a bare CSR
fingerprint matrix (fingerprint-only trunks). Every trunk builds its batches from this one
type, so the training, prediction and scoring paths cannot disagree about a model's input.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from fedqsar.errors import TrainingError


@dataclass(frozen=True)
class ModelInputs:
    """Rows of compounds as a trunk may read them.

    Attributes
    ----------
    X
        CSR float32 (n, n_bits) keyed fingerprint rows.
    descriptors
        float32 (n, n_descriptors) raw (unscaled) descriptor block, or None.
    structures
        object (n,) standardised SMILES (partner-local; for message passing), or None.
    """

    X: sp.csr_matrix
    descriptors: np.ndarray | None = None
    structures: np.ndarray | None = None

    @classmethod
    def of(cls, source: Any) -> ModelInputs:
        """The inputs carried by a PreparedSet, StructureBatch, ModelInputs or CSR matrix."""
        if isinstance(source, ModelInputs):
            return source
        if sp.issparse(source):
            return cls(sp.csr_matrix(source, dtype=np.float32))
        structures = getattr(source, "structures", None)
        if structures is None and getattr(source, "std_smiles", None) is not None:
            structures = np.array([s or "" for s in source.std_smiles], dtype=object)
        descriptors = getattr(source, "descriptors", None)
        if descriptors is not None and descriptors.shape[1] == 0:
            descriptors = None
        return cls(source.X, descriptors, structures)

    @property
    def n_rows(self) -> int:
        return int(self.X.shape[0])

    @property
    def shape(self) -> tuple[int, int]:
        """The fingerprint block's shape (n, n_bits), for callers that size outputs by rows."""
        return (int(self.X.shape[0]), int(self.X.shape[1]))

    def rows(self, rows: np.ndarray) -> ModelInputs:
        """The inputs of ``rows`` (int64 positions)."""
        rows = np.asarray(rows, dtype=np.int64)
        return ModelInputs(
            self.X[rows],
            None if self.descriptors is None else self.descriptors[rows],
            None if self.structures is None else self.structures[rows],
        )

    def require_descriptors(self, width: int) -> np.ndarray:
        """The descriptor block, checked to have ``width`` columns."""
        if self.descriptors is None or self.descriptors.shape[1] != width:
            have = 0 if self.descriptors is None else self.descriptors.shape[1]
            raise TrainingError(
                f"the model reads {width} descriptors, its input has {have}",
                "prepare the data with the model's prep config (descriptors enabled with the same names)",
            )
        return self.descriptors

    def require_structures(self) -> np.ndarray:
        """The standardised structures (message-passing trunks need them)."""
        if self.structures is None:
            raise TrainingError(
                "this model reads molecular graphs but its input carries no standardised structures",
                "re-run `fedqsar prepare` with this version (it keeps local_structures.parquet)",
            )
        return self.structures
