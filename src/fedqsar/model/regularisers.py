"""Step hooks of the one trainer that pull the trunk towards an anchor.

``ProximalPull`` is FedProx (Li et al. 2020) on a partner: it adds (mu / 2) * ||trunk - anchor||^2
to the local objective, applied decoupled from the loss: after every optimiser step each trunk
parameter moves by ``lr * mu`` of its distance back towards the anchor (exactly FedProx for
SGD; for Adam the decoupled form, as AdamW treats weight decay). The first layer is pulled
only on the rows (fingerprint bits) of the batch: rows a partner never touches keep their
anchor value anyway. Heads are private and have no anchor; so are trunk tensors the anchor
lacks (a first layer kept private to its partner, ``federation.defences``): they are not pulled. The same hook keeps a fine-tuned
trunk near the federated one during personalisation (L2-SP).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
import torch

if TYPE_CHECKING:
    from fedqsar.model.training import Trainer


class ProximalPull:
    """Decoupled proximal pull of the trunk towards ``anchor`` (see module docstring).

    Parameters
    ----------
    mu
        Strength of the proximal term; 0 disables the pull.
    anchor
        Trunk arrays (names as in ``MultitaskModel.trunk_state``); set or replace with :meth:`set_anchor`.
    """

    def __init__(self, mu: float, anchor: Mapping[str, np.ndarray] | None = None) -> None:
        self.mu = float(mu)
        self.anchor: dict[str, torch.Tensor] | None = None
        if anchor is not None:
            self.set_anchor(anchor)

    def set_anchor(self, trunk: Mapping[str, np.ndarray]) -> None:
        """Remember the trunk to pull towards (e.g. the round's global trunk)."""
        self.anchor = {name: torch.as_tensor(np.asarray(value, dtype=np.float32)) for name, value in trunk.items()}

    @torch.no_grad()
    def after_step(self, trainer: Trainer, partner: str, rows: np.ndarray) -> None:
        if self.anchor is None or self.mu <= 0 or not trainer.trains_trunk:
            return
        factor = min(1.0, float(trainer.dense.param_groups[0]["lr"]) * self.mu)
        trunk = trainer.model.trunk
        table = trunk.sparse_table
        bits = torch.as_tensor(np.unique(trainer.parts[partner].prepared.X[rows].indices), dtype=torch.int64)
        for name, param in trunk.named_parameters():
            target = self.anchor.get(name)
            if target is None:
                continue
            if param is table:
                param[bits] -= factor * (param[bits] - target[bits])
            else:
                param.sub_(factor * (param - target))
