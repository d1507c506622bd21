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
        self._buffers: tuple[torch.Tensor, ...] | None = None

    def _workspace(self, n_rows: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Two reusable (n_rows, width) buffers; reuse avoids page-faulting fresh memory each step."""
        if self._buffers is None or self._buffers[0].shape[0] < n_rows:
            capacity = min(self.table.shape[0], max(n_rows, int(1.25 * n_rows)))
            self._buffers = tuple(torch.empty(capacity, self.table.shape[1], dtype=self.table.dtype) for _ in range(2))
        return self._buffers[0][:n_rows], self._buffers[1][:n_rows]

    @torch.no_grad()
    def gather(self, rows: torch.Tensor) -> torch.Tensor:
        """A fresh leaf copy of ``table[rows]`` (len(rows), width) that can take a gradient."""
        return self.table.detach().index_select(0, rows).requires_grad_(True)

    @torch.no_grad()
    def step(self, rows: torch.Tensor, grad: torch.Tensor) -> None:
        """Update ``table[rows]`` with gradient ``grad`` (len(rows), width).

        ``rows`` must be unique. ``grad`` is used as scratch space and overwritten.
        """
        b1, b2 = self.betas
        steps = self.row_steps.index_select(0, rows) + 1
        self.row_steps.index_copy_(0, rows, steps)
        exp_avg, exp_avg_sq = self._workspace(int(rows.shape[0]))
        torch.index_select(self.exp_avg, 0, rows, out=exp_avg)
        torch.index_select(self.exp_avg_sq, 0, rows, out=exp_avg_sq)
        exp_avg.lerp_(grad, 1.0 - b1)
        exp_avg_sq.mul_(b2).addcmul_(grad, grad, value=1.0 - b2)
        self.exp_avg.index_copy_(0, rows, exp_avg)
        self.exp_avg_sq.index_copy_(0, rows, exp_avg_sq)
        steps_f = steps.to(grad.dtype).unsqueeze(1)
        step_size = self.lr / (1.0 - torch.pow(b1, steps_f))
        bias2_sqrt = torch.sqrt(1.0 - torch.pow(b2, steps_f))
        denom = exp_avg_sq.sqrt_().div_(bias2_sqrt).add_(self.eps)  # moments already stored
        update = exp_avg.div_(denom).mul_(step_size)
        if self.weight_decay:
            weights = torch.index_select(self.table.detach(), 0, rows, out=grad)
            weights.mul_(1.0 - self.lr * self.weight_decay).sub_(update)
            self.table.data.index_copy_(0, rows, weights)
        else:
            self.table.data.index_add_(0, rows, update, alpha=-1.0)

    def step_from_output_grad(
        self, bits: torch.Tensor, entry_rows: torch.Tensor, values: torch.Tensor, grad_out: torch.Tensor
    ) -> None:
        """Adam step on the rows of ``bits`` given the gradient of the layer's output.

        Parameters
        ----------
        bits, entry_rows, values
            (nnz,) bit, batch row and value of each stored entry of the batch.
        grad_out
            (batch, width) gradient of the loss w.r.t. the layer's output (before bias/ReLU).

        Equal to ``step(*row_gradient(bits, entry_rows, values, grad_out))``; runs the fused
        numba kernel of ``fused`` (one pass over the touched rows) when the table is contiguous.
        """
        if self.table.is_contiguous() and self.table.dtype == torch.float32:
            from fedqsar.model.fused import fused_row_adam

            fused_row_adam(
                self.table.detach().numpy(),
                self.exp_avg.numpy(),
                self.exp_avg_sq.numpy(),
                self.row_steps.numpy(),
                bits.numpy(),
                entry_rows.numpy(),
                values.numpy(),
                grad_out.detach().numpy(),
                self.lr,
                self.betas,
                self.eps,
                self.weight_decay,
                torch.get_num_threads(),
            )
        else:
            self.step(*row_gradient(bits, entry_rows, values, grad_out))

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
                raise ValueError(
                    f"sparse Adam state {name!r} has shape {tuple(state[name].shape)}, expected {tuple(own.shape)}"
                )
            own.copy_(state[name])


def row_gradient(
    bits: torch.Tensor, entry_rows: torch.Tensor, values: torch.Tensor, grad_out: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Distinct bits (U,) and the gradient of their table rows (U, width).

    Row r's gradient is ``sum over entries with bit r of value * grad_out[entry_row]``.
    """
    rows, local = torch.unique(bits, return_inverse=True)
    grad = torch.zeros(rows.shape[0], grad_out.shape[1], dtype=grad_out.dtype)
    grad.index_add_(0, local, grad_out.index_select(0, entry_rows) * values.unsqueeze(1))
    return rows, grad
