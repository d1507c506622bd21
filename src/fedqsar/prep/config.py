"""Frozen configuration of partner-local preparation.

Everything here changes the PreparedSet's content, so all of it enters the prep hash
that partners compare before federating — except the fold scheme, each partner's own choice. Runtime knobs that do not change the output
(number of processes, progress bars) are *not* here; they are arguments of the pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

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


FOLD_SCHEMES = ("scaffold", "time", "auto", "column", "split_file")
SHARED_FOLD_FIELDS = ("n_folds",)
"""The fold settings every partner must share; the others (the scheme and its settings) are each partner's own."""
TIME_VALUES = ("auto", "date", "ordinal")


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
    """How compounds are assigned to folds (see ``prep.folds`` and ``prep.splits``).

    Only ``n_folds`` must match across partners (fold numbers mean the same thing to the
    training settings); the scheme and its settings are each partner's own choice and are
    left out of the prep hash (``PrepConfig.hash``), but recorded in the manifest.

    Attributes
    ----------
    scheme
        ``"scaffold"`` (keyed generic-scaffold hash), ``"time"`` (from the ``date`` column:
        dates or integer ordinals), ``"auto"`` (time when every row has a usable time value,
        else scaffold), ``"column"`` (the input column ``fold_column``: fold numbers or
        train/valid/test) or ``"split_file"`` (compound ids per split in ``split_file``).
    time_values
        How the ``date`` column is read for time folds: ``"date"`` (ISO dates, dates, bare
        years 1900-2100), ``"ordinal"`` (integers in time order, e.g. compound numbers) or
        ``"auto"``/None (ordinal when every value is an integer, else date). A value that is
        neither is rejected (``not_a_date`` / ``not_an_ordinal``), never read as a year or missing.
    test_share, valid_share
        Time folds: the newest ``test_share`` of compounds is the test fold (``n_folds - 1``),
        the next ``valid_share`` (default: ``test_share``) the validation fold (``n_folds - 2``),
        the rest the training folds. None: quantile folds (each ``1 / n_folds``).
    """

    scheme: str = "scaffold"
    n_folds: int = 5
    time_values: str | None = None
    test_share: float | None = None
    valid_share: float | None = None
    fold_column: str | None = None
    split_file: str | None = None

    def __post_init__(self) -> None:
        if self.scheme not in FOLD_SCHEMES:
            raise ValueError(f"folds.scheme must be one of {FOLD_SCHEMES}, got {self.scheme!r}")
        if self.n_folds < 2:
            raise ValueError(f"folds.n_folds must be >= 2, got {self.n_folds}")
        if self.time_values is not None and self.time_values not in TIME_VALUES:
            raise ValueError(f"folds.time_values must be one of {TIME_VALUES}, got {self.time_values!r}")
        if self.scheme == "column" and not self.fold_column:
            raise ValueError("folds.scheme = 'column' needs folds.fold_column (the input column holding the split)")
        if self.scheme == "split_file" and not self.split_file:
            raise ValueError("folds.scheme = 'split_file' needs folds.split_file")
        shares = [s for s in (self.test_share, self.valid_share) if s is not None]
        if any(not 0 < s < 1 for s in shares):
            raise ValueError(f"folds.test_share / valid_share must lie in (0, 1), got {shares}")
        if self.valid_share is not None and self.test_share is None:
            raise ValueError("folds.valid_share needs folds.test_share")
        if self.test_share is not None:
            if self.n_folds < 3:
                raise ValueError("test_share needs n_folds >= 3 (train, validation and test folds)")
            if self.test_share + (self.valid_share or self.test_share) >= 0.9:
                raise ValueError("test_share + valid_share must leave at least 10% of compounds for training")

    def shared(self) -> FoldConfig:
        """The part every partner must agree on (``n_folds``); the scheme and its settings at their defaults."""
        return FoldConfig(**{name: getattr(self, name) for name in SHARED_FOLD_FIELDS})


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
        """Stable sha256 of the settings partners must share (identical on every machine).

        The fold scheme is a per-partner choice (``FoldConfig``): it enters as its defaults, so
        partners with scaffold, time or user-given folds share one hash, and a hash is the one
        a scaffold-fold PreparedSet of the same settings always had.
        """
        return config_hash(replace(self, folds=self.folds.shared()))
