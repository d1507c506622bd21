"""Sparse multitask network: ``trunk`` (shared, federated) and ``heads[partner]`` (private).

The trunk's first layer is an (n_bits, hidden) table read with ``embedding_bag``: a row of
the fingerprint matrix only touches the table rows of the bits it contains. For training,
``Trunk.training_pass`` computes the first layer's output as a leaf tensor, so that the
trainer turns its gradient into row-sparse Adam updates of just the rows present in a batch
(see ``sparse_adam``); every other parameter is dense.

Trunks come from a registry (``TRUNKS``, chosen by ``ModelConfig.trunk``): ``"ecfp"`` (this
module; with a dense descriptor block, the first layer's pre-activation is
``bits @ W + descriptors_scaled @ W_d + b``) and ``"mpnn"`` (``model.mpnn``, chemprop v2 bond
message passing). Every trunk offers ``make_batch(inputs, rows, descriptors)``, ``forward``,
``training_pass``, ``out_features`` and ``sparse_table``. The descriptor block is scaled by a
partner-private ``DescriptorScaler`` (``MultitaskModel.scalers``), never part of the trunk.

Endpoint heads (``ModelConfig.endpoint_heads``): ``"private"`` gives every task its own
private output column. ``"shared"`` adds to the *trunk* one output column per shareable
endpoint (``model.endpoints``: logD7.4, logS, PPB, CLint, ...), federated with the trunk;
a task of such an endpoint predicts ``scale * shared + offset`` with a private, locally
learned scale and offset per task (``PartnerHead.calibration_scale`` / ``calibration_offset``,
never sent), so partners share the structure-property relation of the endpoint while each
keeps its own assay's offset and slope (and, for a classification task, its threshold).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from fedqsar.errors import TrunkStateError
from fedqsar.model.batching import SparseBatch, sparse_batch
from fedqsar.model.config import TRUNK_KINDS, ModelConfig
from fedqsar.model.endpoints import direction_sign, shared_endpoint_names, shared_index
from fedqsar.model.inputs import ModelInputs
from fedqsar.model.scaling import DescriptorScaler
from fedqsar.prepared import in_column_order

KIND_CLASSIFICATION = "classification"
KIND_REGRESSION = "regression"
#: the sparse first layer's (n_bits, hidden) table: one row per fingerprint bit (see docs/privacy.md).
PER_BIT_TABLE = "input.weight"
#: trunk tensors of the sparse first layer.
INPUT_LAYER_NAMES = (PER_BIT_TABLE, "input.bias")
#: the ECFP trunk's dense descriptor weights (first layer, present when the model reads descriptors).
DESCRIPTOR_WEIGHTS = "descriptor_input.weight"


@dataclass(frozen=True)
class HeadSpec:
    """Output columns of one partner's head, in the order of its tasks table.

    Build it with ``HeadSpec(n_classification, n_regression)`` (classification columns first)
    or ``HeadSpec.from_tasks(tasks_df)`` (kinds and endpoints in the table's row order, i.e.
    Y's columns). ``endpoints`` (one name per column, "" when unknown) decides which columns
    read a shared endpoint head when the model has them (``model.endpoints``).
    """

    n_classification: int = 0
    n_regression: int = 0
    kinds: tuple[str, ...] | None = None
    endpoints: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.kinds is None:
            object.__setattr__(
                self, "kinds", (KIND_CLASSIFICATION,) * self.n_classification + (KIND_REGRESSION,) * self.n_regression
            )
        kinds = self.column_kinds
        if (
            kinds.count(KIND_CLASSIFICATION) != self.n_classification
            or kinds.count(KIND_REGRESSION) != self.n_regression
        ):
            raise ValueError(
                f"kinds {kinds} disagree with n_classification={self.n_classification}, n_regression={self.n_regression}"
            )
        if self.n_tasks < 1:
            raise ValueError("a head needs at least one task")
        if self.endpoints is not None and len(self.endpoints) != self.n_tasks:
            raise ValueError(f"{len(self.endpoints)} endpoints for {self.n_tasks} columns")

    @classmethod
    def from_tasks(cls, tasks: pd.DataFrame) -> HeadSpec:
        """Spec whose column j is task row j of ``tasks`` (sorted by ``task_id`` if present)."""
        tasks = in_column_order(tasks)
        kinds = tuple(str(k) for k in tasks["kind"])
        endpoints = (
            tuple("" if pd.isna(e) else str(e) for e in tasks["endpoint"]) if "endpoint" in tasks.columns else None
        )
        return cls(kinds.count(KIND_CLASSIFICATION), kinds.count(KIND_REGRESSION), kinds, endpoints)

    @property
    def column_endpoints(self) -> tuple[str, ...]:
        """Endpoint name of every column ("" when unknown)."""
        return self.endpoints if self.endpoints is not None else ("",) * self.n_tasks

    def shared_columns(self, names: tuple[str, ...]) -> np.ndarray:
        """int64 (n_tasks,): each column's column among the shared endpoints ``names``, -1 for a private one."""
        return np.array([shared_index(e, names) for e in self.column_endpoints], dtype=np.int64)

    @property
    def column_kinds(self) -> tuple[str, ...]:
        assert self.kinds is not None
        return self.kinds

    @property
    def n_tasks(self) -> int:
        return len(self.column_kinds)

    @property
    def classification_columns(self) -> np.ndarray:
        """int64 positions of classification columns in task order."""
        return np.flatnonzero(np.asarray(self.column_kinds) == KIND_CLASSIFICATION)

    @property
    def regression_columns(self) -> np.ndarray:
        """int64 positions of regression columns in task order."""
        return np.flatnonzero(np.asarray(self.column_kinds) == KIND_REGRESSION)


class SparseInput(nn.Module):
    """First trunk layer: ``x @ weight + bias`` for sparse x, weight of shape (n_bits, hidden)."""

    def __init__(self, n_bits: int, hidden: int) -> None:
        super().__init__()
        bound = 1.0 / math.sqrt(50.0)  # ~50 bits set per ECFP row: keeps pre-activations O(1)
        self.weight = nn.Parameter(torch.empty(n_bits, hidden).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.zeros(hidden))

    def forward(self, x: SparseBatch) -> torch.Tensor:
        """(n_rows, hidden) pre-activations reading the full table."""
        return self.forward_rows(x.indices, x.offsets, x.values, self.weight)

    def forward_rows(
        self, indices: torch.Tensor, offsets: torch.Tensor, values: torch.Tensor, table: torch.Tensor
    ) -> torch.Tensor:
        """Pre-activations reading ``table`` (the full weight or a gathered sub-table, rows renumbered)."""
        summed = F.embedding_bag(indices, table, offsets, mode="sum", per_sample_weights=values)
        return summed + self.bias


@dataclass(frozen=True)
class TrunkPass:
    """The trunk's output for one training batch.

    Attributes
    ----------
    hidden
        (n_rows, out_features) trunk output.
    sparse_leaf
        (n_rows, hidden_sizes[0]) first-layer output (before bias) as a leaf tensor whose
        gradient the trainer turns into row-sparse Adam updates; None when nothing is sparse.
    bits
        The batch's fingerprint entries that produced ``sparse_leaf``.
    """

    hidden: torch.Tensor
    sparse_leaf: torch.Tensor | None = None
    bits: SparseBatch | None = None


@dataclass(frozen=True)
class FingerprintBatch:
    """ECFP trunk input: fingerprint entries and the scaled descriptor block (n_rows, d) or None."""

    bits: SparseBatch
    descriptors: torch.Tensor | None = None

    @property
    def n_rows(self) -> int:
        return self.bits.n_rows


def _split(x: SparseBatch | FingerprintBatch) -> tuple[SparseBatch, torch.Tensor | None]:
    return (x.bits, x.descriptors) if isinstance(x, FingerprintBatch) else (x, None)


class TrunkModule(nn.Module):
    """What every trunk of the registry offers (``TRUNKS``); the trainer, predict and federation read only this.

    Attributes
    ----------
    out_features
        Width of the trunk's output (the heads' input).
    n_descriptors
        Columns of the (partner-scaled) descriptor block the trunk reads; 0: none.
    """

    out_features: int
    n_descriptors: int

    @property
    def sparse_table(self) -> nn.Parameter | None:
        """The table the trainer updates row-sparsely, or None when every parameter is dense."""
        raise NotImplementedError

    def make_batch(self, inputs: ModelInputs, rows: np.ndarray, descriptors: torch.Tensor | None) -> Any:
        """The trunk's batch of ``rows`` of ``inputs``, with the already scaled descriptors (n, d) or None."""
        raise NotImplementedError

    def training_pass(self, x: Any) -> TrunkPass:
        """The trunk's output for one training batch (see :class:`TrunkPass`)."""
        raise NotImplementedError

    endpoint_head: nn.Linear | None  # set by add_endpoint_head (every trunk calls it last in __init__)

    def add_endpoint_head(self, cfg: ModelConfig) -> None:
        """With ``cfg.endpoint_heads == "shared"``: the trunk's shared endpoint columns (federated with it)."""
        names = shared_endpoint_names(cfg.shared_endpoints)
        self.endpoint_head = (
            nn.Linear(self.out_features, len(names)) if cfg.endpoint_heads == "shared" and names else None
        )

    def endpoint_outputs(self, hidden: torch.Tensor) -> torch.Tensor | None:
        """(n_rows, n shareable endpoints) shared endpoint columns, or None without shared heads."""
        return None if self.endpoint_head is None else self.endpoint_head(hidden)


class Trunk(TrunkModule):
    """Sparse input layer (+ dense descriptor weights), then ReLU + dropout, then dense layers."""

    def __init__(self, n_bits: int, cfg: ModelConfig, n_descriptors: int = 0) -> None:
        super().__init__()
        sizes = tuple(int(h) for h in cfg.hidden_sizes)
        self.input = SparseInput(n_bits, sizes[0])
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in pairwise(sizes))
        self.dropout = nn.Dropout(cfg.dropout)
        self.out_features = sizes[-1]
        self.input_transform = cfg.input_transform
        self.n_descriptors = int(n_descriptors)
        # created last, so that a trunk without descriptors initialises exactly as before
        self.descriptor_input = nn.Linear(self.n_descriptors, sizes[0], bias=False) if self.n_descriptors else None
        # created last too (None with private heads: the initialisation stays as before)
        self.add_endpoint_head(cfg)

    def make_batch(self, inputs: ModelInputs, rows: np.ndarray, descriptors: torch.Tensor | None) -> FingerprintBatch:
        """Batch of ``rows``: transformed fingerprint entries and the already scaled descriptors."""
        return FingerprintBatch(sparse_batch(inputs.X, rows, self.input_transform), descriptors)

    def forward(self, x: SparseBatch | FingerprintBatch) -> torch.Tensor:
        """(n_rows, hidden_sizes[-1]) trunk output."""
        bits, descriptors = _split(x)
        return self.from_first_layer(self._with_descriptors(self.input(bits), descriptors))

    def _with_descriptors(self, pre_activation: torch.Tensor, descriptors: torch.Tensor | None) -> torch.Tensor:
        if self.descriptor_input is None:
            return pre_activation
        if descriptors is None:
            raise ValueError("this trunk reads a descriptor block; build its batches with MultitaskModel.input_batch")
        return pre_activation + self.descriptor_input(descriptors)

    @property
    def sparse_table(self) -> nn.Parameter | None:
        """The (n_bits, hidden) table updated row-sparsely by the trainer (None: no sparse part)."""
        return self.input.weight

    def training_pass(self, x: SparseBatch | FingerprintBatch) -> TrunkPass:
        """Trunk output whose sparse first layer is a gradient leaf (no autograd through the table);
        the descriptor weights are ordinary dense parameters."""
        bits, descriptors = _split(x)
        with torch.no_grad():
            summed = F.embedding_bag(
                bits.indices, self.input.weight, bits.offsets, mode="sum", per_sample_weights=bits.values
            )
        summed.requires_grad_(True)
        pre_activation = self._with_descriptors(summed + self.input.bias, descriptors)
        return TrunkPass(self.from_first_layer(pre_activation), summed, bits)

    def from_first_layer(self, pre_activation: torch.Tensor) -> torch.Tensor:
        h = self.dropout(F.relu(pre_activation))
        for layer in self.hidden:
            h = self.dropout(F.relu(layer(h)))
        return h


class PartnerHead(nn.Module):
    """One output per task; regression columns predict standardised values.

    Buffers ``regression_mean`` / ``regression_std`` (n_tasks,) map standardised outputs
    back to the task's unit; they are fitted on the partner's training rows and stay private.
    With ``shared`` (the shared endpoints' names) a column whose endpoint is one of them
    reads the trunk's shared endpoint column through a private calibration
    ``calibration_scale * shared + calibration_offset`` (one scale and offset per such
    column, scale initialised to the endpoint's direction sign, offset to 0); the other
    columns are rows of the private ``linear`` layer.
    """

    is_regression: torch.Tensor  # bool (n_tasks,)
    regression_mean: torch.Tensor  # float32 (n_tasks,)
    regression_std: torch.Tensor  # float32 (n_tasks,)
    scaling_fitted: torch.Tensor  # bool scalar
    endpoint_column: torch.Tensor  # int64 (n calibrated,): shared endpoint column read (calibrated heads only)
    calibrated_column: torch.Tensor  # int64 (n calibrated,): task column it feeds
    column_order: torch.Tensor  # int64 (n_tasks,): [private, calibrated] -> task order

    def __init__(self, in_features: int, spec: HeadSpec, shared: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.spec = spec
        endpoint_columns = spec.shared_columns(tuple(shared))
        calibrated = np.flatnonzero(endpoint_columns >= 0)
        private = np.flatnonzero(endpoint_columns < 0)
        self.linear = nn.Linear(in_features, len(private)) if len(private) else None
        self.calibrated = len(calibrated) > 0
        if self.calibrated:
            signs = [
                1.0 if spec.column_kinds[j] == KIND_REGRESSION else direction_sign(spec.column_endpoints[j])
                for j in calibrated
            ]
            self.calibration_scale = nn.Parameter(torch.tensor(signs, dtype=torch.float32))
            self.calibration_offset = nn.Parameter(torch.zeros(len(calibrated)))
            self.register_buffer("endpoint_column", torch.from_numpy(endpoint_columns[calibrated].copy()))
            self.register_buffer("calibrated_column", torch.from_numpy(calibrated.copy()))
            order = np.argsort(np.concatenate([private, calibrated]), kind="stable")
            self.register_buffer("column_order", torch.from_numpy(order))
        is_regression = torch.tensor([k == KIND_REGRESSION for k in spec.column_kinds])
        self.register_buffer("is_regression", is_regression)
        self.register_buffer("regression_mean", torch.zeros(spec.n_tasks))
        self.register_buffer("regression_std", torch.ones(spec.n_tasks))
        self.register_buffer("scaling_fitted", torch.tensor(False))

    def forward(self, h: torch.Tensor, endpoints: torch.Tensor | None = None) -> torch.Tensor:
        """(n_rows, n_tasks) raw outputs: logits (classification), standardised values (regression).

        ``endpoints`` is the trunk's (n_rows, n shareable endpoints) shared columns; required
        when the head has calibrated columns.
        """
        if not self.calibrated:
            assert self.linear is not None
            return self.linear(h)
        if endpoints is None:
            raise ValueError("this head reads shared endpoint columns: pass trunk.endpoint_outputs(h)")
        calibrated = endpoints[:, self.endpoint_column] * self.calibration_scale + self.calibration_offset
        private = self.linear(h) if self.linear is not None else h.new_zeros((h.shape[0], 0))
        return torch.cat([private, calibrated], dim=1)[:, self.column_order]

    def to_task_scale(self, raw: torch.Tensor) -> torch.Tensor:
        """Probabilities for classification columns, values in task units for regression columns."""
        values = raw * self.regression_std + self.regression_mean
        return torch.where(self.is_regression, values, torch.sigmoid(raw))

    def standardise(self, values: torch.Tensor) -> torch.Tensor:
        """Task-unit targets -> the scale of raw regression outputs (classification untouched)."""
        return torch.where(self.is_regression, (values - self.regression_mean) / self.regression_std, values)


class MultitaskModel(nn.Module):
    """Shared trunk and one private head per partner.

    Parameters
    ----------
    n_bits
        Number of fingerprint columns (D).
    model_cfg
        Network shape.
    heads
        Partner name -> its head's output columns.
    """

    def __init__(
        self, n_bits: int, model_cfg: ModelConfig, heads: Mapping[str, HeadSpec], n_descriptors: int = 0
    ) -> None:
        super().__init__()
        if not heads:
            raise ValueError("MultitaskModel needs at least one head")
        self.n_bits = int(n_bits)
        self.model_cfg = model_cfg
        self.head_specs = dict(heads)
        self.n_descriptors = int(n_descriptors) if model_cfg.descriptors else 0
        self.trunk_version = 0  # incremented by load_trunk_state, watched by the Trainer
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(model_cfg.init_seed)
            self.trunk: TrunkModule = TRUNKS[model_cfg.trunk](self.n_bits, model_cfg, self.n_descriptors)
            shared = shared_endpoint_names(model_cfg.shared_endpoints) if self.trunk.endpoint_head is not None else ()
            self.heads = nn.ModuleDict(
                {name: PartnerHead(self.trunk.out_features, spec, shared) for name, spec in heads.items()}
            )
        # partner-private descriptor scaling (never in trunk_state); see model.scaling
        self.scalers = nn.ModuleDict(
            {name: DescriptorScaler(self.n_descriptors) for name in heads} if self.n_descriptors else {}
        )

    def head(self, partner: str) -> PartnerHead:
        """The private head of ``partner`` (typed access to ``heads[partner]``)."""
        head = self.heads[partner]
        assert isinstance(head, PartnerHead)
        return head

    def scaler(self, partner: str) -> DescriptorScaler:
        """The private descriptor scaling of ``partner`` (models that read descriptors)."""
        scaler = self.scalers[partner]
        assert isinstance(scaler, DescriptorScaler)
        return scaler

    def forward(self, x: Any, partner: str) -> torch.Tensor:
        """(n_rows, n_tasks of partner) raw outputs of a trunk batch (see :meth:`input_batch`)."""
        return self.head_outputs(partner, self.trunk(x))

    def head_outputs(self, partner: str, hidden: torch.Tensor) -> torch.Tensor:
        """(n_rows, n_tasks of partner) raw outputs from the trunk's output ``hidden``."""
        return self.head(partner)(hidden, self.trunk.endpoint_outputs(hidden))

    def _partner(self, partner: str | None) -> str:
        if partner is not None:
            return partner
        if len(self.heads) != 1:
            raise ValueError(f"the model has heads {sorted(self.heads)}: name the partner")
        return next(iter(self.heads))

    def input_batch(self, source: Any, rows: np.ndarray, partner: str | None = None) -> Any:
        """The trunk's batch for ``rows`` of a PreparedSet, StructureBatch, ``ModelInputs`` or CSR.

        ``partner`` chooses whose private descriptor scaling applies (default: the only head).
        """
        inputs = ModelInputs.of(source)
        rows = np.asarray(rows, dtype=np.int64)
        descriptors = None
        if self.n_descriptors:
            raw = inputs.require_descriptors(self.n_descriptors)[rows]
            descriptors = self.scaler(self._partner(partner))(raw)
        return self.trunk.make_batch(inputs, rows, descriptors)

    def fit_input_scaling(self, partner: str, source: Any, rows: np.ndarray) -> None:
        """Fit ``partner``'s private descriptor scaling on its training ``rows`` (once; no-op without descriptors)."""
        if not self.n_descriptors or bool(self.scaler(partner).fitted):
            return
        raw = ModelInputs.of(source).require_descriptors(self.n_descriptors)
        self.scaler(partner).fit(raw[np.asarray(rows, dtype=np.int64)])

    def trunk_state(self, exclude: Collection[str] = ()) -> dict[str, np.ndarray]:
        """Trunk parameters as float32 numpy arrays, in the trunk's state_dict order (a copy).

        ``exclude`` names tensors left out (e.g. ``INPUT_LAYER_NAMES`` when the first layer
        stays private to its partner, ``federation.defences``).
        """
        return {
            name: tensor.detach().cpu().numpy().astype(np.float32, copy=True)
            for name, tensor in self.trunk.state_dict().items()
            if name not in exclude
        }

    def load_trunk_state(self, state: Mapping[str, np.ndarray], exclude: Collection[str] = ()) -> None:
        """Copy ``state`` into the trunk in place (optimisers keep their references).

        ``state`` must hold every trunk tensor except those named in ``exclude``, which keep
        their values.

        Raises
        ------
        TrunkStateError
            If names or shapes differ from this trunk's, or a value is not finite.
        """
        own = {name: t for name, t in self.trunk.state_dict().items() if name not in exclude}
        check_trunk_state(state, {name: tuple(t.shape) for name, t in own.items()})
        with torch.no_grad():
            for name, tensor in own.items():
                tensor.copy_(torch.as_tensor(np.asarray(state[name], dtype=np.float32)))
        self.trunk_version += 1


def check_trunk_state(state: Mapping[str, np.ndarray], expected: Mapping[str, tuple[int, ...]]) -> None:
    """Raise :class:`TrunkStateError` unless ``state`` has exactly ``expected`` names and shapes, all finite."""
    missing, extra = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    if missing or extra:
        raise TrunkStateError(
            f"trunk state names differ: missing {missing}, unexpected {extra}",
            "build both models with the same ModelConfig and n_bits (hidden_sizes must match)",
        )
    for name, shape in expected.items():
        got = tuple(np.shape(state[name]))
        if got != shape:
            raise TrunkStateError(
                f"trunk array {name!r} has shape {got}, expected {shape}",
                "build both models with the same ModelConfig and the same fingerprint size (n_bits)",
            )
        if not np.all(np.isfinite(state[name])):
            raise TrunkStateError(f"trunk array {name!r} holds NaN or infinite values", "discard this update")


def _mpnn_trunk(n_bits: int, cfg: ModelConfig, n_descriptors: int) -> TrunkModule:
    from fedqsar.model.mpnn import MessagePassingTrunk  # imports chemprop (seconds) only when used

    return MessagePassingTrunk(n_bits, cfg, n_descriptors)


TRUNKS: dict[str, Callable[[int, ModelConfig, int], TrunkModule]] = {"ecfp": Trunk, "mpnn": _mpnn_trunk}
assert set(TRUNKS) == set(TRUNK_KINDS), "model.config.TRUNK_KINDS must list the registry's trunks"
