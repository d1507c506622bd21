"""A hyperparameter search on validation folds (issue #9 item 5): Optuna, the same budget for every kind.

Runs ``evaluation.tuning.tune_kinds`` - the same seeded search, the same number of trials for
local (one study per partner), pooled and federated (real Flower simulation) - on a folder of
PreparedSets, starting every study from the current defaults (trial 0), and writes the chosen
settings (one TOML per kind, ``trials.csv``) into ``--out``. The test fold is never read.

Run (repository root)::

    FEDQSAR_DATA=../shared/data .venv/bin/python bench/bench_tuning.py \\
        --prepared /work/cache/admet-full/prepared --trials 4 --out runs/tuning/admet
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import pandas as pd

from fedqsar.evaluation.tuning import SearchSpace, TuningConfig, tune_kinds, write_tuned
from fedqsar.federation.config import FederationConfig, SecAggConfig
from fedqsar.model.config import ModelConfig, TrainConfig
from fedqsar.model.endpoints import with_consortium_endpoints
from fedqsar.prepared import PreparedSet


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prepared", type=Path, required=True, help="folder of partner PreparedSets")
    parser.add_argument("--trials", type=int, default=4, help="per model kind (and per partner for local)")
    parser.add_argument("--kinds", default="local,pooled,federated")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("runs/tuning"))
    return parser.parse_args()


def base_configs() -> tuple[ModelConfig, TrainConfig, FederationConfig]:
    """The defaults the search starts from (trial 0), as bench_consortium runs them."""
    from bench_consortium import BENCH_MODEL, BENCH_TRAIN  # noqa: PLC0415 (the benchmark's own settings)

    federation = FederationConfig(min_partners=1, secagg=SecAggConfig(enabled=False))
    return BENCH_MODEL, BENCH_TRAIN, federation


def main() -> None:
    args = parse_args()
    folders = {p.name: p for p in sorted(args.prepared.iterdir()) if (p / "manifest.json").is_file()}
    prepared = {name: PreparedSet.load(folder) for name, folder in folders.items()}
    kinds = tuple(k.strip() for k in args.kinds.split(",") if k.strip())
    cfg = TuningConfig(n_trials=args.trials, seed=args.seed, space=SearchSpace())
    started = time.perf_counter()
    print(f"load before: {os.getloadavg()}", flush=True)
    model_cfg, train_cfg, fed_cfg = base_configs()
    model_cfg = with_consortium_endpoints(model_cfg, [p.tasks for p in prepared.values()])
    tuned, trials = tune_kinds(
        prepared,
        folders,
        (model_cfg, train_cfg, fed_cfg),
        kinds,
        cfg,
        lambda stage, detail: print(f"{stage}: {detail}", flush=True),
    )
    write_tuned(args.out, list(tuned.values()), trials)
    seconds = time.perf_counter() - started
    pd.set_option("display.width", 200)
    print(trials.to_string(index=False))
    for (kind, partner), entry in sorted(tuned.items()):
        fed = (
            f" local_steps {entry.federation.local_steps} server_lr {entry.federation.server_lr}"
            if kind == "federated"
            else ""
        )
        print(
            f"{kind:9s} {partner:18s} val {entry.validation_loss:.4f}  lr {entry.train.lr:.2g} hidden "
            f"{entry.model.hidden_sizes[0]} dropout {entry.model.dropout:.2f} wd {entry.train.weight_decay:.2g}{fed}"
        )
    print(f"{seconds:.0f} s; load after: {os.getloadavg()}", flush=True)


if __name__ == "__main__":
    main()
