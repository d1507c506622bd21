"""FedAdam moves the trunk by server Adam; FedProx's proximal term keeps local training near the global trunk."""

from __future__ import annotations

import numpy as np
from flwr.common import Code, FitRes, Status, ndarrays_to_parameters, parameters_to_ndarrays

from fedqsar.federation.config import FederationConfig
from fedqsar.federation.payload import TrunkSpec
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
    moved = model.trunk_state()
    return float(np.sqrt(sum(np.sum((moved[n].astype(np.float64) - anchor[n]) ** 2) for n in anchor)))


def test_fedprox_term_keeps_the_trunk_closer_to_the_global_one(make_prepared) -> None:
    prepared = make_prepared(seed=3, n_rows=200)
    cfg = TrainConfig(batch_size=32, lr=1e-2)
    free = _trained_distance(prepared, cfg, mu=0.0)
    held = _trained_distance(prepared, cfg, mu=10.0)
    assert 0 < held < 0.8 * free


def _fit_results(values: list[float], shape=(4, 2), counts=None) -> list:
    counts = counts or [10] * len(values)
    return [
        (_Proxy(i), FitRes(Status(Code.OK, ""), ndarrays_to_parameters([np.full(shape, v, np.float32)]), n, {}))
        for i, (v, n) in enumerate(zip(values, counts, strict=True))
    ]


def test_every_registered_strategy_is_flowers_own_and_aggregates() -> None:
    from flwr.server.strategy import Strategy

    from fedqsar.federation.config import STRATEGY_NAMES
    from fedqsar.federation.strategy import STRATEGIES

    assert set(STRATEGIES) == set(STRATEGY_NAMES)
    spec = TrunkSpec(("w",), ((4, 2),))
    for name in STRATEGY_NAMES:
        strategy = build_strategy(
            FederationConfig(strategy=name, min_partners=1), [np.zeros((4, 2), np.float32)], spec, 2, {}
        )
        assert isinstance(strategy.inner, Strategy) and type(strategy.inner).__module__.startswith("flwr.")
        aggregated, _ = strategy.aggregate_fit(1, _fit_results([1.0, 3.0]), [])
        moved = parameters_to_ndarrays(aggregated)[0]
        assert np.all(moved > 0), name  # every strategy moves towards the partners' mean


def test_fedavgm_server_lr_scales_the_averaged_update() -> None:
    spec = TrunkSpec(("w",), ((4, 2),))
    start = [np.zeros((4, 2), np.float32)]
    cfg = FederationConfig(strategy="fedavgm", server_lr=4.0, min_partners=1)
    aggregated, _ = build_strategy(cfg, start, spec, 2, {}).aggregate_fit(1, _fit_results([1.0, 3.0]), [])
    assert np.allclose(parameters_to_ndarrays(aggregated)[0], 8.0)  # 4 x the mean update 2.0


def test_server_optimiser_state_survives_a_restart() -> None:
    """FedAvgM with momentum: a strategy rebuilt from the checkpointed state continues identically."""
    spec = TrunkSpec(("w",), ((4, 2),))
    cfg = FederationConfig(strategy="fedavgm", server_lr=1.0, server_momentum=0.9, min_partners=1)
    first = build_strategy(cfg, [np.zeros((4, 2), np.float32)], spec, 2, {})
    after_one, _ = first.aggregate_fit(1, _fit_results([1.0, 3.0]), [])
    trunk = parameters_to_ndarrays(after_one)
    state = first.server_state()
    assert list(state) == ["momentum_vector/0000"]
    resumed = build_strategy(cfg, trunk, spec, 2, {})
    resumed.resume_from(state, {})
    continued, _ = first.aggregate_fit(2, _fit_results([3.0, 5.0]), [])
    again, _ = resumed.aggregate_fit(2, _fit_results([3.0, 5.0]), [])
    assert np.allclose(parameters_to_ndarrays(continued)[0], parameters_to_ndarrays(again)[0])
    adam = build_strategy(FederationConfig(strategy="fedadam", min_partners=1), trunk, spec, 2, {})
    adam.aggregate_fit(1, _fit_results([1.0, 3.0]), [])
    assert set(adam.server_state()) == {"m_t/0000", "v_t/0000"}


def test_dp_noise_is_added_before_the_server_optimiser() -> None:
    """FedAdam sees the noised mean: its first step is eta * sign(noised mean update), never the clean one."""
    from fedqsar.federation.config import DPConfig

    spec = TrunkSpec(("w",), ((64, 8),))
    dp = DPConfig(enabled=True, clipping_norm=1.0, noise_multiplier=4.0)
    cfg = FederationConfig(strategy="fedadam", server_lr=0.1, min_partners=1, dp=dp)
    strategy = build_strategy(cfg, [np.zeros((64, 8), np.float32)], spec, 2, {})
    aggregated, _ = strategy.aggregate_fit(1, _fit_results([1e-3, 1e-3], shape=(64, 8)), [])
    moved = parameters_to_ndarrays(aggregated)[0]
    assert (moved < 0).mean() > 0.3  # noise (std 2) dominates the tiny update: many coordinates step backwards
    assert np.allclose(np.abs(moved), np.abs(moved).flat[0], rtol=1e-3)  # each a server-Adam step of one size
    assert strategy.last_participants == [0, 1] and strategy.privacy.epsilon > 0


def test_shared_endpoint_heads_with_a_server_lr_above_one_are_warned_about(caplog, tmp_path) -> None:
    """Measured unstable (BENCHMARKS.md): the plan says so and how to fix it; at server lr 1 it stays quiet."""
    from fedqsar.federation.server_app import ServerPlan

    shared = ModelConfig(endpoint_heads="shared")
    with caplog.at_level("WARNING", logger="fedqsar.federation"):
        ServerPlan(FederationConfig(), shared, TrainConfig(), tmp_path, 3)
    assert "server_lr = 1" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="fedqsar.federation"):
        ServerPlan(FederationConfig(server_lr=1.0), shared, TrainConfig(), tmp_path, 3)
        ServerPlan(FederationConfig(), ModelConfig(), TrainConfig(), tmp_path, 3)
    assert caplog.text == ""
