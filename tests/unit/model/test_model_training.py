"""Local training: memorisation, seeds, folds, continuation, trunk replacement, state."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fedqsar.errors import ModelDataMismatchError, TrainingError
from fedqsar.model.config import ModelConfig, TrainConfig
from fedqsar.model.network import HeadSpec, MultitaskModel
from fedqsar.model.predict import predict
from fedqsar.model.training import Trainer, fit

from .conftest import make_prepared


def _model(prepared, hidden=(64,), dropout=0.0, seed=0, input_transform="log1p"):
    cfg = ModelConfig(hidden_sizes=hidden, dropout=dropout, init_seed=seed, input_transform=input_transform)
    return MultitaskModel(prepared.n_bits, cfg, {"p": HeadSpec.from_tasks(prepared.tasks)})


def test_small_model_memorises_a_tiny_set():
    prepared = make_prepared(n_rows=40, n_bits=128, censored_fraction=0.0, observed_fraction=1.0)
    model = _model(prepared, input_transform="binary")  # the synthetic set holds bits (1.0), not counts
    trainer = Trainer(model, {"p": prepared}, TrainConfig(batch_size=8, lr=1e-2, test_fold=None, validation_fold=99))
    rows = np.arange(prepared.n_compounds)
    trainer.train_epochs(150, rows=rows)
    pred = predict(model, "p", prepared.X)
    Y = prepared.Y.toarray()
    assert np.all((pred[:, :2] > 0.5) == (Y[:, :2] == 1))  # every training label recovered
    assert np.max(np.abs(pred[:, 2:] - Y[:, 2:])) < 0.15  # regression values within 0.15 units


def test_same_seed_gives_identical_models_and_other_seed_differs():
    prepared = make_prepared(n_rows=200)
    cfg = TrainConfig(epochs=3, batch_size=32, seed=7)
    states = []
    for seed in (7, 7, 8):
        model = _model(prepared, dropout=0.3)
        Trainer(model, {"p": prepared}, TrainConfig(epochs=3, batch_size=32, seed=seed)).train_epochs(3)
        states.append(model.trunk_state())
    assert all(np.array_equal(states[0][k], states[1][k]) for k in states[0])
    assert not np.array_equal(states[0]["input.weight"], states[2]["input.weight"])
    assert cfg.seed == 7


def test_training_never_reads_held_out_folds():
    """Labels of the validation and test folds are poisoned with NaN: training must not see them."""
    prepared = make_prepared(n_rows=300)
    held_out = np.isin(prepared.folds, [3, 4])
    rows_of_entries = np.repeat(np.arange(prepared.n_compounds), np.diff(prepared.Y.indptr))
    prepared.Y.data[held_out[rows_of_entries]] = np.nan
    trainer = Trainer(_model(prepared), {"p": prepared}, TrainConfig(batch_size=32))
    logs = trainer.train_epochs(2)
    assert all(np.isfinite(log.train_loss) for log in logs)
    assert not np.isin(trainer.train_rows, prepared.rows_in([3, 4])).any()


def test_fit_selects_on_validation_fold_and_generalises():
    prepared = make_prepared(n_rows=800, seed=3)
    result = fit(
        _model(prepared, dropout=0.1),
        "p",
        prepared,
        TrainConfig(epochs=30, batch_size=64, lr=3e-3, early_stopping_patience=3),
    )
    losses = [log.validation_loss for log in result.history]
    assert result.best_validation_loss == pytest.approx(min(losses))
    assert result.trainer.loss(result.trainer.validation_rows) == pytest.approx(
        min(losses), rel=1e-5
    )  # best epoch restored
    metrics = result.validation_metrics.set_index(["task", "metric"])["value"]
    assert metrics[("T0_cla", "auc_roc")] > 0.75
    assert metrics[("T2_reg", "r2")] > 0.4


def test_train_epochs_continues_the_epoch_counter_and_schedule():
    prepared = make_prepared(n_rows=120)
    trainer = Trainer(
        _model(prepared), {"p": prepared}, TrainConfig(lr=1e-2, lr_schedule="step", lr_step_epochs=2, lr_decay=0.5)
    )
    first = trainer.train_epochs(2)
    second = trainer.train_epochs(2)
    assert [log.epoch for log in first + second] == [0, 1, 2, 3]
    assert [log.lr for log in first + second] == pytest.approx([1e-2, 1e-2, 5e-3, 5e-3])


def test_steps_adding_up_to_whole_epochs_equal_train_epochs():
    prepared = make_prepared(n_rows=150)
    cfg = TrainConfig(batch_size=32, lr=3e-3)
    by_epochs, by_steps = _model(prepared), _model(prepared)
    epochs = Trainer(by_epochs, {"p": prepared}, cfg)
    epochs.train_epochs(2)
    steps = Trainer(by_steps, {"p": prepared}, cfg)
    per_epoch = len(steps.plan())
    logs = steps.train_steps(3) + steps.train_steps(2 * per_epoch - 3)
    assert (steps.epoch, steps.cursor) == (2, 0)
    assert [log.epoch for log in logs] == [0, 0, 1]  # the second call finishes epoch 0, then runs epoch 1
    assert sum(log.n_rows for log in logs) == 2 * len(steps.train_rows)
    for key, value in by_epochs.state_dict().items():  # no dropout here: identical numerics
        assert torch.allclose(value, by_steps.state_dict()[key], atol=1e-6), key


def test_steps_continue_after_a_private_state_round_trip():
    prepared = make_prepared(n_rows=150)
    cfg = TrainConfig(batch_size=32, trunk_moments_on_replace="keep")
    model_a, model_b = _model(prepared, dropout=0.3), _model(prepared, dropout=0.3)
    trainer_a = Trainer(model_a, {"p": prepared}, cfg)
    trainer_a.train_steps(7)
    assert trainer_a.epoch * len(trainer_a.plan()) + trainer_a.cursor == 7 and trainer_a.cursor > 0
    trainer_b = Trainer(model_b, {"p": prepared}, cfg)
    model_b.load_trunk_state(model_a.trunk_state())
    trainer_b.load_state_dict(trainer_a.state_dict())
    assert (trainer_b.epoch, trainer_b.cursor) == (trainer_a.epoch, trainer_a.cursor)
    trainer_a.train_steps(4)
    trainer_b.train_steps(4)
    for key, value in model_a.state_dict().items():
        assert torch.allclose(value, model_b.state_dict()[key], atol=1e-6), key


def test_head_only_steps_leave_the_trunk_and_its_moments_untouched():
    prepared = make_prepared(n_rows=150)
    model = _model(prepared, dropout=0.2)
    trainer = Trainer(model, {"p": prepared}, TrainConfig(batch_size=32, weight_decay=0.1))
    trainer.train_steps(2)
    trunk, steps = model.trunk_state(), trainer.sparse.row_steps.clone()
    head = {k: v.clone() for k, v in model.heads["p"].state_dict().items()}
    trainer.train_steps(3, head_only=True)
    assert all(np.array_equal(trunk[k], v) for k, v in model.trunk_state().items())
    assert torch.equal(trainer.sparse.row_steps, steps)
    assert not torch.equal(model.heads["p"].linear.weight, head["linear.weight"])
    assert trainer.epoch * len(trainer.plan()) + trainer.cursor == 5  # the same plan of batches continues
    trainer.train_steps(1)  # and the next full step trains the trunk again
    assert not np.array_equal(trunk["input.weight"], model.trunk_state()["input.weight"])


def test_replacing_the_trunk_resets_trunk_moments_but_keeps_head_moments():
    prepared = make_prepared(n_rows=120)
    model = _model(prepared)
    trainer = Trainer(model, {"p": prepared}, TrainConfig(batch_size=32))
    trainer.train_epochs(1)
    assert trainer.sparse.row_steps.sum() > 0
    head_param = next(model.heads["p"].parameters())
    fresh = _model(prepared, seed=5)
    model.load_trunk_state(fresh.trunk_state())
    assert np.array_equal(model.trunk_state()["input.weight"], fresh.trunk_state()["input.weight"])
    steps_before = int(trainer.dense.state[head_param]["step"])
    trainer.train_epochs(1)
    batches = int(np.ceil(len(trainer.train_rows) / 32))
    assert int(trainer.sparse.row_steps.max()) <= batches  # restarted at zero before this epoch
    assert int(trainer.dense.state[head_param]["step"]) == steps_before + batches


def test_keep_policy_carries_trunk_moments_over():
    prepared = make_prepared(n_rows=120)
    model = _model(prepared)
    trainer = Trainer(model, {"p": prepared}, TrainConfig(batch_size=32, trunk_moments_on_replace="keep"))
    trainer.train_epochs(1)
    steps = trainer.sparse.row_steps.clone()
    model.load_trunk_state(model.trunk_state())
    trainer.train_epochs(1)
    assert torch.all(trainer.sparse.row_steps >= steps) and trainer.sparse.row_steps.sum() > steps.sum()


def test_private_state_round_trip_continues_identically():
    prepared = make_prepared(n_rows=150)
    cfg = TrainConfig(batch_size=32)
    model_a = _model(prepared)
    trainer_a = Trainer(model_a, {"p": prepared}, cfg)
    trainer_a.train_epochs(2)
    state = trainer_a.state_dict()
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    assert not any(k.startswith("trunk.") for k in state)  # the trunk is global, not private state
    model_b = _model(prepared, seed=9)
    model_b.load_trunk_state(model_a.trunk_state())
    trainer_b = Trainer(model_b, {"p": prepared}, cfg)
    trainer_b.load_state_dict(state)
    for model in (model_a, model_b):  # a federated round: both receive the same global trunk
        model.load_trunk_state(model_a.trunk_state())
    trainer_a.train_epochs(1)
    trainer_b.train_epochs(1)
    for key, value in model_a.state_dict().items():
        assert torch.allclose(value, model_b.state_dict()[key], atol=1e-6), key


def test_incompatible_head_is_refused_with_a_fix():
    prepared = make_prepared(n_rows=50)
    model = MultitaskModel(prepared.n_bits, ModelConfig(hidden_sizes=(8,)), {"p": HeadSpec(1, 1)})
    with pytest.raises(ModelDataMismatchError, match="HeadSpec.from_tasks") as info:
        Trainer(model, {"p": prepared}, TrainConfig())
    assert info.value.exit_code == 3  # a compatibility error
    with pytest.raises(TrainingError, match="no head"):
        Trainer(model, {"other": prepared}, TrainConfig())


def test_fit_refuses_an_empty_validation_fold():
    prepared = make_prepared(n_rows=50)
    with pytest.raises(TrainingError, match="validation fold 7"):
        fit(_model(prepared), "p", prepared, TrainConfig(validation_fold=7))


def test_frozen_trunk_tensors_stay_while_the_rest_trains():
    """A probing candidate's own first layer trains under fixed consortium layers (``frozen``)."""
    prepared = make_prepared(n_rows=120)
    model = _model(prepared, hidden=(32, 16))
    before = model.trunk_state()
    head_before = model.head("p").linear.weight.detach().clone()
    frozen = ("hidden.0.weight", "hidden.0.bias")
    Trainer(model, {"p": prepared}, TrainConfig(batch_size=16, lr=1e-2), frozen=frozen).train_epochs(2)
    after = model.trunk_state()
    assert all(np.array_equal(before[name], after[name]) for name in frozen)
    assert not np.array_equal(before["input.weight"], after["input.weight"])  # the row-sparse table trains
    assert not np.array_equal(before["input.bias"], after["input.bias"])
    assert not torch.equal(head_before, model.head("p").linear.weight)
    with pytest.raises(TrainingError, match="not trunk parameters"):
        Trainer(model, {"p": prepared}, TrainConfig(), frozen=("hidden.9.weight",))
