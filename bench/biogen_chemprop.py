"""chemprop v2 with its command-line defaults on one Biogen endpoint, run as a new user would.

``chemprop train --data-path ADME_X_train.csv --task-type regression --output-dir D``
(single task, 50 epochs, chemprop's own random 0.8/0.1/0.1 split of the training file for
its early-stopping checkpoint), then ``chemprop predict`` on the test file. The child
processes' CPU seconds (user + system, ``RUSAGE_CHILDREN``) are the cost of training; torch runs
on one thread (``OMP_NUM_THREADS=1``), like every model of the benchmark.

Results are cached per endpoint under ``CACHE/<endpoint>/`` (``predictions.csv``,
``result.json`` with CPU/wall seconds, the load, the command and library versions), so a
benchmark run reuses them unless asked to rerun: one endpoint costs ~13 min on 2 cores.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

RESULT_FILE, PREDICTIONS_FILE = "result.json", "predictions.csv"


@dataclass(frozen=True)
class ChempropRun:
    """One endpoint's chemprop result (also ``result.json``)."""

    endpoint: str
    train_cpu_seconds: float
    train_wall_seconds: float
    predict_cpu_seconds: float
    load_before: str
    load_after: str
    command: list[str]
    versions: dict[str, str]
    n_train: int
    n_test: int


def _versions() -> dict[str, str]:
    import chemprop
    import lightning
    import rdkit
    import torch

    return {
        "chemprop": chemprop.__version__,
        "lightning": lightning.__version__,
        "torch": torch.__version__,
        "rdkit": rdkit.__version__,
        "python": sys.version.split()[0],
    }


def _uptime() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run(command: list[str], log: Path) -> tuple[float, float]:
    """Run ``command`` (nice 10), output to ``log``; returns (CPU s of the child, wall s)."""
    cpu, wall = _children_cpu(), time.perf_counter()
    with log.open("w") as handle:
        env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}  # one thread, as every model here
        code = subprocess.call(["nice", "-n", "10", *command], stdout=handle, stderr=subprocess.STDOUT, env=env)
    if code != 0:
        raise RuntimeError(f"{command[0]} exited {code}; see {log}")
    return _children_cpu() - cpu, time.perf_counter() - wall


def chemprop_executable() -> str:
    candidate = Path(sys.executable).parent / "chemprop"
    return str(candidate) if candidate.exists() else "chemprop"


def run_endpoint(endpoint: str, train_csv: Path, test_csv: Path, cache: Path, seed: int = 0) -> ChempropRun:
    """Train chemprop defaults on ``train_csv``, predict ``test_csv``; write ``cache/<endpoint>/``."""
    folder = cache / endpoint
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    exe = chemprop_executable()
    train_cmd = [
        exe,
        "train",
        "--data-path",
        str(train_csv),
        "--task-type",
        "regression",
        "--smiles-columns",
        "smiles",
        "--target-columns",
        "activity",
        "--output-dir",
        str(folder / "train"),
        "--pytorch-seed",
        str(seed),
    ]
    before = _uptime()
    train_cpu, train_wall = _run(train_cmd, folder / "train.log")
    model_file = next((folder / "train").rglob("best*.pt"))
    predictions = folder / "raw_predictions.csv"
    predict_cmd = [exe, "predict", "--test-path", str(test_csv), "--model-paths", str(model_file), "--preds-path"]
    predict_cpu, _ = _run([*predict_cmd, str(predictions), "--smiles-columns", "smiles"], folder / "predict.log")
    after = _uptime()
    test = pd.read_csv(test_csv)
    predicted = pd.read_csv(predictions)
    column = [c for c in predicted.columns if c != "smiles"][0]
    pd.DataFrame({"smiles": test["smiles"], "y_true": test["activity"], "y_pred": predicted[column]}).to_csv(
        folder / PREDICTIONS_FILE, index=False
    )
    result = ChempropRun(
        endpoint,
        train_cpu,
        train_wall,
        predict_cpu,
        before,
        after,
        train_cmd,
        _versions(),
        int(len(pd.read_csv(train_csv))),
        int(len(test)),
    )
    (folder / RESULT_FILE).write_text(json.dumps(asdict(result), indent=2), encoding="utf-8")
    return result


def cached(endpoint: str, cache: Path) -> tuple[ChempropRun, pd.DataFrame] | None:
    """The cached result and predictions of ``endpoint``, or None."""
    folder = cache / endpoint
    if not (folder / RESULT_FILE).is_file() or not (folder / PREDICTIONS_FILE).is_file():
        return None
    data = json.loads((folder / RESULT_FILE).read_text(encoding="utf-8"))
    return ChempropRun(**data), pd.read_csv(folder / PREDICTIONS_FILE)


def predictions_for(
    endpoint: str, train_csv: Path, test_csv: Path, cache: Path, rerun: bool
) -> tuple[ChempropRun, np.ndarray]:
    """chemprop's test predictions for ``endpoint`` (cached unless ``rerun``) and its run record."""
    hit = None if rerun else cached(endpoint, cache)
    if hit is None:
        run_endpoint(endpoint, train_csv, test_csv, cache)
        hit = cached(endpoint, cache)
        assert hit is not None
    run, frame = hit
    return run, frame["y_pred"].to_numpy(np.float64)


if __name__ == "__main__":  # python bench/biogen_chemprop.py CACHE [ENDPOINT ...]: fill the cache
    from biogen_data import ENDPOINTS, split_files

    cache_dir = Path(sys.argv[1])
    for name in sys.argv[2:] or list(ENDPOINTS):
        train_path, test_path = split_files(name)
        if cached(name, cache_dir) is None:
            outcome = run_endpoint(name, train_path, test_path, cache_dir)
            print(
                f"{name}: train {outcome.train_cpu_seconds:.0f} CPU s, {outcome.train_wall_seconds:.0f} s wall "
                f"(load {outcome.load_before} -> {outcome.load_after})",
                flush=True,
            )
