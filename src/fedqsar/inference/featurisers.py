"""The step from standardised structures to a model's input, chosen by the model's prep config.

A featuriser turns the standardisation step's result (``prep.structures.StructureBatch``) into
the model's input rows and, for explanations, maps input features back to atoms. ``FEATURISERS``
maps the prep config's ``fingerprint.kind`` to a builder; a new kind (another fingerprint, a
descriptor block appended to it) is one entry here, and predict, trust and explain use it
without change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import scipy.sparse as sp

from fedqsar.errors import ModelFileError
from fedqsar.prep.config import FingerprintConfig, PrepConfig
from fedqsar.prep.keys import ConsortiumKey
from fedqsar.prep.structures import StructureBatch

AtomEnvironments = dict[int, list[tuple[int, int]]]  # input feature -> [(centre atom, radius)]


class Featuriser(Protocol):
    """Model input from standardised structures."""

    @property
    def n_features(self) -> int:
        """Width of the model's input."""
        ...

    def features(self, batch: StructureBatch) -> sp.csr_matrix:
        """CSR float32 (n, n_features): one row per input position; empty rows for rejected inputs."""
        ...

    def atom_environments(self, std_smiles: str) -> AtomEnvironments:
        """Input feature -> the atom environments of the standardised molecule that set it ({} if none)."""
        ...


@dataclass(frozen=True)
class KeyedECFP:
    """Keyed, folded ECFP bits: computed by the standardisation pass itself (``process_structures``)."""

    cfg: FingerprintConfig
    key: ConsortiumKey

    @property
    def n_features(self) -> int:
        return int(self.cfg.n_bits)

    def features(self, batch: StructureBatch) -> sp.csr_matrix:
        return sp.csr_matrix(batch.X, dtype="float32")

    def atom_environments(self, std_smiles: str) -> AtomEnvironments:
        from fedqsar.prep.fingerprints import bit_environments

        return bit_environments(std_smiles, self.cfg, self.key.permutation(self.cfg.n_bits))


FEATURISERS: dict[str, Callable[[PrepConfig, ConsortiumKey], Featuriser]] = {
    "ecfp": lambda cfg, key: KeyedECFP(cfg.fingerprint, key),
}


def featuriser_for(cfg: PrepConfig, key: ConsortiumKey) -> Featuriser:
    """The featuriser a model prepared with ``cfg`` reads.

    Raises
    ------
    ModelFileError
        When this version of fedqsar has no featuriser for the model's fingerprint kind.
    """
    kind = cfg.fingerprint.kind
    if kind not in FEATURISERS:
        raise ModelFileError(
            f"the model reads features of kind {kind!r}, which this fedqsar cannot compute",
            f"use the fedqsar version that trained it (known kinds: {sorted(FEATURISERS)})",
        )
    return FEATURISERS[kind](cfg, key)
