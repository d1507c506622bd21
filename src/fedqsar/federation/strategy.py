"""Server-side aggregation: Flower's strategies, picked by name, behind one guard.

These are Flower's legacy ``Strategy`` classes because SecAgg+ needs them (see the
``fedqsar.federation`` package docstring).

``STRATEGIES`` maps ``FederationConfig.strategy`` to a builder of Flower's own strategy
(weighted FedAvg, FedAvgM, FedProx, FedAdam, FedYogi, FedAdagrad) and its default server
learning rate. ``GuardedStrategy`` wraps it to

* send every partner the round's training instructions (round, local epochs, proximal mu,
  DP clipping norm);
* refuse a round with fewer than ``min_partners`` updates (the trunk stays as it was);
* refuse an aggregate that is non-finite or misshapen (logged with the reason);
* add DP noise to the averaged update *before* the server optimiser sees it (Flower's
  ``add_gaussian_noise_to_params``), so FedAvgM/FedAdam only post-process the private
  release, and account epsilon with Flower's ``RdpAccountant``;
* expose the server optimiser's state (``server_state`` / ``resume_from``) so that
  checkpoints carry it (sha256-checked) and a resumed run continues with the same server
  momentum or moments, bit for bit.

Under SecAgg+ it receives only the unmasked *sum* (every result carries the same
aggregated parameters); without SecAgg+ the fit workflow has already rejected malformed
individual updates (see ``workflow.PlainFitWorkflow``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from flwr.common import FitIns, FitRes, Parameters, Scalar, ndarrays_to_parameters, parameters_to_ndarrays
from flwr.server.client_manager import ClientManager
from flwr.server.client_proxy import ClientProxy
from flwr.server.strategy import FedAdagrad, FedAdam, FedAvg, FedAvgM, FedOpt, FedProx, FedYogi, Strategy
from flwr.server.strategy.aggregate import aggregate
from flwr.supercore.differential_privacy import add_gaussian_noise_to_params, compute_stdv

from fedqsar.errors import MalformedUpdateError
from fedqsar.federation.config import DPConfig, FederationConfig
from fedqsar.federation.payload import TrunkSpec, split_signal

LOGGER = logging.getLogger("fedqsar.federation")
KEY_CLIPPING_NORM = "clipping_norm"
AggregateObserver = Callable[[int, list[list[np.ndarray]], list[int]], None]


def _common(cfg: FederationConfig, initial: Parameters, n_partners: int) -> dict[str, Any]:
    least = max(1, min(cfg.min_partners, n_partners))
    return {
        "fraction_fit": 1.0,
        "fraction_evaluate": 0.0,
        "min_fit_clients": least,
        "min_evaluate_clients": 0,
        "min_available_clients": least,
        "initial_parameters": initial,
        "accept_failures": True,
    }


Builder = Callable[[FederationConfig, Parameters, int], Strategy]


@dataclass(frozen=True)
class StrategyEntry:
    """How to build one of Flower's strategies from a ``FederationConfig``.

    Attributes
    ----------
    build
        (config, initial trunk parameters, partner count) -> the Flower strategy.
    default_server_lr
        Server learning rate used when ``FederationConfig.server_lr`` is None (None: the
        strategy has no server learning rate).
    """

    build: Builder
    default_server_lr: float | None = None


def server_lr(cfg: FederationConfig) -> float:
    """The server learning rate of ``cfg`` (its own, else its strategy's default)."""
    default = STRATEGIES[cfg.strategy].default_server_lr
    return float(cfg.server_lr if cfg.server_lr is not None else (default if default is not None else 1.0))


def _adaptive(cfg: FederationConfig) -> dict[str, Any]:
    return {"eta": server_lr(cfg), "beta_1": cfg.server_betas[0], "beta_2": cfg.server_betas[1], "tau": cfg.server_tau}


STRATEGIES: dict[str, StrategyEntry] = {
    "fedavg": StrategyEntry(lambda cfg, initial, n: FedAvg(**_common(cfg, initial, n))),
    "fedavgm": StrategyEntry(
        lambda cfg, initial, n: FedAvgM(
            server_learning_rate=server_lr(cfg), server_momentum=cfg.server_momentum, **_common(cfg, initial, n)
        ),
        default_server_lr=3.0,  # chosen on validation folds (FederationConfig's docstring)
    ),
    "fedprox": StrategyEntry(lambda cfg, initial, n: FedProx(proximal_mu=cfg.proximal_mu, **_common(cfg, initial, n))),
    "fedadam": StrategyEntry(
        lambda cfg, initial, n: FedAdam(**_adaptive(cfg), **_common(cfg, initial, n)), default_server_lr=0.01
    ),
    "fedyogi": StrategyEntry(
        lambda cfg, initial, n: FedYogi(**_adaptive(cfg), **_common(cfg, initial, n)), default_server_lr=0.01
    ),
    "fedadagrad": StrategyEntry(
        lambda cfg, initial, n: FedAdagrad(eta=server_lr(cfg), tau=cfg.server_tau, **_common(cfg, initial, n)),
        default_server_lr=0.01,
    ),
}


class DPAccountant:
    """Epsilon spent so far under Flower's RDP accountant (every partner in every round)."""

    def __init__(self, dp: DPConfig, n_partners: int) -> None:
        from flwr.supercore.privacy_accounting import (
            GaussianPrivacyEvent,
            NeighboringRelation,
            PrivacyConfig,
            SamplingMethod,
        )
        from flwr.supercore.privacy_accounting.rdp_accountant import RdpAccountant

        self.dp = dp
        self._event = GaussianPrivacyEvent(dp.noise_multiplier, n_partners, n_partners)
        self._accountant = RdpAccountant(
            PrivacyConfig(dp.delta, n_partners, NeighboringRelation.ADD_OR_REMOVE_ONE, SamplingMethod.NO_AMPLIFICATION)
        )

    def spend_round(self) -> None:
        self._accountant.compose(self._event)

    @property
    def releases(self) -> int:
        """Noisy aggregates accounted so far."""
        return int(self._accountant.num_releases)

    @property
    def epsilon(self) -> float:
        return self._accountant.get_epsilon(self.dp.delta) if self._accountant.num_releases else 0.0


class GuardedStrategy(Strategy):
    """Wrap a Flower strategy with fedqsar's round rules (see module docstring).

    Attributes
    ----------
    last_participants
        Node ids whose updates made the latest accepted round (empty if refused).
    rejections
        (round, reason) of every refused round.
    last_improving
        Example-weighted share of the latest round's partners whose validation loss was still
        improving (``payload.SIGNAL_IMPROVING``), or None when no update carried the signal.
        It is split off before aggregation: the trunk alone goes through the strategy (and DP).
    """

    def __init__(
        self,
        inner: Strategy,
        cfg: FederationConfig,
        spec: TrunkSpec,
        n_partners: int,
        fit_config: dict[str, Scalar],
        observer: AggregateObserver | None = None,
    ) -> None:
        super().__init__()
        self.inner, self.cfg, self.spec = inner, cfg, spec
        self.fit_config = dict(fit_config)
        self.observer = observer
        self.privacy = DPAccountant(cfg.dp, n_partners) if cfg.dp.enabled else None
        self.last_participants: list[int] = []
        self.rejections: list[tuple[int, str]] = []
        self.last_improving: float | None = None

    def __repr__(self) -> str:
        return f"GuardedStrategy({self.inner!r})"

    def initialize_parameters(self, client_manager: ClientManager) -> Parameters | None:
        return self.inner.initialize_parameters(client_manager)

    def configure_fit(
        self, server_round: int, parameters: Parameters, client_manager: ClientManager
    ) -> list[tuple[ClientProxy, FitIns]]:
        instructions = self.inner.configure_fit(server_round, parameters, client_manager)
        extra: dict[str, Scalar] = {**self.fit_config, "round": server_round}
        if self.privacy is not None:
            extra[KEY_CLIPPING_NORM] = float(self.cfg.dp.clipping_norm)
        for _, fit_ins in instructions:
            fit_ins.config.update(extra)
        return instructions

    def aggregate_fit(
        self,
        server_round: int,
        results: list[tuple[ClientProxy, FitRes]],
        failures: list[tuple[ClientProxy, FitRes] | BaseException],
    ) -> tuple[Parameters | None, dict[str, Scalar]]:
        self.last_participants = []
        results, self.last_improving = self._split_signal(results)
        if self.observer is not None:
            self.observer(
                server_round,
                [parameters_to_ndarrays(r.parameters) for _, r in results],
                [r.num_examples for _, r in results],
            )
        if len(results) < self.cfg.min_partners:
            return self._refuse(
                server_round,
                f"{len(results)} update(s) < min_partners={self.cfg.min_partners} ({len(failures)} failure(s))",
            )
        participants = sorted(proxy.node_id for proxy, _ in results)
        if self.privacy is not None:
            results = self._noised_mean(results)
        aggregated, metrics = self.inner.aggregate_fit(server_round, results, failures)
        if aggregated is None:
            return self._refuse(server_round, "the strategy produced no aggregate")
        try:
            self.spec.to_dict(parameters_to_ndarrays(aggregated))
        except MalformedUpdateError as exc:
            return self._refuse(server_round, f"aggregate rejected: {exc.what}")
        self.last_participants = participants
        return aggregated, metrics

    def _split_signal(
        self, results: list[tuple[ClientProxy, FitRes]]
    ) -> tuple[list[tuple[ClientProxy, FitRes]], float | None]:
        """Results with trunk-only parameters, and the example-weighted mean of their signals."""
        trunk_results, signals, weights = [], [], []
        for proxy, res in results:
            arrays, signal = split_signal(parameters_to_ndarrays(res.parameters), self.spec)
            if signal is not None:
                signals.append(signal)
                weights.append(res.num_examples)
            trunk = FitRes(res.status, ndarrays_to_parameters(arrays), res.num_examples, res.metrics)
            trunk_results.append((proxy, trunk))
        improving = float(np.average(signals, weights=weights)) if signals else None
        return trunk_results, improving

    def _noised_mean(self, results: list[tuple[ClientProxy, FitRes]]) -> list[tuple[ClientProxy, FitRes]]:
        """One result holding the weighted mean of ``results`` plus the round's Gaussian noise."""
        mean = aggregate([(parameters_to_ndarrays(r.parameters), r.num_examples) for _, r in results])
        noisy = self._add_noise(ndarrays_to_parameters(mean), len(results))
        first = results[0][1]
        total = int(sum(r.num_examples for _, r in results))
        return [(results[0][0], FitRes(first.status, noisy, total, {}))]

    def _add_noise(self, aggregated: Parameters, n_results: int) -> Parameters:
        dp = self.cfg.dp
        noisy = add_gaussian_noise_to_params(aggregated, dp.noise_multiplier, dp.clipping_norm, n_results)
        assert self.privacy is not None
        self.privacy.spend_round()
        LOGGER.info(
            "DP noise std %.4g added; epsilon so far %.4g at delta %g",
            compute_stdv(dp.noise_multiplier, dp.clipping_norm, n_results),
            self.privacy.epsilon,
            dp.delta,
        )
        return noisy

    def _refuse(self, server_round: int, reason: str) -> tuple[None, dict[str, Scalar]]:
        LOGGER.warning("round %d refused: %s; the global trunk stays as it was", server_round, reason)
        self.rejections.append((server_round, reason))
        return None, {}

    # ------------------------------------------------------------------ resume
    def server_state(self) -> dict[str, np.ndarray]:
        """The server optimiser's arrays (FedAvgM's momentum, FedOpt's moments), ``{}`` when it keeps none.

        Named ``<attribute>/<i:04d>``; arrays keep their dtype so a resumed run continues bit for bit.
        """
        state: dict[str, np.ndarray] = {}
        for name in _optimiser_attributes(self.inner):
            for i, array in enumerate(getattr(self.inner, name, None) or []):
                state[f"{name}/{i:04d}"] = np.asarray(array)
        return state

    def resume_from(self, server_state: dict[str, np.ndarray], record: dict[str, Any]) -> None:
        """Continue a checkpointed run: the strategy's state, refused rounds and DP releases so far."""
        for name in _optimiser_attributes(self.inner):
            arrays = [server_state[k] for k in sorted(server_state) if k.startswith(f"{name}/")]
            if arrays:
                setattr(self.inner, name, arrays)
        self.rejections = [(int(r), str(reason)) for r, reason in record.get("refused_rounds", [])]
        if self.privacy is not None:
            for _ in range(int(record.get("dp_releases", 0))):
                self.privacy.spend_round()

    def use_global(self, arrays: list[np.ndarray]) -> None:
        """Make the strategy's own copy of the global model the float32 trunk checkpoints hold.

        FedOpt keeps it as ``current_weights``, FedAvgM (with a server optimiser) as ``initial_parameters``.
        """
        weights = [np.array(a, dtype=np.float32) for a in arrays]
        if isinstance(self.inner, FedOpt):
            self.inner.current_weights = weights
        elif isinstance(self.inner, FedAvgM) and self.inner.server_opt:
            self.inner.initial_parameters = ndarrays_to_parameters(weights)

    def configure_evaluate(self, server_round: int, parameters: Parameters, client_manager: ClientManager) -> list:
        return []

    def aggregate_evaluate(
        self, server_round: int, results: list, failures: list
    ) -> tuple[float | None, dict[str, Scalar]]:
        return None, {}

    def evaluate(self, server_round: int, parameters: Parameters) -> tuple[float, dict[str, Scalar]] | None:
        return None


def _optimiser_attributes(inner: Strategy) -> tuple[str, ...]:
    """Attributes of Flower's strategy object that hold server optimiser state across rounds."""
    if isinstance(inner, FedOpt):
        return ("m_t", "v_t")
    if isinstance(inner, FedAvgM):
        return ("momentum_vector",)
    return ()


def build_strategy(
    cfg: FederationConfig,
    initial: list[np.ndarray],
    spec: TrunkSpec,
    n_partners: int,
    fit_config: dict[str, Scalar],
    observer: AggregateObserver | None = None,
) -> GuardedStrategy:
    """Flower strategy named by ``cfg.strategy`` inside a ``GuardedStrategy``."""
    inner = STRATEGIES[cfg.strategy].build(cfg, ndarrays_to_parameters(initial), n_partners)
    return GuardedStrategy(inner, cfg, spec, n_partners, fit_config, observer)
