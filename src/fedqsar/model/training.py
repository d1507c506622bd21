"""The one training engine: local, pooled, federated local steps and fine-tuning.

``Trainer`` trains a ``MultitaskModel`` on one or more partners' PreparedSets. Every kind of
training in fedqsar is this trainer with other arguments:

* local: ``Trainer(model, {partner: prepared}, cfg)``;
* pooled (simulation only): ``Trainer(model, {every partner: its PreparedSet}, cfg)`` — one
  optimiser pair over a *plan* of (partner head, rows) batches drawn from all partners;
* a federated partner's local steps: the local trainer with a :class:`~fedqsar.model.regularisers.ProximalPull`
  hook when the strategy is FedProx;
* fine-tuning (personalisation): ``trainable="head"`` (trunk frozen) or ``"all"``, optionally
  with a proximal pull towards the federated trunk;
* a probing candidate's own first layer under a consortium trunk whose layers above it are
  fixed: ``trainable="all"`` with ``frozen=`` the consortium's tensors.

So every kind runs the same numerics: the same batches, the same sparse first-layer update path
(row-sparse Adam fed from the gradient of the first layer's output), the same loss, the same
seeding and the same early stopping (:func:`run_fit`).

The plan of an epoch
--------------------
Each partner's training rows are permuted with ``np.random.default_rng([seed, epoch])`` (one
draw per partner, in partner-name order) and cut into batches of ``batch_size``; with more than
one partner the batches are then shuffled across partners by the same generator. Batches hold
rows of a single partner because the heads differ. Dropout is seeded with
:func:`~fedqsar.model.schedules.epoch_seed`.

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

Steps instead of epochs
-----------------------
``train_steps(n)`` runs ``n`` optimiser steps, continuing the current epoch's plan where the
previous call stopped (``Trainer.cursor`` = batches of the epoch already done); when the
plan is used up the epoch counter advances and the next epoch's plan starts. Federation uses
it for a fixed number of local steps per round, the same for every partner whatever its
size. Whole epochs (``train_epochs``) are the same batches in the same order: a run of
``train_steps`` calls that adds up to whole epochs equals ``train_epochs`` of those epochs
apart from dropout masks (dropout of a chunk starting inside an epoch is seeded with
:func:`~fedqsar.model.schedules.step_seed` of its start).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import pandas as pd
import torch

from fedqsar.errors import ModelDataMismatchError, TrainingError
from fedqsar.model.batching import TargetBatch, target_batch
from fedqsar.model.config import TRAINABLE_PARTS, TrainConfig
from fedqsar.model.inputs import ModelInputs
from fedqsar.model.losses import multitask_loss
from fedqsar.model.metrics import task_metrics
from fedqsar.model.network import KIND_REGRESSION, MultitaskModel, PartnerHead, TrunkPass
from fedqsar.model.predict import predict, raw_outputs
from fedqsar.model.schedules import learning_rate, step_seed
from fedqsar.model.sparse_adam import RowSparseAdam
from fedqsar.prepared import PreparedSet
from fedqsar.progress import EPOCH_STAGE, Progress

Batch = tuple[str, np.ndarray]  # (partner, rows of that partner's PreparedSet)


@dataclass(frozen=True)
class EpochLog:
    """One epoch of training: 0-based ``epoch`` (global count), mean training loss per row,
    learning rate, rows seen, wall seconds, and validation loss when ``run_fit`` measured it."""

    epoch: int
    train_loss: float
    lr: float
    n_rows: int
    seconds: float
    validation_loss: float = float("nan")


@dataclass
class FitResult:
    """Outcome of :func:`run_fit`: the trained model (best validation epoch restored) and its history."""

    model: MultitaskModel
    trainer: Trainer
    history: list[EpochLog] = field(default_factory=list)
    best_epoch: int = -1
    best_validation_loss: float = float("nan")
    stopped_early: bool = False
    validation_metrics: pd.DataFrame = field(default_factory=pd.DataFrame)


class StepHook(Protocol):
    """Something the trainer calls after every optimiser step (e.g. FedProx's proximal pull)."""

    def after_step(self, trainer: Trainer, partner: str, rows: np.ndarray) -> None: ...


@dataclass
class PartnerData:
    """One partner's share of a training run: its data, its head and its row sets.

    Attributes
    ----------
    tasks
        The partner's tasks in column order (sorted by ``task_id``).
    task_weights
        float32 (n_tasks,) training weights.
    train_rows, validation_rows
        int64 row indices into the PreparedSet.
    """

    name: str
    prepared: PreparedSet
    head: PartnerHead
    tasks: pd.DataFrame
    task_weights: torch.Tensor
    train_rows: np.ndarray
    validation_rows: np.ndarray


def membership_holdout_rows(folds: np.ndarray, cfg: TrainConfig) -> np.ndarray:
    """int64 rows of the training folds held out of training (``TrainConfig.membership_holdout``).

    Each training-fold row is held out with probability ``membership_holdout``, drawn from
    ``np.random.default_rng([seed, n_rows])``: the same rows for every model kind of a run.
    """
    folds = np.asarray(folds)
    if cfg.membership_holdout <= 0:
        return np.zeros(0, dtype=np.int64)
    draw = np.random.default_rng([cfg.seed, 0x4D49, len(folds)]).random(len(folds))
    in_training_folds = ~np.isin(folds, cfg.held_out_folds)
    return np.flatnonzero(in_training_folds & (draw < cfg.membership_holdout)).astype(np.int64)


def training_rows(folds: np.ndarray, cfg: TrainConfig) -> np.ndarray:
    """int64 rows a model trains on: outside ``cfg.held_out_folds`` and the membership hold-out."""
    folds = np.asarray(folds)
    rows = np.flatnonzero(~np.isin(folds, cfg.held_out_folds))
    held = membership_holdout_rows(folds, cfg)
    return (np.setdiff1d(rows, held) if len(held) else rows).astype(np.int64)


def _partner_data(model: MultitaskModel, name: str, prepared: PreparedSet, cfg: TrainConfig) -> PartnerData:
    _check_compatible(model, name, prepared)
    tasks = prepared.tasks_sorted
    return PartnerData(
        name=name,
        prepared=prepared,
        head=model.head(name),
        tasks=tasks,
        task_weights=torch.tensor(tasks["training_weight"].to_numpy(dtype=np.float32)),
        train_rows=training_rows(prepared.folds, cfg),
        validation_rows=prepared.rows_in([cfg.validation_fold]),
    )


class Trainer:
    """Trains ``model`` on the partners of ``data`` (see module docstring).

    Parameters
    ----------
    model
        Model with a head named after every partner of ``data``, columns matching its tasks.
    data
        Partner name -> PreparedSet. Rows of ``cfg.held_out_folds`` are never trained on.
    cfg
        Optimiser, schedule, seeds and folds.
    trainable
        ``"all"`` (trunk and heads) or ``"head"`` (heads only; the trunk is frozen).
    hooks
        Called after every optimiser step, in order.
    frozen
        With ``trainable="all"``: trunk tensors (names of ``MultitaskModel.trunk_state``) kept as
        they are while the rest of the trunk trains; gradients still flow through them.
    """

    def __init__(
        self,
        model: MultitaskModel,
        data: Mapping[str, PreparedSet],
        cfg: TrainConfig,
        *,
        trainable: str = "all",
        hooks: Sequence[StepHook] = (),
        frozen: Collection[str] = (),
    ) -> None:
        if not data:
            raise TrainingError("no partner data given", "pass {partner name: PreparedSet}")
        if trainable not in TRAINABLE_PARTS:
            raise TrainingError(f"trainable={trainable!r} is not one of {TRAINABLE_PARTS}", "use 'all' or 'head'")
        unknown = sorted(set(frozen) - {name for name, _ in model.trunk.named_parameters()})
        if unknown:
            raise TrainingError(f"frozen names {unknown} are not trunk parameters", "name tensors of trunk_state()")
        self.model, self.cfg, self.trainable, self.hooks = model, cfg, trainable, list(hooks)
        self.frozen = frozenset(frozen)
        self.parts = {name: _partner_data(model, name, data[name], cfg) for name in sorted(data)}
        self.epoch = 0
        self.cursor = 0  # batches of the current epoch's plan already trained (train_steps)
        self._head_only = False
        for part in self.parts.values():
            _fit_regression_scaling(part)
            model.fit_input_scaling(part.name, part.prepared, part.train_rows)  # private descriptor scaling
        self._build_optimisers()
        self._seen_trunk_version = model.trunk_version

    # ------------------------------------------------------------------ partners
    @property
    def part(self) -> PartnerData:
        """The only partner of a single-partner trainer."""
        if len(self.parts) != 1:
            raise TrainingError(f"this trainer has {len(self.parts)} partners", "name the partner: trainer.parts[name]")
        return next(iter(self.parts.values()))

    @property
    def partner(self) -> str:
        return self.part.name

    @property
    def prepared(self) -> PreparedSet:
        return self.part.prepared

    @property
    def train_rows(self) -> np.ndarray:
        return self.part.train_rows

    @property
    def validation_rows(self) -> np.ndarray:
        return self.part.validation_rows

    @property
    def n_validation_rows(self) -> int:
        return int(sum(len(part.validation_rows) for part in self.parts.values()))

    # ---------------------------------------------------------------- optimisers
    @property
    def trains_trunk(self) -> bool:
        return self.trainable == "all"

    @property
    def _trunk_steps_now(self) -> bool:
        """The trunk takes part in the current step (not during ``train_steps(head_only=True)``)."""
        return self.trains_trunk and not self._head_only

    def _build_optimisers(self) -> None:
        cfg = self.cfg
        table = self.model.trunk.sparse_table
        trained = [(n, p) for n, p in self.model.trunk.named_parameters() if n not in self.frozen]
        self.sparse = (
            RowSparseAdam(table, cfg.lr, cfg.adam_betas, cfg.adam_eps, cfg.weight_decay)
            if self.trains_trunk and table is not None and any(p is table for _, p in trained)
            else None
        )
        trunk_params = [(f"trunk.{n}", p) for n, p in trained if p is not table]
        self.trunk_dense = trunk_params if self.trains_trunk else []
        self.head_dense = [
            (f"heads.{name}.{n}", p) for name, part in self.parts.items() for n, p in part.head.named_parameters()
        ]
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
            if self.sparse is not None:
                self.sparse.reset()
            for _, param in self.trunk_dense:
                self.dense.state.pop(param, None)
        self._seen_trunk_version = self.model.trunk_version

    def _set_lr(self, lr: float) -> None:
        if self.sparse is not None:
            self.sparse.lr = lr
        for group in self.dense.param_groups:
            group["lr"] = lr

    # ------------------------------------------------------------------ training
    def _trunk_pass(self, part: PartnerData, rows: np.ndarray) -> TrunkPass:
        batch = self.model.input_batch(part.prepared, rows, part.name)
        if self._trunk_steps_now:
            return self.model.trunk.training_pass(batch)
        with torch.no_grad():
            return TrunkPass(self.model.trunk(batch))

    def _step(self, name: str, rows: np.ndarray) -> float:
        part = self.parts[name]
        passed = self._trunk_pass(part, rows)
        y = target_batch(part.prepared.Y, part.prepared.censor, rows)
        with torch.set_grad_enabled(self._trunk_steps_now):
            endpoints = self.model.trunk.endpoint_outputs(passed.hidden)  # shared endpoint columns are trunk
        raw = part.head(passed.hidden, endpoints)
        target = part.head.standardise(y.values)
        loss = multitask_loss(
            raw, target, y.observed, y.censor, part.head.is_regression, part.task_weights, self.cfg.regression_weight
        )
        if not torch.isfinite(loss):
            raise TrainingError(
                f"training loss became {loss.item()} at epoch {self.epoch}",
                "lower the learning rate (TrainConfig.lr) or check the PreparedSet for extreme values",
            )
        self.dense.zero_grad(set_to_none=True)
        loss.backward()
        self.dense.step()
        if self.sparse is not None and passed.sparse_leaf is not None:
            assert passed.sparse_leaf.grad is not None and passed.bits is not None
            bits = passed.bits
            lengths = torch.diff(bits.offsets, append=torch.tensor([bits.indices.shape[0]]))
            entry_rows = torch.repeat_interleave(torch.arange(bits.n_rows), lengths)
            self.sparse.step_from_output_grad(bits.indices, entry_rows, bits.values, passed.sparse_leaf.grad)
        for hook in self.hooks:
            hook.after_step(self, name, rows)
        return float(loss.item()) * len(rows)

    def train_step(self, rows: np.ndarray, partner: str | None = None) -> float:
        """One optimiser step on ``rows`` of ``partner`` (current learning rate, global torch RNG).

        Returns
        -------
        float
            The batch's loss per row before the step.
        """
        self.model.train()
        name = self.partner if partner is None else partner
        return self._step(name, np.asarray(rows, dtype=np.int64)) / max(len(rows), 1)

    def plan(self, rows: Mapping[str, np.ndarray] | None = None) -> list[Batch]:
        """The (partner, rows) batches of the current epoch (see module docstring)."""
        rows = rows if rows is not None else {name: part.train_rows for name, part in self.parts.items()}
        rng = np.random.default_rng([self.cfg.seed, self.epoch])
        size = self.cfg.batch_size
        batches: list[Batch] = []
        for name in sorted(rows):
            order = rng.permutation(np.asarray(rows[name], dtype=np.int64))
            batches += [(name, order[start : start + size]) for start in range(0, len(order), size)]
        if len(rows) > 1:
            batches = [batches[i] for i in rng.permutation(len(batches))]
        return batches

    def train_epochs(self, n: int, rows: np.ndarray | Mapping[str, np.ndarray] | None = None) -> list[EpochLog]:
        """Run ``n`` more epochs over ``rows`` (default: every partner's training rows).

        ``rows`` may be an array for a single-partner trainer, or partner -> rows. An epoch
        that ``train_steps`` left unfinished is finished first (it counts as one of the ``n``).

        Returns
        -------
        list[EpochLog]
            One entry per epoch, ``epoch`` counting from the trainer's creation.
        """
        chosen = {self.partner: rows} if isinstance(rows, np.ndarray | list) else rows
        self._check_rows(chosen)
        self._apply_trunk_replacement()
        logs = []
        for _ in range(int(n)):
            batches = self.plan(chosen)
            logs.append(self._run_batches(batches[self.cursor :], self.cursor))
            self.epoch, self.cursor = self.epoch + 1, 0
        return logs

    def train_steps(self, n: int, head_only: bool = False) -> list[EpochLog]:
        """Run ``n`` more optimiser steps over the training rows, continuing the current epoch.

        With ``head_only`` the trunk is frozen for these steps (no trunk gradient, no trunk
        update): the private head adapts to the trunk it has (federation aligns the head
        to a newly received global trunk this way before validating it).

        Returns
        -------
        list[EpochLog]
            One entry per (part of an) epoch the steps ran in; ``n_rows`` counts the rows of
            those steps only.
        """
        self._check_rows(None)
        self._apply_trunk_replacement()
        logs, remaining = [], int(n)
        self._head_only = bool(head_only)
        try:
            while remaining > 0:
                batches = self.plan()
                chunk = batches[self.cursor : self.cursor + remaining]
                logs.append(self._run_batches(chunk, self.cursor))
                self.cursor += len(chunk)
                remaining -= len(chunk)
                if self.cursor >= len(batches):
                    self.epoch, self.cursor = self.epoch + 1, 0
        finally:
            self._head_only = False
        return logs

    def _check_rows(self, rows: Mapping[str, np.ndarray] | None) -> None:
        if sum(len(r) for r in (rows or {n: p.train_rows for n, p in self.parts.items()}).values()) == 0:
            raise TrainingError("no rows to train on", "check validation_fold/test_fold: every row is held out")

    def _run_batches(self, batches: Sequence[Batch], start: int) -> EpochLog:
        """Train ``batches`` (positions ``start..`` of the current epoch's plan) at the epoch's learning rate."""
        started = time.perf_counter()
        lr = learning_rate(self.cfg, self.epoch)
        self._set_lr(lr)
        total, count = 0.0, 0
        self.model.train()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(step_seed(self.cfg.seed, self.epoch, start))
            for name, batch_rows in batches:
                total += self._step(name, batch_rows)
                count += len(batch_rows)
        return EpochLog(self.epoch, total / max(count, 1), lr, count, time.perf_counter() - started)

    # ---------------------------------------------------------------- evaluation
    @torch.no_grad()
    def loss(self, rows: np.ndarray, partner: str | None = None) -> float:
        """Mean loss per row of ``partner`` (default: the only one) on ``rows``, eval mode (no dropout)."""
        part = self.parts[self.partner if partner is None else partner]
        rows = np.asarray(rows, dtype=np.int64)
        if len(rows) == 0:
            return float("nan")
        raw = torch.from_numpy(raw_outputs(self.model, part.name, ModelInputs.of(part.prepared).rows(rows)))
        y = target_batch(part.prepared.Y, part.prepared.censor, rows)
        target = part.head.standardise(y.values)
        return float(
            multitask_loss(
                raw,
                target,
                y.observed,
                y.censor,
                part.head.is_regression,
                part.task_weights,
                self.cfg.regression_weight,
            )
        )

    def validation_loss(self) -> float:
        """Mean loss per validation row over all partners (each partner's rows weigh equally)."""
        total, count = 0.0, 0
        for name, part in self.parts.items():
            if len(part.validation_rows):
                total += self.loss(part.validation_rows, name) * len(part.validation_rows)
                count += len(part.validation_rows)
        return total / count if count else float("nan")

    def evaluate(self, rows: np.ndarray, partner: str | None = None) -> pd.DataFrame:
        """Long metrics table (task, metric, value) of ``partner``'s head on ``rows``."""
        part = self.parts[self.partner if partner is None else partner]
        rows = np.asarray(rows, dtype=np.int64)
        prediction = predict(self.model, part.name, ModelInputs.of(part.prepared).rows(rows))
        return task_metrics(part.prepared.Y[rows], part.prepared.censor[rows], prediction, part.tasks)

    # --------------------------------------------------------------------- state
    def state_dict(self) -> dict[str, torch.Tensor]:
        """A single partner's private state: head, optimiser moments, epoch counter (tensors only).

        The trunk is not included (it is global). Trunk moments are included only with
        ``trunk_moments_on_replace="keep"``; with ``"reset"`` they would be zeroed anyway.
        """
        part = self.part
        state = {f"head.{k}": v.detach().clone() for k, v in part.head.state_dict().items()}
        state["trainer.epoch"] = torch.tensor(self.epoch, dtype=torch.int64)
        state["trainer.cursor"] = torch.tensor(self.cursor, dtype=torch.int64)
        keep_trunk = self.cfg.trunk_moments_on_replace == "keep"
        for name, param in self._named_for_state(keep_trunk):
            for key, value in self.dense.state.get(param, {}).items():
                state[f"optim.{name}.{key}"] = torch.as_tensor(value).detach().clone()
        if keep_trunk and self.sparse is not None:
            state.update({f"sparse.{k}": v.clone() for k, v in self.sparse.state_dict().items()})
        return state

    def _named_for_state(self, with_trunk: bool) -> list[tuple[str, torch.nn.Parameter]]:
        """Optimised parameters under the names of :meth:`state_dict` (``head.*``, ``trunk.*``)."""
        prefix = f"heads.{self.partner}."
        heads = [("head." + name[len(prefix) :], p) for name, p in self.head_dense]
        return heads + (self.trunk_dense if with_trunk else [])

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Restore what :meth:`state_dict` produced (into a trainer built the same way)."""
        part = self.part
        part.head.load_state_dict({k[len("head.") :]: v for k, v in state.items() if k.startswith("head.")})
        self.epoch = int(state["trainer.epoch"])
        self.cursor = int(state.get("trainer.cursor", 0))
        for name, param in self._named_for_state(with_trunk=True):
            entries = {k.rsplit(".", 1)[1]: v for k, v in state.items() if k.startswith(f"optim.{name}.")}
            if entries:
                self.dense.state[param] = {k: v.clone() for k, v in entries.items()}
        sparse = {k[len("sparse.") :]: v for k, v in state.items() if k.startswith("sparse.")}
        if sparse and self.sparse is not None:
            self.sparse.load_state_dict(sparse)


def _fit_regression_scaling(part: PartnerData) -> None:
    """Fit the head's regression mean/std on exact training values, once per head."""
    head = part.head
    if bool(head.scaling_fitted):
        return
    targets = target_batch(part.prepared.Y, part.prepared.censor, part.train_rows)
    exact = targets.observed & (targets.censor == 0)
    for column in np.flatnonzero(head.is_regression.numpy()):
        values = targets.values[exact[:, column], column].double()
        if len(values) >= 2 and float(values.std()) > 1e-8:
            head.regression_mean[column] = float(values.mean())
            head.regression_std[column] = float(values.std())
        elif len(values):
            head.regression_mean[column] = float(values.mean())
    _init_calibration(part, targets)
    head.scaling_fitted.fill_(True)


#: initial logit slope of a classification task per standard deviation of its shared endpoint column
CALIBRATION_SLOPE = 2.0


@torch.no_grad()
def _init_calibration(part: PartnerData, targets: TargetBatch) -> None:
    """Start each calibrated classification column as a threshold on its endpoint's standardised value.

    The shared column is trained to predict standardised values (the regression tasks' scale
    and offset start at 1 and 0), so a task "value >= threshold" starts as
    ``logit = slope * sign * (shared - (threshold - mean) / std)`` with the mean and std of the
    partner's regression task of the same assay (its own training rows); without one, the
    offset starts at the logit of the task's training positive rate. Local and private.
    """
    head = part.head
    if not head.calibrated:
        return
    tasks = part.tasks
    kinds, assays = tasks["kind"].astype(str).to_numpy(), tasks["assay_id"].astype(str).to_numpy()
    for k, column in enumerate(head.calibrated_column.tolist()):
        if kinds[column] == KIND_REGRESSION:
            continue
        scale = CALIBRATION_SLOPE * float(torch.sign(head.calibration_scale[k]))
        same_assay = np.flatnonzero((kinds == KIND_REGRESSION) & (assays == assays[column]))
        threshold = float(tasks["threshold"].iloc[column])
        if len(same_assay) and np.isfinite(threshold):
            reference = int(same_assay[0])
            centre = (threshold - float(head.regression_mean[reference])) / float(head.regression_std[reference])
            offset = -scale * centre
        else:
            labels = targets.values[targets.observed[:, column], column]
            rate = float(labels.float().mean()) if len(labels) else 0.5
            offset = float(np.log(max(rate, 1e-3) / max(1.0 - rate, 1e-3)))
        head.calibration_scale[k] = scale
        head.calibration_offset[k] = offset


def _check_compatible(model: MultitaskModel, partner: str, prepared: PreparedSet) -> None:
    if partner not in model.heads:
        raise TrainingError(
            f"the model has no head {partner!r} (heads: {sorted(model.heads)})",
            "build MultitaskModel with heads={partner: HeadSpec.from_tasks(prepared.tasks)}",
        )
    if model.n_bits != prepared.n_bits:
        raise ModelDataMismatchError(
            f"the model reads {model.n_bits} bits, the PreparedSet has {prepared.n_bits}",
            "build the model with n_bits=prepared.n_bits",
        )
    kinds = tuple(prepared.task_kinds)
    if model.head_specs[partner].column_kinds != kinds:
        raise ModelDataMismatchError(
            f"head {partner!r} columns {model.head_specs[partner].column_kinds} differ from the tasks' kinds",
            "build the head with HeadSpec.from_tasks(prepared.tasks)",
        )


def describe_epoch(log: EpochLog) -> str:
    """One line on an epoch: its losses and throughput (the ``detail`` of ``run_fit``'s progress)."""
    return (
        f"train loss {log.train_loss:.4f}  validation loss {log.validation_loss:.4f}  "
        f"{log.n_rows / max(log.seconds, 1e-9):,.0f} rows/s"
    )


def run_fit(
    trainer: Trainer,
    progress: Progress | None = None,
    epochs: int | None = None,
    *,
    include_start: bool = False,
    observer: Callable[[EpochLog], None] | None = None,
) -> FitResult:
    """Train up to ``epochs`` (default ``trainer.cfg.epochs``) epochs, keep the best validation epoch.

    Early stopping watches the validation folds only (``Trainer.validation_loss``, all
    partners' validation rows); the test fold is neither trained on nor looked at. The model
    is modified in place and returned in the result. With ``epochs=0`` the model is unchanged.
    ``include_start=True`` (fine-tuning) counts the model as given as a candidate too
    (``best_epoch == -1`` when no epoch beat it), so training can never make it worse on the
    validation folds. ``progress`` is called as ``progress("epoch", epochs done, epochs at most,
    losses)`` after every epoch; ``observer`` (for benchmarks) receives each epoch's ``EpochLog``
    while the trainer still holds that epoch's model.

    Raises
    ------
    TrainingError
        If no partner has validation rows.
    """
    cfg = trainer.cfg
    if trainer.n_validation_rows == 0:
        folds = sorted({int(f) for part in trainer.parts.values() for f in part.prepared.folds})
        raise TrainingError(
            f"validation fold {cfg.validation_fold} has no rows",
            f"choose a validation_fold present in the data (folds: {folds})",
        )
    model = trainer.model
    result = FitResult(model=model, trainer=trainer)
    best_state: dict[str, torch.Tensor] | None = None
    if include_start:
        result.best_validation_loss = trainer.validation_loss()
        best_state = copy.deepcopy(model.state_dict())
    n_epochs = cfg.epochs if epochs is None else int(epochs)
    for done in range(1, n_epochs + 1):
        (log,) = trainer.train_epochs(1)
        validation_loss = trainer.validation_loss()
        result.history.append(EpochLog(log.epoch, log.train_loss, log.lr, log.n_rows, log.seconds, validation_loss))
        if observer is not None:
            observer(result.history[-1])
        if progress is not None:
            progress(EPOCH_STAGE, done, n_epochs, describe_epoch(result.history[-1]))
        if best_state is None or validation_loss < result.best_validation_loss:
            result.best_epoch, result.best_validation_loss = log.epoch, validation_loss
            best_state = copy.deepcopy(model.state_dict())
        elif cfg.early_stopping_patience and log.epoch - result.best_epoch >= cfg.early_stopping_patience:
            result.stopped_early = True
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    if len(trainer.parts) == 1:
        result.validation_metrics = trainer.evaluate(trainer.validation_rows)
    return result


def fit(
    model: MultitaskModel,
    partner: str,
    prepared: PreparedSet,
    train_cfg: TrainConfig,
    progress: Progress | None = None,
) -> FitResult:
    """Local training of one partner: :func:`run_fit` on ``Trainer(model, {partner: prepared}, train_cfg)``."""
    return run_fit(Trainer(model, {partner: prepared}, train_cfg), progress)
