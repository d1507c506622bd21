"""Pooled training — the upper bound: all partners' data in one place, one model.

One ``MultitaskModel`` with every partner's head, trained by the one ``Trainer`` over a plan
of (partner head, rows) batches drawn from all partners (see ``model.training``): the same
sparse first-layer update path, loss, seeding and early stopping as local training, with
the same ``TrainConfig`` (epochs, patience, lr, batch size), so the tuning budget is the
same. Early stopping watches all partners' validation folds. With a single partner pooled
training *is* local training. Simulation only: nobody can pool real data.
"""

from __future__ import annotations

from collections.abc import Mapping

from fedqsar.errors import IncompatiblePartnersError
from fedqsar.model.config import ModelConfig, TrainConfig
from fedqsar.model.network import HeadSpec, MultitaskModel
from fedqsar.model.training import FitResult, Trainer, run_fit
from fedqsar.prepared import PreparedSet


def pooled_model(prepared: Mapping[str, PreparedSet], model_cfg: ModelConfig) -> MultitaskModel:
    """A model with one head per partner over the partners' common fingerprint width."""
    n_bits = {p.n_bits for p in prepared.values()}
    if len(n_bits) != 1:
        raise IncompatiblePartnersError(
            f"partners have different fingerprint widths {sorted(n_bits)}",
            "prepare every partner with the same PrepConfig",
        )
    heads = {name: HeadSpec.from_tasks(p.tasks) for name, p in prepared.items()}
    widths = {len(p.descriptor_names) for p in prepared.values()}
    if len(widths) != 1:
        raise IncompatiblePartnersError(
            f"partners have different descriptor blocks {sorted(widths)}",
            "prepare every partner with the same PrepConfig",
        )
    return MultitaskModel(n_bits.pop(), model_cfg, heads, widths.pop())


def fit_pooled(prepared: Mapping[str, PreparedSet], model_cfg: ModelConfig, train_cfg: TrainConfig) -> FitResult:
    """Train the pooled model with early stopping on the partners' validation folds."""
    return run_fit(Trainer(pooled_model(prepared, model_cfg), prepared, train_cfg))
