"""Learning-rate schedules: epoch index -> learning rate (a registry, one function per name)."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from fedqsar.model.config import TrainConfig


def _constant(cfg: TrainConfig, epoch: int) -> float:
    return cfg.lr


def _step(cfg: TrainConfig, epoch: int) -> float:
    return cfg.lr * cfg.lr_decay ** (epoch // max(cfg.lr_step_epochs, 1))


def _cosine(cfg: TrainConfig, epoch: int) -> float:
    horizon = max(cfg.epochs, 1)
    return cfg.lr * 0.5 * (1.0 + math.cos(math.pi * min(epoch, horizon) / horizon))


SCHEDULES: dict[str, Callable[[TrainConfig, int], float]] = {
    "constant": _constant,
    "step": _step,
    "cosine": _cosine,
}


def learning_rate(cfg: TrainConfig, epoch: int) -> float:
    """Learning rate of 0-based ``epoch`` (epochs keep counting across federated rounds)."""
    return SCHEDULES[cfg.lr_schedule](cfg, epoch)


def epoch_seed(seed: int, epoch: int) -> int:
    """The torch seed of dropout in ``epoch`` of a run seeded with ``seed`` (the one derivation)."""
    return int(seed) * 1_000_003 + int(epoch)


def step_seed(seed: int, epoch: int, start: int = 0) -> int:
    """The torch seed of dropout for a run of steps starting at batch ``start`` of ``epoch``.

    ``start == 0`` (a whole epoch) gives :func:`epoch_seed`; a chunk starting inside an epoch
    (``Trainer.train_steps``) gets a seed derived from all three numbers.
    """
    if int(start) == 0:
        return epoch_seed(seed, epoch)
    return int(np.random.SeedSequence([int(seed), int(epoch), int(start)]).generate_state(1, dtype=np.uint64)[0] >> 1)
