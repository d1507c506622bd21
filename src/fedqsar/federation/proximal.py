"""FedProx on the partner: local training pulled towards the round's global trunk.

FedProx (Li et al. 2020) adds (mu / 2) * ||trunk - global trunk||^2 to the local loss. Its
gradient, mu * (trunk - global), is applied here decoupled from the loss: after every optimiser
step each trunk parameter moves by ``lr * mu`` of its distance back towards the global value
(exactly FedProx for SGD; for Adam the decoupled form, as AdamW treats weight decay). The
first layer is pulled only on the rows (fingerprint bits) of the batch: rows a partner never
touches keep their global value anyway. The head is private and has no anchor.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from fedqsar.model.config import TrainConfig
from fedqsar.model.network import MultitaskModel
from fedqsar.model.training import LocalTrainer
from fedqsar.prepared import PreparedSet

FIRST_LAYER = "input.weight"


class ProximalTrainer(LocalTrainer):
    """``LocalTrainer`` whose steps are followed by FedProx's proximal pull (see module docstring)."""

    def __init__(
        self, model: MultitaskModel, partner: str, prepared: PreparedSet, train_cfg: TrainConfig, mu: float
    ) -> None:
        super().__init__(model, partner, prepared, train_cfg)
        self.mu = float(mu)
        self.anchor: dict[str, torch.Tensor] | None = None

    def set_anchor(self, trunk: Mapping[str, np.ndarray]) -> None:
        """Remember the global trunk of this round (names as in ``trunk_state``)."""
        self.anchor = {name: torch.as_tensor(np.asarray(value, dtype=np.float32)) for name, value in trunk.items()}

    def _step(self, rows: np.ndarray) -> float:
        loss = super()._step(rows)
        if self.anchor is not None and self.mu > 0:
            self._pull(rows)
        return loss

    @torch.no_grad()
    def _pull(self, rows: np.ndarray) -> None:
        assert self.anchor is not None
        factor = min(1.0, float(self.dense.param_groups[0]["lr"]) * self.mu)
        bits = torch.as_tensor(np.unique(self.prepared.X[rows].indices), dtype=torch.int64)
        for name, param in self.model.trunk.named_parameters():
            target = self.anchor[name]
            if name == FIRST_LAYER:
                param[bits] -= factor * (param[bits] - target[bits])
            else:
                param -= factor * (param - target)
