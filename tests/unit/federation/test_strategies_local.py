"""FedAdam moves the trunk by server Adam; FedProx's proximal term keeps local training near the global trunk."""

from __future__ import annotations

import numpy as np
from flwr.common import Code, FitRes, Status, ndarrays_to_parameters, parameters_to_ndarrays

from fedqsar.federation.config import FederationConfig
from fedqsar.federation.payload import TrunkSpec, update_norm
from fedqsar.federation.strategy import build_strategy
from fedqsar.model.config import ModelConfig, TrainConfig
from fedqsar.model.network import HeadSpec, MultitaskModel
from fedqsar.model.regularisers import ProximalPull
from fedqsar.model.training import Trainer


class _Proxy:
    def __init__(self, node_id: int) -> None:
        self.node_id, self.cid = node_id, str(node_id)


def test_fedadam_steps_towards_the_average_by_server_lr() -> None:
    start = [np.zeros((4, 2), np.float32)]
    spec = TrunkSpec(("w",), ((4, 2),))
    strategy = build_strategy(FederationConfig(strategy="fedadam", server_lr=0.1, min_partners=1), start, spec, 2, {})
    results = [
        (_Proxy(i), FitRes(Status(Code.OK, ""), ndarrays_to_parameters([np.full((4, 2), v, np.float32)]), 10, {}))
        for i, v in enumerate((1.0, 3.0))
    ]
    aggregated, _ = strategy.aggregate_fit(1, results, [])
    moved = parameters_to_ndarrays(aggregated)[0]
    assert np.all(moved > 0) and np.all(moved < 2.0)  # towards the mean 2.0, by a server-Adam step, not onto it
    assert np.allclose(moved, moved.flat[0])


def _trained_distance(prepared, cfg, mu: float) -> float:
    model = MultitaskModel(
        prepared.n_bits, ModelConfig(hidden_sizes=(16,), dropout=0.0), {"A": HeadSpec.from_tasks(prepared.tasks)}
    )
    anchor = model.trunk_state()
    hooks = [ProximalPull(mu, anchor)] if mu > 0 else []
    Trainer(model, {"A": prepared}, cfg, hooks=hooks).train_epochs(3)
    return update_norm(model.trunk_state(), anchor)


def test_fedprox_term_keeps_the_trunk_closer_to_the_global_one(make_prepared) -> None:
    prepared = make_prepared(seed=3, n_rows=200)
    cfg = TrainConfig(batch_size=32, lr=1e-2)
    free = _trained_distance(prepared, cfg, mu=0.0)
    held = _trained_distance(prepared, cfg, mu=10.0)
    assert 0 < held < 0.8 * free
