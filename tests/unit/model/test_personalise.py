"""Personalisation: fine-tuning from the federated model, per-task selection on validation."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import torch

from fedqsar.model.config import ModelConfig, TrainConfig
from fedqsar.model.io import save_model
from fedqsar.model.network import HeadSpec, MultitaskModel
from fedqsar.model.personalise import (
    PersonalisationConfig,
    fine_tune,
    load_selection,
    save_selection,
    select_per_task,
    task_losses,
)
from fedqsar.model.training import fit

from .conftest import make_prepared

MODEL_CFG = ModelConfig(hidden_sizes=(32,), dropout=0.1, input_transform="binary")  # make_prepared holds bits
TRAIN_CFG = TrainConfig(epochs=6, batch_size=32, lr=1e-2, early_stopping_patience=3)


def _trained(prepared, seed: int = 0, epochs: int = 6) -> MultitaskModel:
    model = MultitaskModel(
        prepared.n_bits,
        ModelConfig(hidden_sizes=(32,), init_seed=seed, input_transform="binary"),
        {"A": HeadSpec.from_tasks(prepared.tasks)},
    )
    fit(model, "A", prepared, TrainConfig(epochs=epochs, batch_size=32, lr=1e-2, seed=seed))
    return model


def test_fine_tuning_with_zero_epochs_is_the_federated_model():
    prepared = make_prepared(n_rows=200, seed=1)
    federated = _trained(prepared)
    tuned = copy.deepcopy(federated)
    fine_tune(tuned, "A", prepared, TRAIN_CFG, PersonalisationConfig(head_epochs=0, full_epochs=0))
    assert all(
        torch.equal(a, b) for a, b in zip(federated.state_dict().values(), tuned.state_dict().values(), strict=True)
    )


def test_fine_tuning_never_raises_the_validation_loss_of_its_start():
    prepared = make_prepared(n_rows=200, seed=2)
    start = _trained(prepared, epochs=2)
    rows = prepared.rows_in([TRAIN_CFG.validation_fold])
    before = np.nansum(task_losses(start, "A", prepared, rows))
    tuned = copy.deepcopy(start)
    result = fine_tune(tuned, "A", prepared, TRAIN_CFG, PersonalisationConfig(head_epochs=4, full_epochs=4))
    assert result.head_stage is not None and result.full_stage is not None
    assert result.full_stage.best_validation_loss <= result.head_stage.best_validation_loss + 1e-9
    assert np.isfinite(before)


def test_selection_takes_the_lower_validation_loss_per_task_and_keeps_local_on_ties():
    prepared = make_prepared(n_rows=240, seed=3)
    good, weak = _trained(prepared, epochs=8), _trained(prepared, seed=5, epochs=1)
    rows = prepared.rows_in([TRAIN_CFG.validation_fold])
    selection = select_per_task({"local": weak, "federated": good}, "A", prepared, rows)
    losses = {name: task_losses(model, "A", prepared, rows) for name, model in (("local", weak), ("federated", good))}
    expected = tuple("federated" if losses["federated"][j] < losses["local"][j] else "local" for j in range(4))
    assert selection.choice == expected and "federated" in expected
    tie = select_per_task({"local": good, "federated": copy.deepcopy(good)}, "A", prepared, rows)
    assert tie.choice == ("local",) * 4


def test_a_challenger_replaces_local_only_when_it_wins_most_bootstrap_resamples():
    prepared = make_prepared(n_rows=240, seed=6)
    good, weak = _trained(prepared, epochs=8), _trained(prepared, seed=5, epochs=1)
    rows = prepared.rows_in([TRAIN_CFG.validation_fold])
    nudged = copy.deepcopy(good)
    with torch.no_grad():  # a model a hair worse than `good`: never a confident winner over it
        nudged.heads["A"].linear.bias.add_(1e-3)
    plain = select_per_task({"local": nudged, "federated": good}, "A", prepared, rows, min_confidence=0.0)
    gated = select_per_task({"local": weak, "federated": good}, "A", prepared, rows, min_confidence=0.9)
    careful = select_per_task({"local": good, "federated": nudged}, "A", prepared, rows, min_confidence=0.9)
    assert careful.choice == ("local",) * 4  # a challenger that is not clearly better never replaces local
    assert "federated" in gated.choice  # a clearly better one does
    table = gated.validation_losses
    chosen = table[
        (table.candidate == "federated")
        & table.task.isin(
            [
                t
                for t, c in zip(prepared.tasks.sort_values("task_id")["task_name"], gated.choice, strict=True)
                if c == "federated"
            ]
        )
    ]
    assert (chosen["win_confidence"] >= 0.9).all()
    assert len(plain.choice) == 4


def test_selection_predicts_each_task_from_its_member_and_survives_save_and_load(tmp_path: Path):
    prepared = make_prepared(n_rows=240, seed=4)
    a, b = _trained(prepared, epochs=8), _trained(prepared, seed=9, epochs=1)
    rows = prepared.rows_in([TRAIN_CFG.validation_fold])
    selection = select_per_task({"local": b, "federated": a}, "A", prepared, rows)
    selection.choice = ("local", "federated", "federated", "local")  # force a mix
    X = prepared.X[:50]
    out = selection.predict(X)
    from fedqsar.model.predict import predict

    assert np.array_equal(out[:, [0, 3]], predict(b, "A", X)[:, [0, 3]])
    assert np.array_equal(out[:, [1, 2]], predict(a, "A", X)[:, [1, 2]])

    def save_member(folder: Path, model: MultitaskModel) -> Path:
        return save_model(folder, model, MODEL_CFG, TRAIN_CFG, prepared.tasks, {"prep_hash": "x"}, partner="A")

    save_selection(tmp_path / "personalised", selection, save_member)
    loaded = load_selection(tmp_path / "personalised")
    assert loaded.choice == selection.choice
    assert np.array_equal(loaded.predict(X), out)


def test_cross_fitting_allows_a_challenger_that_wins_everywhere_and_guards_against_one_that_wins_by_chance():
    from fedqsar.model.personalise import _choose, cross_fitted_confidence

    rng = np.random.default_rng(0)
    rows = np.arange(400)
    reference = rng.exponential(1.0, size=(400, 3))
    better = reference * 0.7  # clearly better on every row of every task: kept at any threshold
    threshold = cross_fitted_confidence([reference, better])
    assert _choose([reference, better], rows, threshold, 500, 0)[0] == [1, 1, 1]
    noise = reference * np.exp(rng.normal(0, 0.5, size=reference.shape))  # no better on average
    assert cross_fitted_confidence([reference, noise]) >= 0.8
