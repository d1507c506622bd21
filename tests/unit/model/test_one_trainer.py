"""One training engine: pooled, local and FedProx are the same Trainer with other arguments."""

from __future__ import annotations

import numpy as np
import torch

from fedqsar.evaluation.pooled import fit_pooled, pooled_model
from fedqsar.model.config import ModelConfig, TrainConfig
from fedqsar.model.network import HeadSpec, MultitaskModel
from fedqsar.model.regularisers import ProximalPull
from fedqsar.model.training import Trainer, fit

from .conftest import make_prepared

MODEL_CFG = ModelConfig(hidden_sizes=(32,), dropout=0.2)
TRAIN_CFG = TrainConfig(epochs=4, batch_size=32, lr=1e-2, early_stopping_patience=0)


def _states_equal(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_pooled_training_with_one_partner_is_local_training_bit_for_bit():
    prepared = make_prepared(n_rows=200, seed=1)
    local = MultitaskModel(prepared.n_bits, MODEL_CFG, {"A": HeadSpec.from_tasks(prepared.tasks)})
    fit(local, "A", prepared, TRAIN_CFG)
    pooled = fit_pooled({"A": prepared}, MODEL_CFG, TRAIN_CFG).model
    assert _states_equal(local.state_dict(), pooled.state_dict())


def test_pooled_plan_covers_every_partners_training_rows_once_per_epoch_in_single_partner_batches():
    sets = {"A": make_prepared(n_rows=120, seed=1), "B": make_prepared(n_rows=90, seed=2)}
    trainer = Trainer(pooled_model(sets, MODEL_CFG), sets, TRAIN_CFG)
    plan = trainer.plan()
    for name, part in trainer.parts.items():
        rows = np.concatenate([rows for partner, rows in plan if partner == name])
        assert np.array_equal(np.sort(rows), np.sort(part.train_rows))
    assert len({partner for partner, _ in plan[:4]}) > 1 or len(plan) <= 4  # interleaved across partners
    assert all(len(rows) <= TRAIN_CFG.batch_size for _, rows in plan)


def test_pooled_training_moves_every_partners_head_and_one_shared_trunk():
    sets = {"A": make_prepared(n_rows=120, seed=1), "B": make_prepared(n_rows=90, seed=2)}
    model = pooled_model(sets, MODEL_CFG)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    Trainer(model, sets, TRAIN_CFG).train_epochs(1)
    after = model.state_dict()
    for name in ("heads.A.linear.weight", "heads.B.linear.weight", "trunk.input.weight", "trunk.input.bias"):
        assert not torch.equal(before[name], after[name]), name


def test_head_only_training_leaves_the_trunk_untouched_and_lowers_the_training_loss():
    prepared = make_prepared(n_rows=200, seed=3)
    model = MultitaskModel(prepared.n_bits, MODEL_CFG, {"A": HeadSpec.from_tasks(prepared.tasks)})
    trunk = model.trunk_state()
    trainer = Trainer(model, {"A": prepared}, TRAIN_CFG, trainable="head")
    assert trainer.sparse is None
    logs = trainer.train_epochs(5)
    assert all(np.array_equal(trunk[k], v) for k, v in model.trunk_state().items())
    assert logs[-1].train_loss < logs[0].train_loss


def test_proximal_pull_with_zero_mu_changes_nothing():
    prepared = make_prepared(n_rows=150, seed=4)
    models = [MultitaskModel(prepared.n_bits, MODEL_CFG, {"A": HeadSpec.from_tasks(prepared.tasks)}) for _ in range(2)]
    Trainer(models[0], {"A": prepared}, TRAIN_CFG).train_epochs(2)
    Trainer(models[1], {"A": prepared}, TRAIN_CFG, hooks=[ProximalPull(0.0, models[1].trunk_state())]).train_epochs(2)
    assert _states_equal(models[0].state_dict(), models[1].state_dict())
