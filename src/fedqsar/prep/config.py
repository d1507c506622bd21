"""Frozen configuration of partner-local preparation.

Everything here changes the PreparedSet's content, so all of it enters the prep hash
that partners compare before federating. Runtime knobs that do not change the output
(number of processes, progress bars) are *not* here; they are arguments of the pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fedqsar.config import config_hash

# TUNER's order of standardisation operations (MELLODDY-TUNER utils/standardizer.py:
# ChargeParent, isotope parent, stereo removal, tautomer canonicalisation, then its MolVS-like
# cleanup RemoveHs -> MetalDisconnector -> Normalizer -> Reionizer). Each step is described
# in prep/standardize.py.
TUNER_STEPS: tuple[str, ...] = (
    "charge_parent",
    "remove_isotopes",
    "remove_stereo",
    "canonical_tautomer",
    "remove_hs",
    "metal_disconnect",
    "normalize",
    "reionize",
)


@dataclass(frozen=True)
class StandardizeConfig:
    """RDKit standardisation applied to every structure, in ``steps`` order."""

    steps: tuple[str, ...] = TUNER_STEPS
    max_heavy_atoms: int = 100  # molecules with >= this many heavy atoms are rejected
    min_heavy_atoms: int = 1
    max_tautomers: int = 256  # TautomerEnumerator bound (TUNER: 256)
    max_transforms: int = 1000  # TautomerEnumerator bound (RDKit default)
    tautomer_remove_sp3_stereo: bool = False  # TUNER keeps sp3 stereo next to keto/enol sites


@dataclass(frozen=True)
class FingerprintConfig:
    """Morgan/ECFP fingerprint folded to ``n_bits`` then permuted with the consortium key."""

    kind: str = "ecfp"
    radius: int = 3  # ECFP6
    n_bits: int = 32768
    counts: bool = True  # True: bit values are occurrence counts, else 1.0 (the model's input_transform reads them)
    use_chirality: bool = False


# The documented default descriptor block (meanings in prep/descriptors.py).
PHYSCHEM_DESCRIPTORS: tuple[str, ...] = (
    "mol_logp",
    "mol_mr",
    "tpsa",
    "labute_asa",
    "mol_weight",
    "heavy_atoms",
    "hbd",
    "hba",
    "rotatable_bonds",
    "fraction_sp3",
    "aromatic_proportion",
    "rings",
    "aromatic_rings",
    "aliphatic_rings",
    "heteroatoms",
    "halogens",
    "amide_bonds",
    "formal_charge",
    "acidic_groups",
    "basic_groups",
    "charge_ph74",
    "log_fraction_neutral",
    "logd_estimate",
    "zwitterion",
)


@dataclass(frozen=True)
class DescriptorConfig:
    """Dense RDKit 2D descriptors of the standardised parent, stored beside the fingerprint.

    ``names`` come from ``prep.descriptors.DESCRIPTORS`` or are ``"rdkit:<Name>"`` for any
    RDKit ``Descriptors.descList`` entry; ``ph`` is the pH of the charge-state descriptors.
    """

    enabled: bool = True
    names: tuple[str, ...] = PHYSCHEM_DESCRIPTORS
    ph: float = 7.4


@dataclass(frozen=True)
class FoldConfig:
    """How compounds are assigned to folds."""

    scheme: str = "scaffold"  # "scaffold" (keyed generic-scaffold hash) | "time" | "auto" (time if dates)
    n_folds: int = 5


@dataclass(frozen=True)
class ValueConfig:
    """Unit harmonisation, qualifiers and replicate aggregation (see prep/values.py)."""

    potency_replicates: str = "median"  # rule for exact replicate values: median | mean | max | min
    adme_replicates: str = "median"
    max_replicate_spread: float = 2.0  # log units; wider disagreement -> "duplicate_conflict"
    max_replicate_spread_percent: float = 40.0  # the same for endpoints in % (e.g. % inhibition)
    min_fraction_unbound: float = 0.001  # LOQ of fractions unbound (PPB, fu_brain ...): fu at/below -> '<' it
    check_ranges: bool = True  # reject canonical values outside the endpoint's credible range
    loq: dict[str, float] = field(default_factory=dict)  # endpoint -> LOQ (canonical scale), overrides defaults


@dataclass(frozen=True)
class TaskConfig:
    """Classification thresholds, quorums and weights (see prep/tasks.py)."""

    make_classification: bool = True  # derive thresholded classification tasks
    make_regression: bool = True
    min_positives: int = 5  # quorum per class for a classification task to count
    min_negatives: int = 5
    min_regression_values: int = 25  # quorum for a regression task to count
    min_uncensored_values: int = 10
    auto_thresholds: bool = True  # no expert thresholds -> endpoint's fixed thresholds or rule
    auxiliary_thresholds: bool = False  # TUNER's +-0.5 "sandwich" tasks around potency thresholds
    fixed_adaptive_trials: tuple[float, ...] = (8.0, 7.0, 6.0, 5.0, 4.7, 4.4)
    fixed_adaptive_min_active_share: float = 0.2


@dataclass(frozen=True)
class PrepConfig:
    """Complete preparation settings; their hash must match across partners."""

    standardize: StandardizeConfig = field(default_factory=StandardizeConfig)
    fingerprint: FingerprintConfig = field(default_factory=FingerprintConfig)
    folds: FoldConfig = field(default_factory=FoldConfig)
    values: ValueConfig = field(default_factory=ValueConfig)
    tasks: TaskConfig = field(default_factory=TaskConfig)
    descriptors: DescriptorConfig = field(default_factory=DescriptorConfig)

    def hash(self) -> str:
        """Stable sha256 of these settings (identical on every machine)."""
        return config_hash(self)
