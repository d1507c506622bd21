"""Shared endpoint heads: one federated trunk column per shareable endpoint, private calibration per task."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from fedqsar.model.config import ModelConfig, TrainConfig
from fedqsar.model.endpoints import endpoints_shared_by, shareable_endpoints, shared_index
from fedqsar.model.io import load_model, save_model
from fedqsar.model.network import HeadSpec, MultitaskModel
from fedqsar.model.predict import predict
from fedqsar.model.training import Trainer
from fedqsar.prepared import PreparedSet

from .conftest import make_prepared


def _with_endpoints(prepared: PreparedSet, endpoints: list[str]) -> PreparedSet:
    prepared.tasks = prepared.tasks.assign(endpoint=endpoints)
    return prepared


def _model(heads: dict[str, HeadSpec], n_bits: int, mode: str = "shared") -> MultitaskModel:
    return MultitaskModel(n_bits, ModelConfig(hidden_sizes=(16,), dropout=0.0, endpoint_heads=mode), heads)


def test_only_adme_registry_endpoints_are_shareable():
    names = shareable_endpoints()
    assert {"logD7.4", "logS", "PPB"} <= set(names) and "pXC50" not in names
    assert shared_index("pXC50", names) == -1 and shared_index("", names) == -1 and shared_index(None, names) == -1
    assert shared_index("logS", names) == names.index("logS")


def test_the_consortium_list_keeps_endpoints_of_two_or_more_partners():
    tables = [pd.DataFrame({"endpoint": e}) for e in (["logS", "PPB"], ["logS", "efflux_ratio"], ["pXC50", "PPB"])]
    assert endpoints_shared_by(tables) == tuple(n for n in shareable_endpoints() if n in ("logS", "PPB"))
    assert endpoints_shared_by(tables, min_partners=3) == ()
    prepared = _with_endpoints(make_prepared(n_rows=60), ["logS", "efflux_ratio", "logS", "pXC50"])
    cfg = ModelConfig(hidden_sizes=(16,), endpoint_heads="shared", shared_endpoints=("logS", "PPB"))
    model = MultitaskModel(prepared.n_bits, cfg, {"A": HeadSpec.from_tasks(prepared.tasks)})
    assert model.trunk_state()["endpoint_head.weight"].shape == (2, 16)
    assert model.heads["A"].linear.weight.shape == (2, 16)  # efflux (not agreed on) and pXC50 stay private


def test_shared_columns_are_trunk_the_calibration_is_private():
    prepared = _with_endpoints(make_prepared(n_rows=60), ["logS", "", "logS", "pXC50"])
    spec = HeadSpec.from_tasks(prepared.tasks)
    names = shareable_endpoints()
    assert spec.shared_columns(names).tolist() == [shared_index("logS", names), -1, shared_index("logS", names), -1]
    model = _model({"A": spec}, prepared.n_bits)
    trunk = model.trunk_state()
    assert trunk["endpoint_head.weight"].shape == (len(names), 16)  # travels with the trunk
    head = model.heads["A"]
    assert head.linear.weight.shape == (2, 16)  # private columns: the other two tasks
    assert head.calibration_scale.shape == (2,) and head.calibration_offset.shape == (2,)
    assert not any(name.startswith("calibration") for name in trunk)  # the calibration never leaves


def test_a_calibrated_column_is_scale_times_shared_plus_offset():
    prepared = _with_endpoints(make_prepared(n_rows=60), ["logS", "", "logS", "pXC50"])
    model = _model({"A": HeadSpec.from_tasks(prepared.tasks)}, prepared.n_bits)
    head = model.heads["A"]
    with torch.no_grad():
        head.calibration_scale.copy_(torch.tensor([2.0, -0.5]))
        head.calibration_offset.copy_(torch.tensor([1.0, 3.0]))
    h = torch.randn(5, 16)
    raw = model.head_outputs("A", h)
    shared = model.trunk.endpoint_outputs(h)[:, shared_index("logS", shareable_endpoints())]
    assert torch.allclose(raw[:, 0], 2.0 * shared + 1.0)
    assert torch.allclose(raw[:, 2], -0.5 * shared + 3.0)
    private = head.linear(h)
    assert torch.allclose(raw[:, 1], private[:, 0]) and torch.allclose(raw[:, 3], private[:, 1])


def test_private_mode_keeps_one_private_column_per_task():
    prepared = _with_endpoints(make_prepared(n_rows=60), ["logS", "", "logS", "pXC50"])
    model = _model({"A": HeadSpec.from_tasks(prepared.tasks)}, prepared.n_bits, mode="private")
    assert "endpoint_head.weight" not in model.trunk_state()
    assert model.heads["A"].linear.weight.shape == (4, 16)
    assert not any("calibration" in name for name in model.state_dict())


def test_two_partners_train_one_shared_column_each_with_its_own_calibration():
    a = _with_endpoints(make_prepared(n_rows=200, seed=1), ["logD7.4", "", "logD7.4", ""])
    b = _with_endpoints(make_prepared(n_rows=200, seed=2), ["logD7.4", "", "logD7.4", ""])
    heads = {"A": HeadSpec.from_tasks(a.tasks), "B": HeadSpec.from_tasks(b.tasks)}
    model = _model(heads, a.n_bits)
    before = model.trunk_state()["endpoint_head.weight"].copy()
    scales = {name: model.heads[name].calibration_scale.detach().clone() for name in heads}
    Trainer(model, {"A": a, "B": b}, TrainConfig(batch_size=32, lr=1e-2)).train_epochs(2)
    column = shared_index("logD7.4", shareable_endpoints())
    moved = np.abs(model.trunk_state()["endpoint_head.weight"] - before).sum(axis=1)
    assert moved[column] > 0 and np.count_nonzero(moved) == 1  # only the measured endpoint's column learns
    for name in heads:  # each partner's calibration learned locally
        assert not torch.equal(model.heads[name].calibration_scale.detach(), scales[name])
    assert not torch.equal(model.heads["A"].calibration_offset, model.heads["B"].calibration_offset)


def test_save_load_round_trip_of_a_shared_model(tmp_path):
    prepared = _with_endpoints(make_prepared(n_rows=80), ["PPB", "", "PPB", "pXC50"])
    model = _model({"A": HeadSpec.from_tasks(prepared.tasks)}, prepared.n_bits)
    Trainer(model, {"A": prepared}, TrainConfig(batch_size=16)).train_epochs(1)
    save_model(tmp_path, model, model.model_cfg, TrainConfig(), prepared.tasks, {"prep_hash": "h"})
    saved = load_model(tmp_path)
    assert saved.model.head_specs["A"].column_endpoints == ("PPB", "", "PPB", "pXC50")
    assert np.allclose(predict(saved.model, "A", prepared.X), predict(model, "A", prepared.X), atol=1e-6)
    assert isinstance(saved.tasks, pd.DataFrame)


def test_classification_calibration_starts_as_a_threshold_on_the_standardised_value():
    prepared = _with_endpoints(make_prepared(n_rows=120), ["logS", "logS", "logS", ""])
    prepared.tasks = prepared.tasks.assign(assay_id=["A", "B", "A", "C"], threshold=[6.2, 0.5, np.nan, np.nan])
    model = _model({"A": HeadSpec.from_tasks(prepared.tasks)}, prepared.n_bits)
    Trainer(model, {"A": prepared}, TrainConfig(batch_size=32))  # fits scaling and calibration once
    head = model.heads["A"]
    mean, std = float(head.regression_mean[2]), float(head.regression_std[2])
    assert float(head.calibration_scale.detach()[0]) == pytest.approx(2.0)
    assert float(head.calibration_offset.detach()[0]) == pytest.approx(-2.0 * (6.2 - mean) / std, rel=1e-5)
    rows = np.flatnonzero(~np.isin(prepared.folds, [3, 4]))
    observed = prepared.Y[rows].tocsc()[:, 1]
    rate = float(observed.data.mean())  # task B has no regression sibling: its offset is the prior logit
    assert float(head.calibration_offset.detach()[1]) == pytest.approx(np.log(rate / (1 - rate)), rel=1e-4)
    assert (float(head.calibration_scale.detach()[2]), float(head.calibration_offset.detach()[2])) == (
        1.0,
        0.0,
    )  # regression
