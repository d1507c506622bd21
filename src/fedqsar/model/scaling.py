"""Private, partner-local scaling of the dense descriptor block.

Each partner fits its scaler on its own training rows: missing values are imputed with the
training median, values are clipped to the training 0.1 % .. 99.9 % quantiles (descriptors are
heavy-tailed: a few macrocycles should not set the scale), then standardised with the clipped
training mean and standard deviation. The statistics are buffers of the partner's model (saved
in its model folder), never part of ``trunk_state``: they describe the partner's chemistry and
do not leave it, like the head's regression scaling. The consequence, documented in
docs/privacy.md: the shared first-layer descriptor weights read each partner's own z-scores,
which agree only as far as the partners' chemical spaces overlap; a consortium that agrees to
pool the statistics (e.g. with secure aggregation) can replace them with shared ones.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

CLIP_QUANTILES = (0.001, 0.999)


class DescriptorScaler(nn.Module):
    """Imputation, clipping and standardisation of a (n, width) descriptor block."""

    median: torch.Tensor
    low: torch.Tensor
    high: torch.Tensor
    mean: torch.Tensor
    std: torch.Tensor
    fitted: torch.Tensor

    def __init__(self, width: int) -> None:
        super().__init__()
        self.width = int(width)
        for name, value in (("median", 0.0), ("low", -np.inf), ("high", np.inf), ("mean", 0.0), ("std", 1.0)):
            self.register_buffer(name, torch.full((self.width,), value, dtype=torch.float32))
        self.register_buffer("fitted", torch.tensor(False))

    def fit(self, raw: np.ndarray) -> None:
        """Fit on the training rows' raw block (n, width); NaN allowed."""
        values = np.asarray(raw, dtype=np.float64)
        with np.errstate(all="ignore"):
            median = np.nanmedian(values, axis=0) if len(values) else np.zeros(self.width)
        median = np.where(np.isfinite(median), median, 0.0)
        filled = np.where(np.isfinite(values), values, median)
        if len(filled):
            low, high = np.quantile(filled, CLIP_QUANTILES[0], axis=0), np.quantile(filled, CLIP_QUANTILES[1], axis=0)
            clipped = np.clip(filled, low, high)
            mean, std = clipped.mean(axis=0), clipped.std(axis=0)
        else:
            low, high, mean, std = (np.full(self.width, v) for v in (-np.inf, np.inf, 0.0, 1.0))
        std = np.where(std > 1e-8, std, 1.0)
        for name, value in (("median", median), ("low", low), ("high", high), ("mean", mean), ("std", std)):
            getattr(self, name).copy_(torch.as_tensor(value, dtype=torch.float32))
        self.fitted.fill_(True)

    def forward(self, raw: np.ndarray) -> torch.Tensor:
        """(n, width) float32 scaled block (finite everywhere)."""
        values = torch.as_tensor(np.asarray(raw, dtype=np.float32))
        values = torch.where(torch.isfinite(values), values, self.median)
        return (torch.clamp(values, self.low, self.high) - self.mean) / self.std
