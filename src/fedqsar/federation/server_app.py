"""The consortium's Flower ServerApp: handshake, guarded rounds, checkpoints, ledger, delivery.

``FederationServer(plan)`` is the whole server logic; ``build_server_app`` wraps it in a
Flower ``ServerApp``. Simulation builds the plan directly; deployment (``app`` below, the
``serverapp`` component in ``pyproject.toml``) builds it from the run config (rounds run on
Flower's legacy ``LegacyContext`` / ``Strategy`` path because SecAgg+ needs it: see the
``fedqsar.federation`` package docstring):

    config   = path of a TOML with [federation], [model] and [train] tables (optional)
    run-dir  = folder for checkpoints, ledger and server summary
    partners = number of partner nodes to wait for

The server learns, per partner: the handshake summary (hashes, fingerprint settings, example
count) and, per round, either each federated trunk update (SecAgg+ off) or only their sum
(SecAgg+ on). What the federated trunk is depends on ``FederationConfig.bit_privacy``
(``defences``; by default the per-bit first layer stays with each partner).
"""

from __future__ import annotations

import json
import logging
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from flwr.app import Context
from flwr.server import ServerConfig
from flwr.server.client_manager import SimpleClientManager
from flwr.server.compat.legacy_context import LegacyContext
from flwr.server.workflow import SecAggPlusWorkflow
from flwr.serverapp import Grid, ServerApp

from fedqsar.config import config_hash, from_dict, to_dict
from fedqsar.errors import ConfigError, FederationError
from fedqsar.federation.checkpoint import Checkpoint, latest_checkpoint, save_checkpoint, trunk_sha256
from fedqsar.federation.config import FederationConfig
from fedqsar.federation.defences import build_defence
from fedqsar.federation.guards import check_compatible
from fedqsar.federation.payload import TrunkSpec
from fedqsar.federation.strategy import STRATEGIES, AggregateObserver, GuardedStrategy, build_strategy, server_lr
from fedqsar.federation.workflow import (
    PlainFitWorkflow,
    current_trunk,
    deliver_final,
    handshake,
    run_rounds,
    set_trunk,
    wait_for_nodes,
)
from fedqsar.hashing import hash_json, matches_recorded
from fedqsar.ledger import Ledger
from fedqsar.model.config import ModelConfig, TrainConfig
from fedqsar.model.network import HeadSpec, MultitaskModel
from fedqsar.model.trunk_file import TRUNK_DIR, write_trunk
from fedqsar.progress import ROUNDS_STAGE, Progress
from fedqsar.versions import write_versions

LOGGER = logging.getLogger("fedqsar.federation")
CHECKPOINTS = "checkpoints"
LEDGER_FILE = "ledger.sqlite"
SUMMARY_FILE = "server.json"
#: below this example-weighted share of partners still improving, no partner is (SecAgg+
#: quantisation leaves ~1e-6 of noise on a sum of zeros; one partner's share is far above it).
IMPROVING_THRESHOLD = 1e-3


@dataclass(frozen=True)
class ServerPlan:
    """Everything the server needs to run (or resume) one federation."""

    fed_cfg: FederationConfig
    model_cfg: ModelConfig
    train_cfg: TrainConfig
    run_dir: Path
    n_partners: int
    node_wait_s: float = 300.0
    message_timeout_s: float | None = None
    observer: AggregateObserver | None = field(default=None, compare=False)
    progress: Progress | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if (
            self.model_cfg.endpoint_heads == "shared"
            and STRATEGIES[self.fed_cfg.strategy].default_server_lr is not None
            and server_lr(self.fed_cfg) > 1.0
        ):
            LOGGER.warning(
                "server_lr %g with shared endpoint heads: measured unstable above 1 on the ADMET consortium "
                "(BENCHMARKS.md, Federated convergence); set [federation] server_lr = 1",
                server_lr(self.fed_cfg),
            )

    def config_parts(self) -> dict[str, str]:
        """The hash of each config the run depends on (what its ``config_hash`` covers)."""
        return {
            "federation": config_hash(self.fed_cfg),
            "model": config_hash(self.model_cfg),
            "train": config_hash(self.train_cfg),
        }

    def config_hash(self) -> str:
        return hash_json(self.config_parts())

    def matches_checkpoint(self, meta: dict[str, Any]) -> bool:
        """Whether a checkpoint was written under these configs (also by the recipe before ``fedqsar.hashing``)."""
        return matches_recorded(meta.get("config_hash"), self.config_parts())

    def message_config(self) -> dict[str, Any]:
        """What every training/final message tells partners (server -> partner only)."""
        return {
            "model_config": json.dumps(to_dict(self.model_cfg), sort_keys=True),
            "train_config": json.dumps(to_dict(self.train_cfg), sort_keys=True),
            "local_epochs": int(self.fed_cfg.local_epochs),
            "local_steps": int(self.fed_cfg.local_steps or 0),
            "head_steps": int(self.fed_cfg.head_steps),
            "weighting": self.fed_cfg.weighting,
            "wire_dtype": self.fed_cfg.wire_dtype,
            "patience": int(self.fed_cfg.patience),
            "bit_privacy_config": json.dumps(to_dict(self.fed_cfg.bit_privacy), sort_keys=True),
        }


def initial_trunk(
    n_bits: int, model_cfg: ModelConfig, n_descriptors: int = 0, exclude: tuple[str, ...] = ()
) -> dict[str, np.ndarray]:
    """The federated trunk every run starts from (seeded by ``model_cfg.init_seed``), without ``exclude``."""
    heads = {"_server": HeadSpec(1, 0)}  # a head is required; unused
    return MultitaskModel(n_bits, model_cfg, heads, n_descriptors).trunk_state(exclude=exclude)


class FederationServer:
    """Run one federation on a Flower Grid (see module docstring)."""

    def __init__(self, plan: ServerPlan) -> None:
        self.plan = plan
        self.round_seconds: dict[int, float] = {}
        self.participants: dict[int, list[str]] = {}
        self.node_names: dict[int, str] = {}
        self.last_round = 0
        self.improving: dict[int, float | None] = {}
        self.private: tuple[str, ...] = ()  # trunk tensors each partner keeps (the defence's), not published

    def __call__(self, grid: Grid, context: Context) -> None:
        plan, cfg = self.plan, self.plan.fed_cfg
        private = build_defence(cfg.bit_privacy, plan.model_cfg).private_names()  # refuses before any node waits
        nodes = wait_for_nodes(grid, plan.n_partners, plan.node_wait_s)
        summaries, self.node_names = self._handshake(grid, nodes)
        first = next(iter(summaries.values()))
        whole = initial_trunk(int(first["n_bits"]), plan.model_cfg, int(first.get("n_descriptors", 0)))
        self.private = tuple(name for name in private if name in whole)  # e.g. no descriptor weights without them
        spec_trunk = {name: value for name, value in whole.items() if name not in self.private}
        spec = TrunkSpec.of(spec_trunk)
        checkpoint = latest_checkpoint(plan.run_dir / CHECKPOINTS)
        start_trunk, first_round = (
            (spec_trunk, 1)
            if checkpoint is None
            else (spec.to_dict(list(checkpoint.trunk.values())), checkpoint.round + 1)
        )
        if checkpoint is not None and not plan.matches_checkpoint(checkpoint.meta):
            raise FederationError(
                f"checkpoints in {plan.run_dir / CHECKPOINTS} come from other settings",
                "resume with the same configs, or use a new --out folder",
            )
        ledger = self._open_ledger(summaries, first_round)
        write_versions(plan.run_dir)
        max_weight = (
            1.0 if cfg.weighting == "equal" else float(max(int(s.get("num_examples", 1)) for s in summaries.values()))
        )
        strategy = build_strategy(
            cfg,
            spec.to_list(start_trunk),
            spec,
            len(nodes),
            {**plan.message_config(), **self._strategy_config()},
            plan.observer,
        )
        legacy = LegacyContext(context, ServerConfig(num_rounds=cfg.rounds), strategy, SimpleClientManager())
        set_trunk(legacy, spec, start_trunk)
        workflow = self._fit_workflow(spec, max_weight)
        if checkpoint is not None:
            self._resume_from(checkpoint, strategy, workflow)

        def after_round(round_number: int, seconds: float) -> None:
            self._after_round(round_number, seconds, legacy, spec, strategy, workflow, ledger)

        def converged(round_number: int) -> bool:
            return self._converged(strategy.last_improving)

        already = checkpoint is not None and self._converged(checkpoint.meta.get("improving"))
        last_round = checkpoint.round if already and checkpoint is not None else first_round - 1
        if not already:
            last_round = run_rounds(grid, legacy, workflow, first_round, cfg.rounds, after_round, converged)
        self.last_round = max(last_round, 0)
        final = current_trunk(legacy, spec)
        final_config = {
            **plan.message_config(),
            "round": self.last_round,
            "personalisation_config": json.dumps(to_dict(cfg.personalisation), sort_keys=True),
        }
        acked = deliver_final(grid, nodes, final, final_config, plan.message_timeout_s)
        self._finish(ledger, final, summaries, acked, strategy, workflow)

    def _converged(self, improving: float | None) -> bool:
        """No partner still improving (patience > 0 and the round's signal below ``IMPROVING_THRESHOLD``)."""
        return self.plan.fed_cfg.patience > 0 and improving is not None and float(improving) < IMPROVING_THRESHOLD

    def _resume_from(self, checkpoint: Checkpoint, strategy: GuardedStrategy, workflow: Any) -> None:
        """What the rounds up to the checkpoint recorded: timings, participants, improvement, refusals, strategy state."""
        for key, entry in checkpoint.meta.get("rounds", {}).items():
            self.round_seconds[int(key)] = float(entry["seconds"])
            self.participants[int(key)] = list(entry["participants"])
            self.improving[int(key)] = entry.get("improving")
        strategy.resume_from(checkpoint.server_state, checkpoint.meta)
        if hasattr(workflow, "rejected"):
            workflow.rejected[:] = [
                (int(r), int(n), str(why)) for r, n, why in checkpoint.meta.get("rejected_updates", [])
            ]

    def _handshake(self, grid: Grid, nodes: list[int]) -> tuple[dict[str, dict[str, Any]], dict[int, str]]:
        by_node = handshake(grid, nodes, self.plan.message_config(), self.plan.message_timeout_s)
        summaries = {str(s["partner"]): s for s in by_node.values()}
        if len(summaries) != len(by_node):
            raise FederationError(
                f"two nodes claim the same partner name: {sorted(s['partner'] for s in by_node.values())}",
                "give every partner node a unique partner= in its node config",
            )
        check_compatible(summaries)
        if self.plan.fed_cfg.secagg.enabled and len(summaries) < 3:
            raise FederationError(
                f"SecAgg+ needs at least 3 partners, this federation has {len(summaries)}",
                "add partners, or turn secure aggregation off (FederationConfig.secagg.enabled=false)",
            )
        return summaries, {node: str(s["partner"]) for node, s in by_node.items()}

    def _strategy_config(self) -> dict[str, Any]:
        cfg = self.plan.fed_cfg
        return {"proximal_mu": float(cfg.proximal_mu)} if cfg.strategy == "fedprox" else {}

    def _fit_workflow(self, spec: TrunkSpec, max_weight: float) -> Any:
        cfg = self.plan.fed_cfg
        if not cfg.secagg.enabled:
            return PlainFitWorkflow(spec, cfg.max_update_norm, cfg.round_timeout, node_names=self.node_names)
        sec = cfg.secagg
        return SecAggPlusWorkflow(
            num_shares=sec.num_shares,
            reconstruction_threshold=sec.reconstruction_threshold,
            max_weight=max_weight,
            clipping_range=sec.clipping_range,
            quantization_range=sec.quantization_range,
            timeout=sec.timeout,
        )

    def _open_ledger(self, summaries: dict[str, dict[str, Any]], first_round: int) -> Ledger:
        ledger = Ledger(self.plan.run_dir / LEDGER_FILE)
        if first_round == 1 and not ledger.entries():
            ledger.append(
                "run_start",
                {
                    "config_hash": self.plan.config_hash(),
                    "partners": sorted(summaries),
                    "rounds": self.plan.fed_cfg.rounds,
                    "strategy": self.plan.fed_cfg.strategy,
                    "secagg": self.plan.fed_cfg.secagg.enabled,
                    "dp": self.plan.fed_cfg.dp.enabled,
                },
            )
            for name in sorted(summaries):
                ledger.append(
                    "partner",
                    {
                        "partner": name,
                        "manifest_hash": summaries[name]["manifest_sha256"],
                        "prep_hash": summaries[name]["prep_hash"],
                    },
                )
        else:
            ledger.append(
                "resume",
                {"config_hash": self.plan.config_hash(), "from_round": first_round, "partners": sorted(summaries)},
            )
        return ledger

    def _after_round(
        self,
        round_number: int,
        seconds: float,
        legacy: LegacyContext,
        spec: TrunkSpec,
        strategy: GuardedStrategy,
        workflow: Any,
        ledger: Ledger,
    ) -> None:
        cfg = self.plan.fed_cfg
        # The global trunk continues as the float32 arrays a checkpoint holds, so that a run resumed
        # from a checkpoint continues exactly as an uninterrupted one.
        trunk = {name: np.asarray(value, dtype=np.float32) for name, value in current_trunk(legacy, spec).items()}
        set_trunk(legacy, spec, trunk)
        strategy.use_global(spec.to_list(trunk))
        self.round_seconds[round_number] = seconds
        names = sorted(self.node_names.get(node, str(node)) for node in strategy.last_participants)
        self.participants[round_number] = names
        self.improving[round_number] = strategy.last_improving
        last = round_number == cfg.rounds or self._converged(strategy.last_improving)
        if round_number % cfg.checkpoint_every == 0 or last:
            digest = trunk_sha256(trunk)
            save_checkpoint(
                self.plan.run_dir / CHECKPOINTS,
                round_number,
                trunk,
                {
                    "config_hash": self.plan.config_hash(),
                    "participants": names,
                    "improving": strategy.last_improving,
                    "rounds": {
                        str(r): {
                            "seconds": self.round_seconds[r],
                            "participants": self.participants[r],
                            "improving": self.improving.get(r),
                        }
                        for r in sorted(self.round_seconds)
                    },
                    "refused_rounds": strategy.rejections,
                    "rejected_updates": list(getattr(workflow, "rejected", [])),
                    "dp_releases": strategy.privacy.releases if strategy.privacy is not None else 0,
                },
                strategy.server_state(),
            )
            ledger.append("round", {"round": round_number, "participants": names, "aggregate_hash": digest})
        if self.plan.progress is not None:
            self.plan.progress(ROUNDS_STAGE, round_number, cfg.rounds)

    def _finish(
        self,
        ledger: Ledger,
        final: dict[str, np.ndarray],
        summaries: dict[str, dict[str, Any]],
        acked: list[int],
        strategy: GuardedStrategy,
        workflow: Any,
    ) -> None:
        epsilon = strategy.privacy.epsilon if strategy.privacy is not None else None
        ledger.append("final_model", {"model_hash": trunk_sha256(final), "partners_holding_it": len(acked)})
        published = self._publish_trunk(final, summaries)
        ledger.append("published_trunk", published)
        ledger.append("run_end", {"rounds": self.last_round})
        summary = {
            "partners": sorted(summaries),
            "rounds": self.last_round,
            "rounds_cap": self.plan.fed_cfg.rounds,
            "converged": self.last_round < self.plan.fed_cfg.rounds
            or self._converged(self.improving.get(self.last_round)),
            "improving": self.improving,
            "round_seconds": {r: self.round_seconds[r] for r in sorted(self.round_seconds)},
            "participants": {r: self.participants[r] for r in sorted(self.participants)},
            "refused_rounds": strategy.rejections,
            "rejected_updates": getattr(workflow, "rejected", []),
            "final_trunk_sha256": trunk_sha256(final),
            "dp_epsilon": epsilon,
            "dp_delta": self.plan.fed_cfg.dp.delta if epsilon is not None else None,
            "finished": time.time(),
        }
        (self.plan.run_dir / SUMMARY_FILE).write_text(json.dumps(summary, indent=2, default=str), encoding="utf-8")

    def _publish_trunk(self, final: dict[str, np.ndarray], summaries: dict[str, dict[str, Any]]) -> dict[str, Any]:
        """Write ``RUN/trunk/``: the final global trunk a consortium can hand to a candidate (``fedqsar probe``).

        Only what was federated: under ``private_input`` the layers above the first, the record
        naming the partners' own tensors (``partner_tensors``) and the defence.
        """
        plan, first = self.plan, summaries[sorted(summaries)[0]]
        record = write_trunk(
            plan.run_dir / TRUNK_DIR,
            final,
            model_cfg=plan.model_cfg,
            train_cfg=plan.train_cfg,
            personalisation=to_dict(plan.fed_cfg.personalisation),
            n_bits=int(first["n_bits"]),
            prep_hash=str(first["prep_hash"]),
            key_id=str(first["key_id"]),
            partner_tensors=self.private,
            defence=plan.fed_cfg.bit_privacy.defence,
            provenance={"rounds": self.last_round, "n_partners": len(summaries), "trunk_hash": trunk_sha256(final)},
        )
        return {"weights_sha256": json.loads(record.read_text(encoding="utf-8"))["weights_sha256"]}


def build_server_app(plan_factory: Callable[[Context], ServerPlan]) -> ServerApp:
    """A Flower ServerApp running ``FederationServer(plan_factory(context))``."""
    app = ServerApp()

    @app.main()
    def main(grid: Grid, context: Context) -> None:
        FederationServer(plan_factory(context))(grid, context)

    return app


def plan_from_run_config(context: Context) -> ServerPlan:
    """Deployment: the plan from Flower's run config (see module docstring)."""
    run_config = context.run_config
    tables: dict[str, Any] = {}
    if run_config.get("config"):
        path = Path(str(run_config["config"]))
        try:
            tables = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(
                f"run config file {path} cannot be read: {exc}", "give a TOML file with [federation], [model], [train]"
            ) from exc
    fed = from_dict(FederationConfig, tables.get("federation", {}), where="federation")
    for key, name in (("num-server-rounds", "rounds"), ("local-epochs", "local_epochs")):
        if key in run_config:
            fed = from_dict(FederationConfig, {**to_dict(fed), name: int(run_config[key])}, where="federation")
    return ServerPlan(
        fed_cfg=fed,
        model_cfg=from_dict(ModelConfig, tables.get("model", {}), where="model"),
        train_cfg=from_dict(TrainConfig, tables.get("train", {}), where="train"),
        run_dir=Path(str(run_config.get("run-dir", "fedqsar-run"))),
        n_partners=int(run_config.get("partners", 3)),
    )


app = build_server_app(plan_from_run_config)
