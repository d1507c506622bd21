"""Local training of one partner's model: sparse first-layer Adam, dense Adam elsewhere.

``LocalTrainer`` owns the optimisers and can be called repeatedly (``train_epochs``), as
federation does once per round after loading a new global trunk. ``fit`` runs a full local
training with early stopping on the validation fold; the test fold is never touched.

Trunk replacement and optimiser state
-------------------------------------
``MultitaskModel.load_trunk_state`` copies new values into the trunk in place and bumps
``model.trunk_version``. At the next ``train_epochs`` the trainer notices the new version and
applies ``TrainConfig.trunk_moments_on_replace``:

* ``"reset"`` (default): the trunk's Adam moments and step counts (sparse first layer and
  dense hidden layers) are zeroed, so each round starts a fresh, bias-corrected Adam on the
  new global trunk; moments estimated on the partner's old local trunk would push the
  averaged trunk back towards it. The private head keeps its moments (its parameters were
  not replaced).
* ``"keep"``: moments carry over (local adaptive optimisation with persistent state).

The learning-rate schedule and the shuffling/dropout seeds follow the trainer's epoch
counter, which keeps counting across rounds.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from fedqsar.errors import TrainingError
from fedqsar.model.batching import SparseBatch, sparse_batch, target_batch
from fedqsar.model.config import TrainConfig
from fedqsar.model.losses import multitask_loss
from fedqsar.model.metrics import task_metrics
from fedqsar.model.network import MultitaskModel, PartnerHead
from fedqsar.model.predict import predict, raw_outputs
from fedqsar.model.schedules import learning_rate
from fedqsar.model.sparse_adam import RowSparseAdam
from fedqsar.prepared import PreparedSet


@dataclass(frozen=True)
class EpochLog:
    """One epoch of training: 0-based ``epoch`` (global count), mean training loss per row,
    learning rate, rows seen, wall seconds, and validation loss when ``fit`` measured it."""

    epoch: int
    train_loss: float
    lr: float
    n_rows: int
    seconds: float
    validation_loss: float = float("nan")


@dataclass
class FitResult:
    """Outcome of :func:`fit`: the trained model (best validation epoch restored) and its history."""

    model: MultitaskModel
    trainer: LocalTrainer
    history: list[EpochLog] = field(default_factory=list)
    best_epoch: int = -1
    best_validation_loss: float = float("nan")
    stopped_early: bool = False
    validation_metrics: pd.DataFrame = field(default_factory=pd.DataFrame)


def _sorted_tasks(prepared: PreparedSet) -> pd.DataFrame:
    return prepared.tasks.sort_values("task_id").reset_index(drop=True)


class LocalTrainer:
    """Trains ``model.trunk`` and ``model.heads[partner]`` on one PreparedSet.

    Parameters
    ----------
    model
        Model with a head named ``partner`` whose columns match ``prepared.tasks``.
    partner
        Head to train.
    prepared
        The partner's data; rows of ``train_cfg.held_out_folds`` are never trained on by default.
    train_cfg
        Optimiser, schedule, seeds and folds.
    """

    def __init__(self, model: MultitaskModel, partner: str, prepared: PreparedSet, train_cfg: TrainConfig) -> None:
        _check_compatible(model, partner, prepared)
        self.model, self.partner, self.prepared, self.cfg = model, partner, prepared, train_cfg
        self.tasks = _sorted_tasks(prepared)
        self.head: PartnerHead = model.heads[partner]  # type: ignore[assignment]
        self.task_weights = torch.tensor(self.tasks["training_weight"].to_numpy(dtype=np.float32))
        self.train_rows = np.flatnonzero(~np.isin(prepared.folds, train_cfg.held_out_folds))
        self.validation_rows = prepared.rows_in_folds([train_cfg.validation_fold])
        self.epoch = 0
        self._fit_regression_scaling()
        self._build_optimisers()
        self._seen_trunk_version = model.trunk_version

    # ----------------------------------------------------------------- optimisers
    def _build_optimisers(self) -> None:
        cfg = self.cfg
        self.sparse = RowSparseAdam(
            self.model.trunk.input.weight, cfg.lr, cfg.adam_betas, cfg.adam_eps, cfg.weight_decay
        )
        first = self.model.trunk.input.weight
        self.trunk_dense = [(f"trunk.{n}", p) for n, p in self.model.trunk.named_parameters() if p is not first]
        self.head_dense = [(f"head.{n}", p) for n, p in self.head.named_parameters()]
        self.dense = torch.optim.AdamW(
            [p for _, p in self.trunk_dense + self.head_dense],
            lr=cfg.lr,
            betas=cfg.adam_betas,
            eps=cfg.adam_eps,
            weight_decay=cfg.weight_decay,
        )

    def _apply_trunk_replacement(self) -> None:
        if self.model.trunk_version == self._seen_trunk_version:
            return
        if self.cfg.trunk_moments_on_replace == "reset":
            self.sparse.reset()
            for _, param in self.trunk_dense:
                self.dense.state.pop(param, None)
        self._seen_trunk_version = self.model.trunk_version

    def _set_lr(self, lr: float) -> None:
        self.sparse.lr = lr
        for group in self.dense.param_groups:
            group["lr"] = lr

    # ------------------------------------------------------------------- scaling
    def _fit_regression_scaling(self) -> None:
        """Fit the head's regression mean/std on exact training values, once per head."""
        if bool(self.head.scaling_fitted):
            return
        targets = target_batch(self.prepared.Y, self.prepared.censor, self.train_rows)
        exact = targets.observed & (targets.censor == 0)
        for column in np.flatnonzero(self.head.is_regression.numpy()):
            values = targets.values[exact[:, column], column].double()
            if len(values) >= 2 and float(values.std()) > 1e-8:
                self.head.regression_mean[column] = float(values.mean())
                self.head.regression_std[column] = float(values.std())
            elif len(values):
                self.head.regression_mean[column] = float(values.mean())
        self.head.scaling_fitted.fill_(True)

    # ------------------------------------------------------------------ training
    def _batch_loss(self, rows: np.ndarray) -> tuple[torch.Tensor, SparseBatch, torch.Tensor]:
        """Loss of a batch whose first-layer output is a leaf: returns (loss, batch, pre-activation)."""
        x = sparse_batch(self.prepared.X, rows, self.model.model_cfg.input_transform)
        y = target_batch(self.prepared.Y, self.prepared.censor, rows)
        first = self.model.trunk.input
        with torch.no_grad():
            summed = F.embedding_bag(x.indices, first.weight, x.offsets, mode="sum", per_sample_weights=x.values)
        summed.requires_grad_(True)
        hidden = self.model.trunk.from_first_layer(summed + first.bias)
        raw = self.head(hidden)
        loss = multitask_loss(
            raw,
            self.head.standardise(y.values),
            y.observed,
            y.censor,
            self.head.is_regression,
            self.task_weights,
            self.cfg.regression_weight,
        )
        return loss, x, summed

    def train_step(self, rows: np.ndarray) -> float:
        """One optimiser step on ``rows`` (current learning rate, global torch RNG for dropout).

        Returns
        -------
        float
            The batch's loss per row before the step.
        """
        self.model.train()
        return self._step(np.asarray(rows, dtype=np.int64)) / max(len(rows), 1)

    def _step(self, rows: np.ndarray) -> float:
        loss, x, summed = self._batch_loss(rows)
        if not torch.isfinite(loss):
            raise TrainingError(
                f"training loss became {loss.item()} at epoch {self.epoch}",
                "lower the learning rate (TrainConfig.lr) or check the PreparedSet for extreme values",
            )
        self.dense.zero_grad(set_to_none=True)
        loss.backward()
        self.dense.step()
        assert summed.grad is not None
        lengths = torch.diff(x.offsets, append=torch.tensor([x.indices.shape[0]]))
        entry_rows = torch.repeat_interleave(torch.arange(x.n_rows), lengths)
        self.sparse.step_from_output_grad(x.indices, entry_rows, x.values, summed.grad)
        return float(loss.item()) * len(rows)

    def train_epochs(self, n: int, rows: np.ndarray | None = None) -> list[EpochLog]:
        """Run ``n`` more epochs over ``rows`` (default: the training rows).

        Returns
        -------
        list[EpochLog]
            One entry per epoch, ``epoch`` counting from the trainer's creation.
        """
        rows = self.train_rows if rows is None else np.asarray(rows, dtype=np.int64)
        if len(rows) == 0:
            raise TrainingError("no rows to train on", "check validation_fold/test_fold: every row is held out")
        self._apply_trunk_replacement()
        logs = []
        for _ in range(int(n)):
            logs.append(self._one_epoch(rows))
        return logs

    def _one_epoch(self, rows: np.ndarray) -> EpochLog:
        started = time.perf_counter()
        lr = learning_rate(self.cfg, self.epoch)
        self._set_lr(lr)
        order = np.random.default_rng([self.cfg.seed, self.epoch]).permutation(rows)
        total = 0.0
        self.model.train()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.cfg.seed * 1_000_003 + self.epoch)
            for start in range(0, len(order), self.cfg.batch_size):
                total += self._step(order[start : start + self.cfg.batch_size])
        log = EpochLog(self.epoch, total / len(order), lr, len(order), time.perf_counter() - started)
        self.epoch += 1
        return log

    # ---------------------------------------------------------------- evaluation
    @torch.no_grad()
    def loss(self, rows: np.ndarray) -> float:
        """Mean loss per row on ``rows`` in eval mode (no dropout)."""
        rows = np.asarray(rows, dtype=np.int64)
        if len(rows) == 0:
            return float("nan")
        raw = torch.from_numpy(raw_outputs(self.model, self.partner, self.prepared.X[rows]))
        y = target_batch(self.prepared.Y, self.prepared.censor, rows)
        return float(
            multitask_loss(
                raw,
                self.head.standardise(y.values),
                y.observed,
                y.censor,
                self.head.is_regression,
                self.task_weights,
                self.cfg.regression_weight,
            )
        )

    def evaluate(self, rows: np.ndarray) -> pd.DataFrame:
        """Long metrics table (task, metric, value) of the model on ``rows``."""
        rows = np.asarray(rows, dtype=np.int64)
        prediction = predict(self.model, self.partner, self.prepared.X[rows])
        return task_metrics(self.prepared.Y[rows], self.prepared.censor[rows], prediction, self.tasks)

    # --------------------------------------------------------------------- state
    def state_dict(self) -> dict[str, torch.Tensor]:
        """The partner's private state: head, optimiser moments, epoch counter (tensors only).

        The trunk is not included (it is global). Trunk moments are included only with
        ``trunk_moments_on_replace="keep"``; with ``"reset"`` they would be zeroed anyway.
        """
        state = {f"head.{k}": v.detach().clone() for k, v in self.head.state_dict().items()}
        state["trainer.epoch"] = torch.tensor(self.epoch, dtype=torch.int64)
        keep_trunk = self.cfg.trunk_moments_on_replace == "keep"
        named = self.head_dense + (self.trunk_dense if keep_trunk else [])
        for name, param in named:
            for key, value in self.dense.state.get(param, {}).items():
                state[f"optim.{name}.{key}"] = torch.as_tensor(value).detach().clone()
        if keep_trunk:
            state.update({f"sparse.{k}": v.clone() for k, v in self.sparse.state_dict().items()})
        return state

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Restore what :meth:`state_dict` produced (into a trainer built the same way)."""
        head_state = {k[len("head.") :]: v for k, v in state.items() if k.startswith("head.")}
        self.head.load_state_dict(head_state)
        self.epoch = int(state["trainer.epoch"])
        for name, param in self.head_dense + self.trunk_dense:
            entries = {k.rsplit(".", 1)[1]: v for k, v in state.items() if k.startswith(f"optim.{name}.")}
            if entries:
                self.dense.state[param] = {k: v.clone() for k, v in entries.items()}
        sparse = {k[len("sparse.") :]: v for k, v in state.items() if k.startswith("sparse.")}
        if sparse:
            self.sparse.load_state_dict(sparse)


def _check_compatible(model: MultitaskModel, partner: str, prepared: PreparedSet) -> None:
    if partner not in model.heads:
        raise TrainingError(
            f"the model has no head {partner!r} (heads: {sorted(model.heads)})",
            "build MultitaskModel with heads={partner: HeadSpec.from_tasks(prepared.tasks)}",
        )
    if model.n_bits != prepared.n_bits:
        raise TrainingError(
            f"the model reads {model.n_bits} bits, the PreparedSet has {prepared.n_bits}",
            "build the model with n_bits=prepared.n_bits",
        )
    kinds = tuple(_sorted_tasks(prepared)["kind"].astype(str))
    if model.head_specs[partner].column_kinds != kinds:
        raise TrainingError(
            f"head {partner!r} columns {model.head_specs[partner].column_kinds} differ from the tasks' kinds",
            "build the head with HeadSpec.from_tasks(prepared.tasks)",
        )


def fit(
    model: MultitaskModel,
    partner: str,
    prepared: PreparedSet,
    train_cfg: TrainConfig,
    progress: Callable[[EpochLog], None] | None = None,
) -> FitResult:
    """Train up to ``train_cfg.epochs`` epochs, keep the epoch with the lowest validation loss.

    Early stopping watches the validation fold only; the test fold is neither trained on nor
    looked at. The model is modified in place and returned in the result.

    Raises
    ------
    TrainingError
        If the validation fold has no rows.
    """
    trainer = LocalTrainer(model, partner, prepared, train_cfg)
    if len(trainer.validation_rows) == 0:
        raise TrainingError(
            f"validation fold {train_cfg.validation_fold} has no rows",
            f"choose a validation_fold present in the data (folds: {sorted(set(prepared.folds.tolist()))})",
        )
    result = FitResult(model=model, trainer=trainer)
    best_state: dict[str, torch.Tensor] | None = None
    for _ in range(train_cfg.epochs):
        (log,) = trainer.train_epochs(1)
        validation_loss = trainer.loss(trainer.validation_rows)
        result.history.append(EpochLog(log.epoch, log.train_loss, log.lr, log.n_rows, log.seconds, validation_loss))
        if progress is not None:
            progress(result.history[-1])
        if best_state is None or validation_loss < result.best_validation_loss:
            result.best_epoch, result.best_validation_loss = log.epoch, validation_loss
            best_state = copy.deepcopy(model.state_dict())
        elif train_cfg.early_stopping_patience and log.epoch - result.best_epoch >= train_cfg.early_stopping_patience:
            result.stopped_early = True
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    result.validation_metrics = trainer.evaluate(trainer.validation_rows)
    return result
