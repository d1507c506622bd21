"""FedProx on the partner: the local loss plus (mu / 2) * ||trunk - global trunk||^2.

The first trunk layer is trained on gathered rows (only the fingerprint bits in a batch),
so its proximal term covers exactly those rows; rows a batch does not touch keep their
global value and contribute nothing. Dense trunk layers add their full term. The head is
private and has no global anchor.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from fedqsar.model.config import TrainConfig
from fedqsar.model.network import MultitaskModel
from fedqsar.model.training import LocalTrainer
from fedqsar.prepared import PreparedSet


class ProximalTrainer(LocalTrainer):
    """``LocalTrainer`` whose batch loss adds FedProx's proximal term (Li et al. 2020)."""

    def __init__(self, model: MultitaskModel, partner: str, prepared: PreparedSet, train_cfg: TrainConfig, mu: float) -> None:
        super().__init__(model, partner, prepared, train_cfg)
        self.mu = float(mu)
        self.anchor: dict[str, torch.Tensor] | None = None

    def set_anchor(self, trunk: Mapping[str, np.ndarray]) -> None:
        """Remember the global trunk of this round (names as in ``trunk_state``)."""
        self.anchor = {name: torch.as_tensor(np.asarray(value, dtype=np.float32)) for name, value in trunk.items()}

    def _batch_loss(self, rows: np.ndarray, gathered: bool):  # type: ignore[override]
        loss, unique, table_rows = super()._batch_loss(rows, gathered)
        if self.anchor is None or self.mu == 0.0:
            return loss, unique, table_rows
        penalty = torch.zeros((), dtype=loss.dtype)
        for name, param in self.model.trunk.named_parameters():
            if name == "input.weight":
                if table_rows is not None and unique is not None:
                    penalty = penalty + ((table_rows - self.anchor[name].index_select(0, unique)) ** 2).sum()
                else:
                    penalty = penalty + ((param - self.anchor[name]) ** 2).sum()
            else:
                penalty = penalty + ((param - self.anchor[name]) ** 2).sum()
        return loss + 0.5 * self.mu * penalty, unique, table_rows
