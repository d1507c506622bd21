"""Frozen configuration of a federated run (what the server decides for everyone).

Written next to every run's outputs (``federation.toml``) and hashed into the ledger.
Runtime knobs that do not change the result (progress bars, log files) are arguments of
``simulation.run_simulation``, not fields here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fedqsar.model.config import PersonalisationConfig

STRATEGY_NAMES = ("fedavg", "fedavgm", "fedprox", "fedadam", "fedyogi", "fedadagrad")
WIRE_DTYPES = ("float32", "float16")  # numpy dtype names; federation.payload.NUMPY_WIRE_DTYPES maps them
WEIGHTINGS = ("examples", "equal")


@dataclass(frozen=True)
class SecAggConfig:
    """Flower SecAgg+ (``SecAggPlusWorkflow`` + ``secaggplus_mod``).

    Attributes
    ----------
    enabled
        Mask every partner's update so the server only ever sees the sum. Needs >= 3
        partners; with fewer, ``run_simulation`` refuses unless ``enabled=False``.
    num_shares
        Neighbours each partner shares its key with (an int, or a fraction of the partners).
    reconstruction_threshold
        Shares needed to unmask (an int, or a fraction of ``num_shares``); it is also how
        many partners must survive a round.
    clipping_range
        Values are clipped to [-clipping_range, clipping_range] before quantisation.
    quantization_range
        Levels of the quantiser (2**22 gives ~4e-6 resolution at clipping range 8).
    timeout
        Seconds each SecAgg+ stage waits for replies (None: wait for all).
    """

    enabled: bool = True
    num_shares: float = 1.0
    reconstruction_threshold: float = 0.66
    clipping_range: float = 8.0
    quantization_range: int = 4194304
    timeout: float | None = None


@dataclass(frozen=True)
class DPConfig:
    """Central differential privacy: Flower's client-side fixed clipping + server noise.

    Each partner clips its update (new trunk - received trunk) to L2 norm ``clipping_norm``
    with Flower's ``compute_clip_model_update``; the server adds Gaussian noise of std
    ``noise_multiplier * clipping_norm / n_partners`` to the average (Flower's
    ``add_gaussian_noise_to_params``). Epsilon at ``delta`` comes from Flower's
    ``RdpAccountant`` (user-level, every partner sampled every round).
    """

    enabled: bool = False
    clipping_norm: float = 1.0
    noise_multiplier: float = 1.0
    delta: float = 1e-5


#: ``BitPrivacyConfig.defence`` values; the implementations are in ``federation.defences``.
DEFENCE_NAMES = ("private_input", "row_noise", "none")


@dataclass(frozen=True)
class BitPrivacyConfig:
    """Which defence keeps the fingerprint bits of the partners' compounds out of the global trunk.

    See ``federation.defences`` and docs/privacy.md.

    Attributes
    ----------
    defence
        ``"private_input"`` (default: each partner keeps its own first layer, only the layers
        above it are federated), ``"row_noise"`` (noise on the first-layer rows a partner did
        not touch) or ``"none"`` (the whole trunk is federated; the bit leak stays open).
    noise_scale
        ``"row_noise"`` only: std of the noise on untouched rows as a multiple of the
        root-mean-square change of the partner's touched rows.
    """

    defence: str = "private_input"
    noise_scale: float = 1.0

    def __post_init__(self) -> None:
        if self.defence not in DEFENCE_NAMES:
            raise ValueError(f"bit_privacy.defence must be one of {DEFENCE_NAMES}, got {self.defence!r}")
        if not self.noise_scale > 0:
            raise ValueError(f"bit_privacy.noise_scale must be > 0, got {self.noise_scale}")


@dataclass(frozen=True)
class FederationConfig:
    """Complete settings of a federated run.

    The defaults (FedAvgM with server learning rate 3, no momentum, 1 local epoch per round,
    20 head-alignment steps, private heads) were chosen on the validation fold of the full-size
    ADMET consortium (BENCHMARKS.md, "Federated convergence"): within the default 10 rounds
    they keep every partner at or below its local validation loss and recover about a third of
    the pooled gain, where weighted FedAvg leaves three of the four partners above local. A server learning
    rate above 1 needs the head alignment (without it the averaged trunk overshoots the
    private heads) and is unstable with shared endpoint heads (``ModelConfig.endpoint_heads =
    "shared"``): use ``server_lr = 1`` there (the server warns otherwise).

    Attributes
    ----------
    rounds
        Most federated rounds (the cap).
    patience
        Stop once no partner's validation loss has improved for this many rounds (each
        partner says so with one bit, masked under SecAgg+: ``payload.SIGNAL_IMPROVING``);
        0 always runs ``rounds``. Needs ``TrainConfig.early_stopping_patience > 0`` (partner-
        local best-round selection), else partners never say they stopped improving.
    local_epochs
        Epochs each partner trains per round (used when ``local_steps`` is None).
    local_steps
        Optimiser steps each partner trains per round, the same for every partner whatever
        its size (``Trainer.train_steps``: an epoch continues across rounds); None trains
        ``local_epochs`` whole epochs instead.
    head_steps
        Head-only optimiser steps a partner runs on each newly received global trunk before
        validating it and training on (its private head is aligned to the averaged trunk;
        see ``partner.PartnerRuntime.align_head``); 0 turns it off.
    strategy
        One of ``STRATEGY_NAMES``, each Flower's own strategy (``strategy.STRATEGIES``):
        weighted FedAvg; FedAvgM (server SGD with learning rate ``server_lr`` and momentum
        ``server_momentum`` on the averaged update); FedProx (proximal term ``proximal_mu``
        added to the local loss); FedAdam, FedYogi, FedAdagrad (server adaptive optimisers
        with learning rate ``server_lr``, moments ``server_betas`` and adaptivity
        ``server_tau``).
    server_lr
        Server learning rate (FedAvgM, FedAdam, FedYogi, FedAdagrad); None takes the
        strategy's default in ``strategy.STRATEGIES``.
    server_momentum
        FedAvgM's server momentum (0: none).
    server_betas
        (beta_1, beta_2) of FedAdam / FedYogi (FedAdagrad uses beta_1).
    server_tau
        Adaptivity of FedAdam / FedYogi / FedAdagrad (added to the root of the second moment).
    weighting
        How partners' updates are averaged: ``"examples"`` (weighted by training example
        counts, which partners then send) or ``"equal"`` (every partner weighs 1 and sends 1
        as its count, so its data set size does not leave it). With whole local epochs an
        update already grows with the partner's data, so ``"equal"`` with ``server_lr`` = the
        number of partners adds one epoch of every partner per round, as a pooled epoch does.
    min_partners
        Fewest partners whose updates make a round; below it the round keeps the old trunk.
    max_update_norm
        An update whose L2 distance from the trunk it started from exceeds this is rejected
        as absurd (only checkable without SecAgg+; with SecAgg+ the aggregate is checked).
    round_timeout
        Seconds the server waits for replies in a round without SecAgg+ (None: for all).
    checkpoint_every
        Save the global trunk every this many rounds (and always after the last round).
    wire_dtype
        ``"float32"`` or ``"float16"``: precision of the trunk arrays a partner sends without
        SecAgg+ (float16 halves the bytes; SecAgg+ quantises on its own and needs float32).
    secagg, dp
        See ``SecAggConfig`` and ``DPConfig``.
    bit_privacy
        How the global trunk is kept from revealing which fingerprint bits the partners'
        compounds set (``defences.BitPrivacyConfig``; default: each partner's first layer
        stays private, docs/privacy.md).
    personalisation
        What every partner does locally when the final trunk arrives (``model.personalise``):
        fine-tune, then keep per task the best of local / federated / fine-tuned on its own
        validation fold. Nothing of it is sent.
    """

    rounds: int = 10
    patience: int = 5
    local_epochs: int = 1
    local_steps: int | None = None
    head_steps: int = 20
    strategy: str = "fedavgm"
    proximal_mu: float = 0.01
    server_lr: float | None = None
    server_momentum: float = 0.0
    server_betas: tuple[float, float] = (0.9, 0.99)
    server_tau: float = 1e-9
    weighting: str = "examples"
    min_partners: int = 2
    max_update_norm: float = 1.0e4
    round_timeout: float | None = None
    checkpoint_every: int = 1
    wire_dtype: str = "float32"
    secagg: SecAggConfig = field(default_factory=SecAggConfig)
    dp: DPConfig = field(default_factory=DPConfig)
    bit_privacy: BitPrivacyConfig = field(default_factory=BitPrivacyConfig)
    personalisation: PersonalisationConfig = field(default_factory=PersonalisationConfig)

    def __post_init__(self) -> None:
        if self.rounds < 1 or self.local_epochs < 1:
            raise ValueError(f"rounds and local_epochs must be >= 1, got {self.rounds}, {self.local_epochs}")
        if self.local_steps is not None and self.local_steps < 1:
            raise ValueError(f"local_steps must be >= 1 (or None for whole epochs), got {self.local_steps}")
        if self.head_steps < 0:
            raise ValueError(f"head_steps must be >= 0, got {self.head_steps}")
        if self.server_lr is not None and self.server_lr <= 0:
            raise ValueError(f"server_lr must be > 0, got {self.server_lr}")
        if not 0.0 <= self.server_momentum < 1.0 or not all(0.0 <= b < 1.0 for b in self.server_betas):
            raise ValueError(
                f"server_momentum and server_betas must be in [0, 1), got {self.server_momentum}, {self.server_betas}"
            )
        if self.server_tau <= 0:
            raise ValueError(f"server_tau must be > 0, got {self.server_tau}")
        if self.weighting not in WEIGHTINGS:
            raise ValueError(f"weighting must be one of {WEIGHTINGS}, got {self.weighting!r}")
        if self.strategy not in STRATEGY_NAMES:
            raise ValueError(f"strategy must be one of {STRATEGY_NAMES}, got {self.strategy!r}")
        if self.patience < 0:
            raise ValueError(f"patience must be >= 0, got {self.patience}")
        if self.min_partners < 1:
            raise ValueError(f"min_partners must be >= 1, got {self.min_partners}")
        if self.checkpoint_every < 1:
            raise ValueError(f"checkpoint_every must be >= 1, got {self.checkpoint_every}")
        if self.wire_dtype not in WIRE_DTYPES:
            raise ValueError(f"wire_dtype must be one of {WIRE_DTYPES}, got {self.wire_dtype!r}")
        if self.wire_dtype != "float32" and self.secagg.enabled:
            raise ValueError("wire_dtype float16 needs secagg.enabled = false (SecAgg+ quantises updates itself)")
        if self.max_update_norm <= 0:
            raise ValueError(f"max_update_norm must be > 0, got {self.max_update_norm}")
        if self.dp.enabled and (
            self.dp.clipping_norm <= 0 or self.dp.noise_multiplier < 0 or not 0 < self.dp.delta < 1
        ):
            raise ValueError("dp needs clipping_norm > 0, noise_multiplier >= 0 and 0 < delta < 1")
