"""The step from standardised structures to a model's input, chosen by the model's trunk.

A featuriser turns the standardisation step's result (``prep.structures.StructureBatch``) into
the model's input rows (``model.inputs.ModelInputs``: keyed fingerprint rows, the raw
descriptor block, the standardised structures) and, for explanations, maps fingerprint
features back to atoms. ``FEATURISERS`` maps the model's trunk kind (``ModelConfig.trunk``) to
a builder; a new input kind is one entry here, and predict, trust and explain use it without
change.

Every featuriser computes the keyed fingerprint (the applicability domain's Tanimoto
reference reads it whatever the trunk), and the descriptor block when the model reads one:
``prepare`` and inference compute both in the same standardisation pass
(``prep.structures.process_structures``), so they cannot disagree.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from fedqsar.errors import ModelFileError
from fedqsar.model.inputs import ModelInputs
from fedqsar.prep.config import PrepConfig
from fedqsar.prep.keys import ConsortiumKey
from fedqsar.prep.structures import StructureBatch, n_descriptors

AtomEnvironments = dict[int, list[tuple[int, int]]]  # input feature -> [(centre atom, radius)]


class Featuriser(Protocol):
    """Model input from standardised structures."""

    @property
    def n_features(self) -> int:
        """Width of the fingerprint block of the model's input."""
        ...

    @property
    def n_descriptors(self) -> int:
        """Width of the descriptor block the model reads (0: none)."""
        ...

    def features(self, batch: StructureBatch) -> ModelInputs:
        """The model's input, one row per input position (empty rows / NaN descriptors for rejected inputs)."""
        ...

    def atom_environments(self, std_smiles: str) -> AtomEnvironments:
        """Fingerprint feature -> the atom environments of the standardised molecule that set it ({} if none)."""
        ...


@dataclass(frozen=True)
class KeyedInputs:
    """Keyed, folded ECFP bits (+ the raw descriptor block, + standardised structures for graph trunks).

    All of it is computed by the standardisation pass itself (``process_structures``); this step
    selects what the model reads (``ModelInputs.of``) and checks the widths.

    Attributes
    ----------
    cfg, key
        The model's prep config and the consortium key.
    n_descriptors
        Descriptor columns the model reads (0: the block is dropped even if prepared).
    reads_structures
        The trunk builds molecular graphs from the standardised structures.
    """

    cfg: PrepConfig
    key: ConsortiumKey
    n_descriptors: int = 0
    reads_structures: bool = False

    @property
    def n_features(self) -> int:
        return int(self.cfg.fingerprint.n_bits)

    def features(self, batch: StructureBatch) -> ModelInputs:
        inputs = ModelInputs.of(batch)
        return ModelInputs(
            inputs.X,
            inputs.require_descriptors(self.n_descriptors) if self.n_descriptors else None,
            inputs.require_structures() if self.reads_structures else None,
        )

    def atom_environments(self, std_smiles: str) -> AtomEnvironments:
        from fedqsar.prep.fingerprints import bit_environments

        return bit_environments(std_smiles, self.cfg.fingerprint, self.key.permutation(self.cfg.fingerprint.n_bits))


FeaturiserBuilder = Callable[[PrepConfig, ConsortiumKey, int], Featuriser]

FEATURISERS: dict[str, FeaturiserBuilder] = {
    "ecfp": lambda cfg, key, width: KeyedInputs(cfg, key, width),  # keyed ECFP (+ descriptor block)
    "mpnn": lambda cfg, key, width: KeyedInputs(cfg, key, width, reads_structures=True),  # graphs (+ block)
}


def featuriser_for(
    cfg: PrepConfig, key: ConsortiumKey, trunk: str = "ecfp", n_model_descriptors: int = 0
) -> Featuriser:
    """The featuriser a model with trunk ``trunk`` reading ``n_model_descriptors`` descriptors, prepared with ``cfg``, reads.

    Raises
    ------
    ModelFileError
        When this version of fedqsar has no featuriser for the model's fingerprint kind or trunk,
        or the prep config does not produce the descriptor block the model reads.
    """
    if cfg.fingerprint.kind != "ecfp":
        raise ModelFileError(
            f"the model reads fingerprints of kind {cfg.fingerprint.kind!r}, which this fedqsar cannot compute",
            "use the fedqsar version that trained it (known kinds: ['ecfp'])",
        )
    if trunk not in FEATURISERS:
        raise ModelFileError(
            f"the model has a trunk of kind {trunk!r}, for which this fedqsar has no featuriser",
            f"use the fedqsar version that trained it (known trunks: {sorted(FEATURISERS)})",
        )
    prepared_width = n_descriptors(cfg)
    if n_model_descriptors and n_model_descriptors != prepared_width:
        raise ModelFileError(
            f"the model reads {n_model_descriptors} descriptors, its prep config computes {prepared_width}",
            "the model folder is inconsistent; re-train it",
        )
    return FEATURISERS[trunk](cfg, key, int(n_model_descriptors))
