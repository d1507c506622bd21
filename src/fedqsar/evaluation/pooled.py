"""Pooled training — the upper bound: all partners' data in one place, one model.

One ``MultitaskModel`` with every partner's head; one optimiser pair (row-sparse Adam on
the first trunk layer, AdamW on everything else) sees batches drawn from all partners.
An epoch is one pass over every partner's training rows; batches hold rows of a single
partner (the heads differ) and their order is shuffled across partners with the seed.
Early stopping watches the summed validation loss of all partners (validation folds only),
with the same ``TrainConfig`` (epochs, patience, lr, batch size) as local and federated
training, so the tuning budget is the same. Simulation only: nobody can pool real data.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np
import torch

from fedqsar.errors import TrainingError
from fedqsar.model.batching import sparse_batch, target_batch
from fedqsar.model.config import ModelConfig, TrainConfig
from fedqsar.model.losses import multitask_loss
from fedqsar.model.network import HeadSpec, MultitaskModel
from fedqsar.model.schedules import learning_rate
from fedqsar.model.sparse_adam import RowSparseAdam
from fedqsar.model.training import LocalTrainer
from fedqsar.prepared import PreparedSet


@dataclass
class PooledResult:
    """The pooled model (best validation epoch restored) and its validation-loss history."""

    model: MultitaskModel
    best_epoch: int = -1
    history: list[tuple[int, float, float]] = field(default_factory=list)  # (epoch, train loss, validation loss)


class PooledTrainer:
    """Trains one model with a head per partner on all partners' training rows."""

    def __init__(self, prepared: dict[str, PreparedSet], model_cfg: ModelConfig, train_cfg: TrainConfig) -> None:
        n_bits = {p.n_bits for p in prepared.values()}
        if len(n_bits) != 1:
            raise TrainingError(
                f"partners have different fingerprint widths {sorted(n_bits)}",
                "prepare every partner with the same PrepConfig",
            )
        heads = {name: HeadSpec.from_tasks(p.tasks) for name, p in prepared.items()}
        self.model = MultitaskModel(n_bits.pop(), model_cfg, heads)
        self.cfg = train_cfg
        # per-partner trainers fit each head's regression scaling and measure validation loss
        self.partners = {name: LocalTrainer(self.model, name, p, train_cfg) for name, p in prepared.items()}
        first = self.model.trunk.input.weight
        self.sparse = RowSparseAdam(
            first, train_cfg.lr, train_cfg.adam_betas, train_cfg.adam_eps, train_cfg.weight_decay
        )
        dense = [p for p in self.model.parameters() if p is not first]
        self.dense = torch.optim.AdamW(
            dense,
            lr=train_cfg.lr,
            betas=train_cfg.adam_betas,
            eps=train_cfg.adam_eps,
            weight_decay=train_cfg.weight_decay,
        )
        self.epoch = 0

    def _schedule(self) -> list[tuple[str, np.ndarray]]:
        rng = np.random.default_rng([self.cfg.seed, self.epoch])
        batches = []
        for name in sorted(self.partners):
            order = rng.permutation(self.partners[name].train_rows)
            batches += [(name, order[s : s + self.cfg.batch_size]) for s in range(0, len(order), self.cfg.batch_size)]
        return [batches[i] for i in rng.permutation(len(batches))]

    def _step(self, name: str, rows: np.ndarray) -> float:
        trainer = self.partners[name]
        x = sparse_batch(trainer.prepared.X, rows, self.model.model_cfg.input_transform)
        y = target_batch(trainer.prepared.Y, trainer.prepared.censor, rows)
        unique, local = torch.unique(x.indices, return_inverse=True)
        table_rows = self.model.trunk.input.weight.detach().index_select(0, unique).requires_grad_(True)
        head = self.model.heads[name]
        raw = head(self.model.trunk.forward_gathered(x, local, table_rows))
        loss = multitask_loss(
            raw,
            head.standardise(y.values),
            y.observed,
            y.censor,
            head.is_regression,
            trainer.task_weights,
            self.cfg.regression_weight,
        )
        if not torch.isfinite(loss):
            raise TrainingError(f"pooled training loss became {loss.item()}", "lower TrainConfig.lr")
        self.dense.zero_grad(set_to_none=True)
        loss.backward()
        self.dense.step()
        assert table_rows.grad is not None
        self.sparse.step(unique, table_rows.grad)
        return float(loss.item()) * len(rows)

    def train_epoch(self) -> float:
        """One pass over all partners' training rows; mean loss per row."""
        lr = learning_rate(self.cfg, self.epoch)
        self.sparse.lr = lr
        for group in self.dense.param_groups:
            group["lr"] = lr
        self.model.train()
        total, count = 0.0, 0
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.cfg.seed * 1_000_003 + self.epoch)
            for name, rows in self._schedule():
                total += self._step(name, rows)
                count += len(rows)
        self.epoch += 1
        return total / max(count, 1)

    def validation_loss(self) -> float:
        """Sum over partners of (mean validation loss x validation rows) / all validation rows."""
        total, count = 0.0, 0
        for trainer in self.partners.values():
            rows = trainer.validation_rows
            if len(rows):
                total += trainer.loss(rows) * len(rows)
                count += len(rows)
        return total / count if count else float("nan")


def fit_pooled(prepared: dict[str, PreparedSet], model_cfg: ModelConfig, train_cfg: TrainConfig) -> PooledResult:
    """Train the pooled model with early stopping on the partners' validation folds."""
    trainer = PooledTrainer(prepared, model_cfg, train_cfg)
    result = PooledResult(model=trainer.model)
    best_state, best_loss = None, float("inf")
    for _ in range(train_cfg.epochs):
        train_loss = trainer.train_epoch()
        validation_loss = trainer.validation_loss()
        epoch = trainer.epoch - 1
        result.history.append((epoch, train_loss, validation_loss))
        if best_state is None or validation_loss < best_loss:
            best_loss, result.best_epoch = validation_loss, epoch
            best_state = copy.deepcopy(trainer.model.state_dict())
        elif train_cfg.early_stopping_patience and epoch - result.best_epoch >= train_cfg.early_stopping_patience:
            break
    if best_state is not None:
        trainer.model.load_state_dict(best_state)
    return result
