"""Network layout, trunk exchange, predictions, sensitivities, save/load."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch

from fedqsar.config import to_dict
from fedqsar.errors import ChecksumError, CorruptArtefactError, ModelFileError, TrunkStateError
from fedqsar.model.config import ModelConfig, TrainConfig
from fedqsar.model.io import load_model, save_model
from fedqsar.model.network import HeadSpec, MultitaskModel
from fedqsar.model.predict import predict, trunk_embedding
from fedqsar.model.training import Trainer
from fedqsar.prep.config import PrepConfig
from fedqsar.prep.manifest import Manifest

from .conftest import make_prepared


def _trained(prepared, hidden=(32, 16)):
    model = MultitaskModel(
        prepared.n_bits, ModelConfig(hidden_sizes=hidden), {"p": HeadSpec.from_tasks(prepared.tasks)}
    )
    Trainer(model, {"p": prepared}, TrainConfig(batch_size=32)).train_epochs(3)
    return model


def test_head_spec_from_tasks_keeps_the_tasks_order():
    tasks = pd.DataFrame({"task_id": [2, 0, 1], "kind": ["classification", "regression", "classification"]})
    spec = HeadSpec.from_tasks(tasks)
    assert spec.column_kinds == ("regression", "classification", "classification")
    assert spec.regression_columns.tolist() == [0] and spec.classification_columns.tolist() == [1, 2]


def test_same_config_builds_the_same_initial_trunk_and_heads_are_per_partner():
    cfg = ModelConfig(hidden_sizes=(8,))
    a = MultitaskModel(64, cfg, {"x": HeadSpec(1, 0)})
    b = MultitaskModel(64, cfg, {"y": HeadSpec(0, 2), "z": HeadSpec(1, 1)})
    assert all(np.array_equal(a.trunk_state()[k], b.trunk_state()[k]) for k in a.trunk_state())
    assert set(b.heads) == {"y", "z"} and isinstance(b.heads, torch.nn.ModuleDict)
    assert list(a.trunk_state()) == list(a.trunk.state_dict())
    assert all(v.dtype == np.float32 for v in a.trunk_state().values())


def test_load_trunk_state_refuses_wrong_names_shapes_and_nan():
    model = MultitaskModel(64, ModelConfig(hidden_sizes=(8,)), {"x": HeadSpec(1, 0)})
    state = model.trunk_state()
    with pytest.raises(TrunkStateError, match="missing"):
        model.load_trunk_state({k: v for k, v in state.items() if k != "input.bias"})
    with pytest.raises(TrunkStateError, match="shape"):
        model.load_trunk_state({**state, "input.weight": np.zeros((32, 8), np.float32)})
    with pytest.raises(TrunkStateError, match="NaN"):
        model.load_trunk_state({**state, "input.bias": np.full(8, np.nan, np.float32)})


def test_predictions_are_probabilities_and_task_unit_values_in_task_order():
    prepared = make_prepared(n_rows=200)
    pred = predict(_trained(prepared), "p", prepared.X)
    assert pred.shape == (200, 4)
    assert np.all((pred[:, :2] > 0) & (pred[:, :2] < 1))
    assert 4.0 < pred[:, 2:].mean() < 8.0  # regression in pXC50 units (data centred on 6), not standardised


def test_trunk_embedding_has_last_hidden_width_and_is_deterministic():
    prepared = make_prepared(n_rows=50)
    model = _trained(prepared)
    model.train()
    first, second = trunk_embedding(model, prepared.X), trunk_embedding(model, prepared.X)
    assert first.shape == (50, 16) and np.array_equal(first, second) and np.all(first >= 0)
    assert model.training  # mode restored


def test_occlusion_sensitivity_of_a_model_equals_prediction_without_the_bit():
    from fedqsar.trust.attribution import occlusion_sensitivity

    prepared = make_prepared(n_rows=60)
    model = _trained(prepared)
    row = prepared.X[5]
    bits, scores, _ = occlusion_sensitivity(lambda X: predict(model, "p", X), row)
    assert sorted(bits.tolist()) == sorted(row.indices.tolist())
    bit = row.indices[3]
    without = row.copy().tolil()
    without[0, bit] = 0
    expected = predict(model, "p", row)[0, 2] - predict(model, "p", sp.csr_matrix(without))[0, 2]
    assert scores[bits.tolist().index(int(bit)), 2] == pytest.approx(float(expected), abs=1e-5)


def test_save_load_round_trip(tmp_path):
    prepared = make_prepared(n_rows=100)
    model = _trained(prepared)
    save_model(tmp_path / "m", model, model.model_cfg, TrainConfig(epochs=3), prepared.tasks, prepared.manifest)
    saved = load_model(tmp_path / "m")
    assert np.array_equal(predict(saved.model, "p", prepared.X), predict(model, "p", prepared.X))
    assert saved.partner == "p" and saved.prep_hash == prepared.manifest["prep_hash"] and len(saved.manifest_hash) == 64
    assert saved.train_cfg == TrainConfig(epochs=3) and saved.model_cfg == model.model_cfg
    pd.testing.assert_frame_equal(saved.tasks, prepared.tasks.reset_index(drop=True))
    assert not list((tmp_path / "m").glob("*.pt")) and not list((tmp_path / "m").glob("*.pkl"))


def test_load_model_errors_say_what_to_do(tmp_path):
    with pytest.raises(ModelFileError, match="fedqsar train"):
        load_model(tmp_path / "nothing")
    prepared = make_prepared(n_rows=30)
    model = _trained(prepared)
    save_model(tmp_path / "m", model, model.model_cfg, TrainConfig(), prepared.tasks, prepared.manifest)
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    config["model_config"]["hidden_sizes"] = [99, 16]
    (tmp_path / "m" / "config.json").write_text(json.dumps(config))
    with pytest.raises(CorruptArtefactError, match="do not fit"):
        load_model(tmp_path / "m")
    (tmp_path / "m" / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ChecksumError, match="model.safetensors"):  # its recorded sha256 no longer matches
        load_model(tmp_path / "m")
    config["files"]["model.safetensors"] = hashlib.sha256(b"not a safetensors file").hexdigest()
    (tmp_path / "m" / "config.json").write_text(json.dumps(config))
    with pytest.raises(CorruptArtefactError, match="model weights .*model.safetensors is corrupt"):
        load_model(tmp_path / "m")


def test_saved_model_parses_its_prep_config_in_one_place(tmp_path):
    prepared = make_prepared(n_rows=30)
    model = _trained(prepared)
    manifest = Manifest.from_dict({**prepared.manifest, "prep_config": to_dict(PrepConfig())})
    save_model(tmp_path / "m", model, model.model_cfg, TrainConfig(), prepared.tasks, manifest)
    saved = load_model(tmp_path / "m")
    assert saved.prep_settings() == PrepConfig() and saved.key_id == manifest.key_id
    assert saved.task_names == prepared.task_names and saved.column_of(prepared.task_names[-1]) == prepared.n_tasks - 1
    saved.prep_config = {}
    with pytest.raises(ModelFileError, match="does not record the preparation settings"):
        saved.prep_settings()
    saved.prep_config = {"fingerprint": {"radius": "wide"}}
    with pytest.raises(ModelFileError, match="unreadable prep config"):
        saved.prep_settings()
