"""Frozen configurations of the network and of local training.

Defaults are chosen for partner-scale data (thousands to a few hundred thousand
compounds) on CPUs:

* ``hidden_sizes=(512, 256)``: SparseChem reports the same validation AUC at hidden 400 as at
  2,000 on a 23k-compound ChEMBL set (DESIGN.md), while a 32,768 x 2,000 first layer is
  262 MB and 0.8 GB with its Adam moments. The second layer is what a consortium federates
  by default: the first layer has one row per fingerprint bit, so federating it tells every
  key-holding partner which substructures the others' compounds contain, and each partner
  keeps its own (``federation.defences``, docs/privacy.md). 512 x 256 keeps a round's
  payload at 0.5 MB. Larger trunks are one setting away (``hidden_sizes=(2000, 500)``). The
  input and training defaults below were chosen with one layer of 512 (issue 14); the second
  layer is there for privacy and has not been compared on those validation sets.
* ``dropout=0.2``, ``lr=1e-3``: SparseChem's settings for ECFP input.
* ``input_transform="log1p"`` (with ``FingerprintConfig(counts=True)``), ``batch_size=128``,
  ``epochs=60``, ``early_stopping_patience=8``, the descriptor block on: chosen on research
  validation sets carved from Biogen's train files (never the paper's test files), where they
  gave mean Pearson r 0.703 against 0.498 for binary bits, batch 512, 25 epochs, patience 5
  and no descriptors (``bench/research/NOTES.md``). Counts: +0.02, batch 128 / 60 epochs: +0.02,
  descriptors: +0.14. Federation's local steps per epoch grow 4x with the smaller batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fedqsar.config import NONE_AS

INPUT_TRANSFORMS = ("binary", "log1p")
LR_SCHEDULES = ("constant", "step", "cosine")
TRUNK_MOMENTS_POLICIES = ("reset", "keep")
TRAINABLE_PARTS = ("all", "head")
TRUNK_KINDS = ("ecfp", "mpnn")  # keys of fedqsar.model.network.TRUNKS
AGGREGATIONS = ("mean", "sum", "norm")  # chemprop's aggregation modules
ENDPOINT_HEADS = ("private", "shared")


@dataclass(frozen=True)
class ModelConfig:
    """Shape of the multitask network.

    Attributes
    ----------
    hidden_sizes
        Width of each trunk layer; the first is the sparse input layer (n_bits x hidden_sizes[0]).
    dropout
        Dropout probability after every trunk ReLU.
    input_transform
        ``"binary"`` (every stored bit counts 1.0) or ``"log1p"`` (log(1 + count)).
    init_seed
        Seed of the weight initialisation, so every partner can build the same initial trunk.
    trunk
        ``"ecfp"`` (sparse keyed fingerprint first layer, the default) or ``"mpnn"`` (chemprop v2
        bond message passing over the partner-local standardised structures, then
        ``hidden_sizes`` dense layers). See ``network.TRUNKS``.
    descriptors
        Feed the PreparedSet's dense descriptor block (when it has one) into the trunk: into the
        first layer of the ECFP trunk (pre-activation = bits @ W + descriptors_scaled @ W_d + b),
        concatenated to the aggregated graph embedding of the MPNN trunk. Scaled privately.
    mpnn_hidden, mpnn_depth, mpnn_dropout, mpnn_aggregation
        chemprop ``BondMessagePassing`` width and depth, its dropout, and the aggregation over
        atoms (the defaults of chemprop's command line: 300, 3, 0.0, norm).
    endpoint_heads
        ``"private"``: one private output column per task. ``"shared"``: tasks of a shareable
        endpoint (``model.endpoints``) read one trunk column per endpoint (federated) through
        a private per-task scale and offset (see ``network``).
    shared_endpoints
        The endpoints that get a shared column (the consortium's agreed list; ``model.endpoints``);
        None: every shareable registry endpoint.
    """

    hidden_sizes: tuple[int, ...] = (512, 256)
    dropout: float = 0.2
    input_transform: str = "log1p"
    init_seed: int = 0
    trunk: str = "ecfp"
    descriptors: bool = True
    mpnn_hidden: int = 300
    mpnn_depth: int = 3
    mpnn_dropout: float = 0.0
    mpnn_aggregation: str = "norm"
    endpoint_heads: str = "private"
    shared_endpoints: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if not self.hidden_sizes or any(int(h) < 1 for h in self.hidden_sizes):
            raise ValueError(f"hidden_sizes must be a non-empty list of positive ints, got {self.hidden_sizes}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.endpoint_heads not in ENDPOINT_HEADS:
            raise ValueError(f"endpoint_heads must be one of {ENDPOINT_HEADS}, got {self.endpoint_heads!r}")
        if self.input_transform not in INPUT_TRANSFORMS:
            raise ValueError(f"input_transform must be one of {INPUT_TRANSFORMS}, got {self.input_transform!r}")
        if self.trunk not in TRUNK_KINDS:
            raise ValueError(f"trunk must be one of {TRUNK_KINDS}, got {self.trunk!r}")
        if self.mpnn_aggregation not in AGGREGATIONS:
            raise ValueError(f"mpnn_aggregation must be one of {AGGREGATIONS}, got {self.mpnn_aggregation!r}")
        if self.mpnn_hidden < 1 or self.mpnn_depth < 1 or not 0.0 <= self.mpnn_dropout < 1.0:
            raise ValueError("mpnn_hidden and mpnn_depth must be >= 1, mpnn_dropout in [0, 1)")


@dataclass(frozen=True)
class TrainConfig:
    """Local training settings.

    Attributes
    ----------
    epochs
        Maximum number of epochs of ``fit``.
    batch_size
        Rows per optimiser step.
    lr
        Base learning rate of Adam (sparse first layer and dense rest alike).
    lr_schedule
        ``"constant"``, ``"step"`` (multiply by ``lr_decay`` every ``lr_step_epochs``) or
        ``"cosine"`` (cosine from ``lr`` to 0 over ``epochs``).
    weight_decay
        Decoupled (AdamW) weight decay; in the first layer applied only to touched rows.
    early_stopping_patience
        Epochs without a lower validation loss before ``fit`` stops; 0 disables.
    seed
        Seed of shuffling and dropout; two runs with the same seed give identical models.
    validation_fold, test_fold
        Folds held out of training; ``fit`` selects epochs on ``validation_fold`` only.
        ``test_fold=None`` trains on every other fold (a model for use, not for evaluation);
        it is written as ``test_fold = -1`` in TOML/JSON, and any negative value reads as None.
    regression_weight
        Factor on the regression loss in hybrid (classification + regression) training.
    trunk_moments_on_replace
        What the trunk's Adam moments do when ``load_trunk_state`` replaces the trunk
        (federation): ``"reset"`` (default) or ``"keep"``. See ``training.Trainer``.
    membership_holdout
        Share of the training folds' rows that no model trains on (drawn with ``seed``,
        ``training.membership_holdout_rows``): non-members from the same scaffold
        distribution as the training rows, so that ``fedqsar audit privacy`` separates
        memorisation from split shift. 0 (default) trains on every training-fold row.
    """

    epochs: int = 60
    batch_size: int = 128
    lr: float = 1e-3
    lr_schedule: str = "constant"
    lr_decay: float = 0.3
    lr_step_epochs: int = 10
    weight_decay: float = 0.0
    early_stopping_patience: int = 8
    seed: int = 0
    validation_fold: int = 3
    test_fold: int | None = field(default=4, metadata={NONE_AS: -1})
    regression_weight: float = 1.0
    adam_betas: tuple[float, float] = (0.9, 0.999)
    adam_eps: float = 1e-8
    trunk_moments_on_replace: str = "reset"
    membership_holdout: float = 0.0

    def __post_init__(self) -> None:
        if self.test_fold is not None and self.test_fold < 0:
            object.__setattr__(self, "test_fold", None)
        if not 0.0 <= self.membership_holdout < 1.0:
            raise ValueError(f"membership_holdout must be in [0, 1), got {self.membership_holdout}")
        if self.epochs < 0 or self.batch_size < 1:
            raise ValueError(f"epochs must be >= 0 and batch_size >= 1, got {self.epochs}, {self.batch_size}")
        if self.lr <= 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {LR_SCHEDULES}, got {self.lr_schedule!r}")
        if self.trunk_moments_on_replace not in TRUNK_MOMENTS_POLICIES:
            raise ValueError(
                f"trunk_moments_on_replace must be one of {TRUNK_MOMENTS_POLICIES}, got {self.trunk_moments_on_replace!r}"
            )
        if self.test_fold is not None and self.test_fold == self.validation_fold:
            raise ValueError("validation_fold and test_fold must differ")

    @property
    def held_out_folds(self) -> tuple[int, ...]:
        """Folds never trained on."""
        return (self.validation_fold,) if self.test_fold is None else (self.validation_fold, self.test_fold)


CANDIDATES = ("local", "federated", "fine_tuned")  # models that compete per task after personalisation


@dataclass(frozen=True)
class PersonalisationConfig:
    """Settings of the partner-local personalisation after federation.

    Attributes
    ----------
    enabled
        Personalise at the end of a federated run (else the federated model is final).
    head_epochs
        Maximum epochs of stage 1 (head only, trunk frozen); 0 skips the stage.
    full_epochs
        Maximum epochs of stage 2 (trunk + head); 0 skips the stage.
    head_lr_factor, full_lr_factor
        Learning rate of each stage as a multiple of ``TrainConfig.lr``.
    proximal_mu
        Strength of the pull towards the federated trunk during stage 2 (0: none).
    patience
        Early-stopping patience of both stages (epochs without a lower validation loss).
    candidates
        Which models compete per task (a subset of ``CANDIDATES``, in tie-break order).
    min_confidence
        A candidate replaces the local model on a task only when it has the lower validation
        loss in at least this share of bootstrap resamples of the task's validation compounds
        (0: the plain lowest validation loss). Guards against the winner's curse: every
        candidate was already early-stopped or round-selected on the same validation fold.
        None (default): chosen per partner from ``model.personalise.CONFIDENCE_GRID`` by cross-fitting on two
        halves of its validation fold (``model.personalise.cross_fitted_confidence``).
    """

    enabled: bool = True
    head_epochs: int = 20
    full_epochs: int = 20
    head_lr_factor: float = 1.0
    full_lr_factor: float = 0.3
    proximal_mu: float = 0.0
    patience: int = 3
    candidates: tuple[str, ...] = CANDIDATES
    min_confidence: float | None = None

    def __post_init__(self) -> None:
        if self.head_epochs < 0 or self.full_epochs < 0 or self.patience < 0:
            raise ValueError("head_epochs, full_epochs and patience must be >= 0")
        if self.head_lr_factor <= 0 or self.full_lr_factor <= 0 or self.proximal_mu < 0:
            raise ValueError("learning-rate factors must be > 0 and proximal_mu >= 0")
        if self.min_confidence is not None and not 0.0 <= self.min_confidence <= 1.0:
            raise ValueError(f"min_confidence must be in [0, 1], got {self.min_confidence}")
        unknown = sorted(set(self.candidates) - set(CANDIDATES))
        if unknown or not self.candidates:
            raise ValueError(f"candidates must be a non-empty subset of {CANDIDATES}, got {self.candidates}")
