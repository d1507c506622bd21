"""Row-sparse (lazy) Adam for the (n_bits, hidden) first-layer table.

Semantics (exact)
-----------------
Each table row r keeps its own moments m_r, v_r and its own step count t_r, the number of
optimiser steps in which r was touched (its bit was present in the batch). A step with rows
U and their gradient G (|U|, hidden) does, for r in U only::

    t_r += 1
    m_r = b1 m_r + (1 - b1) g_r
    v_r = b2 v_r + (1 - b2) g_r^2
    w_r = w_r (1 - lr wd)                              # decoupled weight decay (AdamW)
    w_r = w_r - lr (m_r / (1 - b1^t_r)) / (sqrt(v_r / (1 - b2^t_r)) + eps)

Rows not in U are not read or written: their moments do not decay while absent (this is
``torch.optim.SparseAdam``'s lazy behaviour, but with per-row bias correction, so a rare
bit's first update has the same size as a frequent bit's first update). Consequences that
the tests check: the gradient equals the dense gradient; with SGD the update equals the
dense update; when every row is touched at every step this is exactly
``torch.optim.AdamW`` (``torch.optim.Adam`` when wd = 0).
"""

from __future__ import annotations

import torch


class RowSparseAdam:
    """Lazy Adam over rows of one 2-D parameter.

    Parameters
    ----------
    table
        The (n_rows, width) parameter; updated in place.
    lr, betas, eps, weight_decay
        As in ``torch.optim.AdamW``.
    """

    def __init__(
        self,
        table: torch.Tensor,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        self.table = table
        self.lr = float(lr)
        self.betas = (float(betas[0]), float(betas[1]))
        self.eps = float(eps)
        self.weight_decay = float(weight_decay)
        self.exp_avg = torch.zeros_like(table, requires_grad=False)
        self.exp_avg_sq = torch.zeros_like(table, requires_grad=False)
        self.row_steps = torch.zeros(table.shape[0], dtype=torch.int64)

    @torch.no_grad()
    def step(self, rows: torch.Tensor, grad: torch.Tensor) -> None:
        """Update ``table[rows]`` with gradient ``grad`` (len(rows), width); ``rows`` must be unique."""
        b1, b2 = self.betas
        steps = self.row_steps.index_select(0, rows) + 1
        self.row_steps.index_copy_(0, rows, steps)
        exp_avg = self.exp_avg.index_select(0, rows).mul_(b1).add_(grad, alpha=1.0 - b1)
        exp_avg_sq = self.exp_avg_sq.index_select(0, rows).mul_(b2).addcmul_(grad, grad, value=1.0 - b2)
        self.exp_avg.index_copy_(0, rows, exp_avg)
        self.exp_avg_sq.index_copy_(0, rows, exp_avg_sq)
        steps_f = steps.to(grad.dtype).unsqueeze(1)
        bias1 = 1.0 - torch.pow(b1, steps_f)
        bias2_sqrt = torch.sqrt(1.0 - torch.pow(b2, steps_f))
        denom = exp_avg_sq.sqrt_().div_(bias2_sqrt).add_(self.eps)
        update = exp_avg.div_(denom).mul_(self.lr / bias1)
        weights = self.table.data.index_select(0, rows)
        if self.weight_decay:
            weights.mul_(1.0 - self.lr * self.weight_decay)
        self.table.data.index_copy_(0, rows, weights.sub_(update))

    def reset(self) -> None:
        """Forget all moments and step counts (used when the trunk is replaced)."""
        self.exp_avg.zero_()
        self.exp_avg_sq.zero_()
        self.row_steps.zero_()

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"exp_avg": self.exp_avg, "exp_avg_sq": self.exp_avg_sq, "row_steps": self.row_steps}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        for name, own in self.state_dict().items():
            if tuple(state[name].shape) != tuple(own.shape):
                raise ValueError(f"sparse Adam state {name!r} has shape {tuple(state[name].shape)}, expected {tuple(own.shape)}")
            own.copy_(state[name])
