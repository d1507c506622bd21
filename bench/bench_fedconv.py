"""Federated convergence diagnosis: validation loss per round (federated) vs per epoch (pooled, local).

Validation folds only: the test fold is never read. Three modes, each writing
``OUT/NAME.json`` (settings, curve, seconds) and printing the curve:

* ``pooled``: ``evaluation.pooled`` (the one Trainer over every partner's data), validation
  loss per epoch, overall and per partner;
* ``local``: each partner alone (``model.training.fit``), its best validation loss;
* ``fed``: an in-process federation that is faithful to the Flower apps, without Flower's
  simulation overhead: every partner has its own ``MultitaskModel`` (one head) and the one
  ``Trainer``, built as ``federation.partner.PartnerRuntime`` builds them; each round every
  partner loads the global trunk, records the validation loss of (global trunk + own head),
  trains ``local_epochs`` epochs or ``local_steps`` steps and hands its trunk to the *Flower
  strategy object* that ``federation.strategy.build_strategy`` builds (the ServerApp's own
  aggregation code; SecAgg+ off - its sum is the same weighted mean up to quantisation).

Validation loss is pooled over partners as ``Trainer.validation_loss`` pools it (every
validation row weighs the same), so the federated curve and the pooled curve are the same
quantity. ``--oracle-rows`` (diagnosis only, never a product option: it needs per-row partner
counts, which would tell everyone which fingerprint bits each partner uses) averages each
first-layer row over the partners whose training compounds set that bit, to measure how much
the FedAvg dilution of single-partner rows costs.

Run (repository root)::

    PYTHONPATH=src .venv/bin/python bench/bench_fedconv.py pooled --prepared /work/cache/admet-full/prepared
    PYTHONPATH=src .venv/bin/python bench/bench_fedconv.py fed --strategy fedavgm --server-lr 4 --name m4
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
from flwr.common import Code, FitRes, Status, ndarrays_to_parameters, parameters_to_ndarrays

from fedqsar.evaluation.pooled import pooled_model
from fedqsar.federation.config import STRATEGY_NAMES, FederationConfig, SecAggConfig
from fedqsar.federation.payload import TrunkSpec
from fedqsar.federation.server_app import initial_trunk
from fedqsar.federation.strategy import build_strategy
from fedqsar.model.config import ModelConfig, TrainConfig
from fedqsar.model.endpoints import with_consortium_endpoints
from fedqsar.model.network import HeadSpec, MultitaskModel
from fedqsar.model.regularisers import ProximalPull
from fedqsar.model.training import Trainer, run_fit
from fedqsar.prepared import PreparedSet


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", choices=["pooled", "local", "fed"])
    parser.add_argument("--prepared", type=Path, default=Path("/work/cache/admet-full/prepared"))
    parser.add_argument("--out", type=Path, default=Path("runs/fedconv"))
    parser.add_argument("--name", default=None)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--dropout", type=float, default=0.2)
    parser.add_argument("--endpoint-heads", choices=["private", "shared"], default="private")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--weight-decay", type=float, default=0.0)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=40, help="pooled/local epoch cap")
    parser.add_argument(
        "--patience", type=int, default=5, help="epochs (pooled/local) or rounds (fed) without improvement"
    )
    parser.add_argument("--rounds", type=int, default=40, help="federated round cap")
    parser.add_argument("--strategy", choices=STRATEGY_NAMES, default="fedavg")
    parser.add_argument("--server-lr", type=float, default=None)
    parser.add_argument("--server-momentum", type=float, default=0.0)
    parser.add_argument("--server-tau", type=float, default=1e-9)
    parser.add_argument("--proximal-mu", type=float, default=0.01)
    parser.add_argument("--local-epochs", type=int, default=1)
    parser.add_argument("--local-steps", type=int, default=None)
    parser.add_argument("--moments", choices=["reset", "keep"], default="reset")
    parser.add_argument("--oracle-rows", action="store_true", help="diagnosis only (leaks per-row counts)")
    parser.add_argument("--head-steps", type=int, default=0, help="head-only steps on the new global trunk each round")
    parser.add_argument("--equal-weights", action="store_true", help="every partner's update weighs the same")
    return parser.parse_args()


def configs(args: argparse.Namespace) -> tuple[ModelConfig, TrainConfig, FederationConfig]:
    model = ModelConfig(hidden_sizes=(args.hidden,), dropout=args.dropout, endpoint_heads=args.endpoint_heads)
    train = TrainConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        weight_decay=args.weight_decay,
        early_stopping_patience=args.patience,
        validation_fold=3,
        test_fold=4,
        trunk_moments_on_replace=args.moments,
    )
    fed = FederationConfig(
        rounds=args.rounds,
        local_epochs=args.local_epochs,
        local_steps=args.local_steps,
        strategy=args.strategy,
        server_lr=args.server_lr,
        server_momentum=args.server_momentum,
        server_tau=args.server_tau,
        proximal_mu=args.proximal_mu,
        min_partners=1,
        secagg=SecAggConfig(enabled=False),
    )
    return model, train, fed


def load(folder: Path) -> dict[str, PreparedSet]:
    return {p.name: PreparedSet.load(p) for p in sorted(Path(folder).iterdir()) if (p / "manifest.json").is_file()}


def pooled_loss(losses: dict[str, float], sizes: dict[str, int]) -> float:
    """Validation loss over all partners' rows (each row weighs the same), as Trainer.validation_loss."""
    return float(sum(losses[n] * sizes[n] for n in losses) / sum(sizes[n] for n in losses))


def run_pooled(prepared: dict[str, PreparedSet], model_cfg: ModelConfig, train_cfg: TrainConfig) -> dict:
    trainer = Trainer(pooled_model(prepared, model_cfg), prepared, train_cfg)
    curve: list[dict] = []
    started = time.perf_counter()

    def progress(log) -> None:
        per = {n: trainer.loss(p.validation_rows, n) for n, p in trainer.parts.items()}
        curve.append({"epoch": log.epoch + 1, "val_loss": log.validation_loss, "partners": per, "s": log.seconds})
        print(f"pooled epoch {log.epoch + 1:3d}  val {log.validation_loss:.4f}  " + _fmt(per), flush=True)

    result = run_fit(trainer, observer=progress)
    return {
        "curve": curve,
        "best_epoch": result.best_epoch + 1,
        "best_val_loss": result.best_validation_loss,
        "seconds": time.perf_counter() - started,
    }


def run_local(prepared: dict[str, PreparedSet], model_cfg: ModelConfig, train_cfg: TrainConfig) -> dict:
    out: dict = {"partners": {}}
    sizes = {}
    for name, p in prepared.items():
        started = time.perf_counter()
        model = MultitaskModel(p.n_bits, model_cfg, {name: HeadSpec.from_tasks(p.tasks)})
        trainer = Trainer(model, {name: p}, train_cfg)
        result = run_fit(trainer)
        sizes[name] = len(trainer.validation_rows)
        out["partners"][name] = {
            "best_epoch": result.best_epoch + 1,
            "best_val_loss": result.best_validation_loss,
            "curve": [log.validation_loss for log in result.history],
            "seconds": time.perf_counter() - started,
        }
        print(f"local {name}: best epoch {result.best_epoch + 1} val {result.best_validation_loss:.4f}", flush=True)
    out["best_val_loss"] = pooled_loss({n: v["best_val_loss"] for n, v in out["partners"].items()}, sizes)
    print(f"local (all partners' rows): {out['best_val_loss']:.4f}", flush=True)
    return out


class _Proxy:
    def __init__(self, node_id: int) -> None:
        self.node_id, self.cid = node_id, str(node_id)


class InProcessFederation:
    """Partners' models and trainers plus the Flower strategy of the ServerApp (see module docstring)."""

    def __init__(
        self,
        prepared: dict[str, PreparedSet],
        model_cfg: ModelConfig,
        train_cfg: TrainConfig,
        fed_cfg: FederationConfig,
        oracle_rows: bool = False,
        head_steps: int = 0,
        equal_weights: bool = False,
    ) -> None:
        self.fed_cfg = fed_cfg
        self.equal_weights = equal_weights
        self.head_steps = head_steps
        self.partners = {}
        for name, p in prepared.items():
            model = MultitaskModel(p.n_bits, model_cfg, {name: HeadSpec.from_tasks(p.tasks)})
            prox = ProximalPull(fed_cfg.proximal_mu) if fed_cfg.strategy == "fedprox" else None
            trainer = Trainer(model, {name: p}, train_cfg, hooks=[prox] if prox else [])
            self.partners[name] = (model, trainer, prox)
        n_bits = next(iter(prepared.values())).n_bits
        self.trunk = initial_trunk(n_bits, model_cfg)
        self.spec = TrunkSpec.of(self.trunk)
        self.strategy = build_strategy(fed_cfg, self.spec.to_list(self.trunk), self.spec, len(prepared), {})
        self.oracle = None
        if oracle_rows:
            self.oracle = {}
            for name, (_, trainer, _) in self.partners.items():
                touched = np.zeros(n_bits, dtype=bool)
                touched[np.unique(trainer.prepared.X[trainer.train_rows].indices)] = True
                self.oracle[name] = touched

    def validation(self) -> dict[str, float]:
        """Each partner: global trunk + own head on its validation fold (the trunk is loaded here)."""
        losses = {}
        for name, (model, trainer, prox) in self.partners.items():
            model.load_trunk_state(self.trunk)
            if prox is not None:
                prox.set_anchor(self.trunk)
            if self.head_steps:
                trainer.train_steps(self.head_steps, head_only=True)
            losses[name] = trainer.loss(trainer.validation_rows)
        return losses

    def train_round(self, round_number: int) -> dict[str, float]:
        """One round; returns each partner's validation loss with its *local* trunk before aggregation."""
        results, local = [], {}
        for i, (name, (model, trainer, _)) in enumerate(self.partners.items()):
            if self.fed_cfg.local_steps is not None:
                trainer.train_steps(self.fed_cfg.local_steps)
            else:
                trainer.train_epochs(self.fed_cfg.local_epochs)
            local[name] = trainer.loss(trainer.validation_rows)
            arrays = self.spec.to_list(model.trunk_state())
            results.append(
                (
                    _Proxy(i),
                    FitRes(
                        Status(Code.OK, ""),
                        ndarrays_to_parameters(arrays),
                        1 if self.equal_weights else len(trainer.train_rows),
                        {},
                    ),
                )
            )
        self.update_scale = _update_scale(self.trunk, results, self.spec)
        aggregated, _ = self.strategy.aggregate_fit(round_number, results, [])
        if aggregated is not None:
            new = self.spec.to_dict(parameters_to_ndarrays(aggregated))
            if self.oracle is not None:
                new["input.weight"] = self._oracle_rows(results)
            self.trunk = new
        return local

    def _oracle_rows(self, results: list) -> np.ndarray:
        """Row r = weighted mean over the partners that touched r (untouched rows: unchanged)."""
        old = self.trunk["input.weight"]
        total = np.zeros_like(old)
        weight = np.zeros(old.shape[0], dtype=np.float64)
        for name, (_, res) in zip(self.partners, results, strict=True):
            rows = self.oracle[name]
            table = parameters_to_ndarrays(res.parameters)[self.spec.names.index("input.weight")]
            total[rows] += res.num_examples * (table[rows] - old[rows])
            weight[rows] += res.num_examples
        touched = weight > 0
        out = old.copy()
        out[touched] += total[touched] / weight[touched, None]
        return out


def _update_scale(trunk: dict[str, np.ndarray], results: list, spec: TrunkSpec) -> dict[str, float]:
    """Median / 90th percentile of |mean update| over moved coordinates, per trunk tensor (diagnosis)."""
    total = sum(r.num_examples for _, r in results)
    out = {}
    for i, name in enumerate(spec.names):
        mean = sum(parameters_to_ndarrays(r.parameters)[i] * (r.num_examples / total) for _, r in results)
        moved = np.abs(mean - trunk[name])
        moved = moved[moved > 0]
        if moved.size:
            out[f"{name}.p50"], out[f"{name}.p90"] = float(np.median(moved)), float(np.quantile(moved, 0.9))
    return out


def run_fed(
    prepared: dict[str, PreparedSet],
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    fed_cfg: FederationConfig,
    patience: int,
    oracle_rows: bool,
    head_steps: int = 0,
    equal_weights: bool = False,
) -> dict:
    federation = InProcessFederation(prepared, model_cfg, train_cfg, fed_cfg, oracle_rows, head_steps, equal_weights)
    sizes = {n: len(t.validation_rows) for n, (_, t, _) in federation.partners.items()}
    curve: list[dict] = []
    best, best_round = float("inf"), 0
    partner_best = {name: (float("inf"), 0) for name in sizes}
    started = time.perf_counter()
    for round_number in range(1, fed_cfg.rounds + 1):
        t0 = time.perf_counter()
        local = federation.train_round(round_number)
        per = federation.validation()
        loss = pooled_loss(per, sizes)
        before = pooled_loss(local, sizes)
        curve.append(
            {
                "round": round_number,
                "val_loss": loss,
                "partners": per,
                "local_trunks": local,
                "local_val_loss": before,
                "update_scale": federation.update_scale,
                "s": time.perf_counter() - t0,
            }
        )
        print(
            f"fed round {round_number:3d}  val {loss:.4f}  "
            + _fmt(per)
            + f"  | local trunks {before:.4f}  {time.perf_counter() - t0:.1f}s  |mean update| p50/p90 "
            + " ".join(
                f"{v:.1e}" for k, v in federation.update_scale.items() if k.startswith(("input.weight", "hidden"))
            ),
            flush=True,
        )
        if loss < best:
            best, best_round = loss, round_number
        for name, value in per.items():  # the convergence stop: no partner improved for `patience` rounds
            if value < partner_best[name][0]:
                partner_best[name] = (value, round_number)
        if patience and all(round_number - r >= patience for _, r in partner_best.values()):
            break
    return {"curve": curve, "best_round": best_round, "best_val_loss": best, "seconds": time.perf_counter() - started}


def _fmt(per: dict[str, float]) -> str:
    return " ".join(f"{n[:6]} {v:.4f}" for n, v in per.items())


def main() -> None:
    args = parse_args()
    model_cfg, train_cfg, fed_cfg = configs(args)
    prepared = load(args.prepared)
    model_cfg = with_consortium_endpoints(model_cfg, [p.tasks for p in prepared.values()])
    started = time.perf_counter()
    if args.mode == "pooled":
        result = run_pooled(prepared, model_cfg, train_cfg)
    elif args.mode == "local":
        result = run_local(prepared, model_cfg, train_cfg)
    else:
        result = run_fed(
            prepared,
            model_cfg,
            train_cfg,
            fed_cfg,
            args.patience,
            args.oracle_rows,
            args.head_steps,
            args.equal_weights,
        )
    result["args"] = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    result["wall_s"] = time.perf_counter() - started
    result["load"] = os.getloadavg()
    args.out.mkdir(parents=True, exist_ok=True)
    name = args.name or args.mode
    (args.out / f"{name}.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
    print(f"{name}: best val loss {result['best_val_loss']:.4f}; wall {result['wall_s']:.0f}s; load {result['load']}")


if __name__ == "__main__":
    main()
