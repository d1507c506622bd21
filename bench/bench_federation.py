"""Federated training cost on Flower's simulation engine vs pooled training, on real data.

Four partners from the ADMET scenario (Biogen, AstraZeneca, ChEMBL literature, ... built by
``datasets.scenarios.build_scenario`` from the data mirror), prepared with one consortium key
(default PrepConfig: ECFP6, 32,768 bits). Measured in one run, in this order:

1. pooled (baseline): all four PreparedSets in one process, one model with the shared trunk
   and four heads, ``epochs`` epochs (each epoch: one epoch of every partner);
2. federated, SecAgg+ off: ``run_simulation`` with ``rounds=epochs``, ``local_epochs=1``;
3. federated, SecAgg+ off, trunk sent as float16 (``wire_dtype="float16"``);
4. federated, SecAgg+ on (the default);
5. overhead probe: SecAgg+ on with a hidden-8 trunk, so that a round is mostly Flower.

Every federated run sends the whole single-layer trunk (``bit_privacy.defence = "none"``):
this measures the cost of moving a full sparse trunk. The default ``private_input`` keeps the
first layer with each partner and sends only the layers above it (``bench_privacy``).

Printed per run: wall time (total and after start-up), seconds per round, partner compute per
round (training + validation seconds from each partner's own history, divided by the two
ClientApp actors), the rest of the round (Flower, SecAgg+, aggregation, checks, checkpoint,
ledger, model construction and private-state I/O), bytes each partner sent per round (wire recorder, outermost mod), and final validation
quality (mean over partners of task-averaged AUC-ROC and RMSE). Run from the repository root::

    FEDQSAR_DATA=../shared/data .venv/bin/python bench/bench_federation.py
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from fedqsar.datasets.scenarios import build_scenario
from fedqsar.federation.audit import read_records, wire_recorder
from fedqsar.federation.config import BitPrivacyConfig, FederationConfig, SecAggConfig
from fedqsar.federation.server_app import initial_trunk
from fedqsar.federation.simulation import run_simulation
from fedqsar.model.config import ModelConfig, TrainConfig
from fedqsar.model.network import HeadSpec, MultitaskModel
from fedqsar.model.training import Trainer
from fedqsar.prep.config import PrepConfig
from fedqsar.prep.keys import ConsortiumKey
from fedqsar.prep.pipeline import prepare
from fedqsar.prepared import PreparedSet

REPO = Path(__file__).resolve().parents[1]
KEY = ConsortiumKey(hashlib.sha256(b"fedqsar federation benchmark key").digest())


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-compounds", type=int, default=1000, help="per partner")
    parser.add_argument("--epochs", type=int, default=6, help="pooled epochs = federated rounds x 1 local epoch")
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "bench_federation")
    return parser.parse_args()


def partners(out: Path, max_compounds: int) -> dict[str, Path]:
    """Prepared partner folders (reused when already built with these sizes)."""
    folder = out / f"prepared_{max_compounds}"
    raw = build_scenario(
        "admet", out / f"raw_{max_compounds}", os.environ.get("FEDQSAR_DATA"), max_compounds=max_compounds
    )
    result = {}
    for name, path in raw.items():
        result[name] = folder / name
        if not (result[name] / "manifest.json").is_file():
            prepare(path, result[name], KEY, PrepConfig(), n_jobs=2)
    return result


def quality(metrics: pd.DataFrame) -> dict[str, float]:
    means = metrics.dropna(subset=["value"]).groupby("metric")["value"].mean()
    return {m: float(means.get(m, np.nan)) for m in ("auc_roc", "rmse")}


def pooled(folders: dict[str, Path], model_cfg: ModelConfig, train_cfg: TrainConfig, epochs: int) -> dict:
    sets = {name: PreparedSet.load(path) for name, path in folders.items()}
    n_bits = next(iter(sets.values())).n_bits
    model = MultitaskModel(n_bits, model_cfg, {n: HeadSpec.from_tasks(s.tasks) for n, s in sets.items()})
    trainers = {n: Trainer(model, {n: s}, train_cfg) for n, s in sets.items()}
    started = time.perf_counter()
    for _ in range(epochs):
        for trainer in trainers.values():
            trainer.train_epochs(1)
    seconds = time.perf_counter() - started
    scores = [quality(t.evaluate(t.validation_rows)) for t in trainers.values()]
    return {
        "seconds": seconds,
        "auc_roc": np.nanmean([s["auc_roc"] for s in scores]),
        "rmse": np.nanmean([s["rmse"] for s in scores]),
        "trunk_bytes": sum(v.nbytes for v in model.trunk_state().values()),
    }


def federated(
    folders: dict[str, Path],
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    epochs: int,
    secagg: bool,
    out: Path,
    wire_dtype: str = "float32",
) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    cfg = FederationConfig(
        rounds=epochs,
        local_epochs=1,
        secagg=SecAggConfig(enabled=secagg),
        wire_dtype=wire_dtype,
        bit_privacy=BitPrivacyConfig(defence="none"),  # the whole trunk travels (module docstring)
    )
    started = time.perf_counter()
    run = run_simulation(
        folders, model_cfg, train_cfg, cfg, out / "run", outer_mods=[wire_recorder(out / "wire", keep_arrays=False)]
    )
    total = time.perf_counter() - started
    rounds = {int(k): v for k, v in run.summary["round_seconds"].items()}
    history = run.history
    actors = min(2, os.cpu_count() or 1)  # one ClientApp actor per CPU
    work = history[
        (history.metric == "train_seconds") | ((history.metric == "validation_seconds") & (history["round"] < epochs))
    ]
    compute_per_round = float(work["value"].sum()) / actors / epochs
    sent = [r for r in read_records(out / "wire") if r["incoming_type"] == "train"]
    per_partner_round = pd.DataFrame(
        [{"node": r["node"], "round": r["group_id"], "bytes": r.get("payload_bytes", 0)} for r in sent]
    )
    bytes_round = per_partner_round.groupby(["node", "round"])["bytes"].sum()
    last = history[history["round"] == epochs]
    n_bits = PreparedSet.load(next(iter(folders.values()))).n_bits
    return {
        "dense": sum(v.nbytes for v in initial_trunk(n_bits, model_cfg).values()),
        "total": total,
        "rounds": sum(rounds.values()),
        "round_mean": sum(rounds.values()) / len(rounds),
        "compute": compute_per_round,
        "bytes_per_round": float(bytes_round.median()),
        "auc_roc": float(last[last.metric == "val_auc_roc"]["value"].mean()),
        "rmse": float(last[last.metric == "val_rmse"]["value"].mean()),
    }


def main() -> None:
    args = parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    folders = partners(args.out, args.max_compounds)
    sizes = {n: PreparedSet.load(p).n_compounds for n, p in folders.items()}
    print(f"partners (compounds): {sizes}; prepared in {time.perf_counter() - t0:.1f} s (cached if 0)")
    model_cfg, train_cfg = ModelConfig(hidden_sizes=(args.hidden,)), TrainConfig(batch_size=64, lr=3e-3)
    base = pooled(folders, model_cfg, train_cfg, args.epochs)
    plain = federated(folders, model_cfg, train_cfg, args.epochs, False, args.out / "plain")
    half = federated(folders, model_cfg, train_cfg, args.epochs, False, args.out / "float16", "float16")
    secure = federated(folders, model_cfg, train_cfg, args.epochs, True, args.out / "secagg")
    probe_cfg = ModelConfig(hidden_sizes=(8,))
    probe = federated(folders, probe_cfg, train_cfg, args.epochs, True, args.out / "probe")  # SecAgg+ on, tiny trunk
    dense = base["trunk_bytes"]
    print(
        f"\ntorch threads {torch.get_num_threads()}, epochs {args.epochs}, hidden {args.hidden}, "
        f"dense float32 trunk {dense / 1e6:.1f} MB"
    )
    print(
        "| run | wall total | rounds only | / pooled (total, rounds) | s/round | partner compute/round | rest/round (overhead) | bytes sent/partner/round | val AUC-ROC | val RMSE |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    print(
        f"| pooled (baseline) | {base['seconds']:.1f} s | - | 1.00x | - | - | - | - | {base['auc_roc']:.3f} | {base['rmse']:.3f} |"
    )
    runs = (
        ("federated, SecAgg+ off", plain),
        ("federated, SecAgg+ off, float16 wire", half),
        ("federated, SecAgg+ on", secure),
        ("overhead probe: SecAgg+ on, hidden 8 (trunk 1.05 MB)", probe),
    )
    for name, r in runs:
        print(
            f"| {name} | {r['total']:.1f} s | {r['rounds']:.1f} s | {r['total'] / base['seconds']:.2f}x, "
            f"{r['rounds'] / base['seconds']:.2f}x | {r['round_mean']:.2f} s | {r['compute']:.2f} s | "
            f"{r['round_mean'] - r['compute']:.2f} s | {r['bytes_per_round'] / 1e6:.2f} MB "
            f"({r['bytes_per_round'] / r['dense']:.2f}x its dense float32 trunk) | {r['auc_roc']:.3f} | {r['rmse']:.3f} |"
        )


if __name__ == "__main__":
    main()
