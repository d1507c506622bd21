"""Biogen's published per-endpoint split, side by side: fedqsar variants, chemprop v2 defaults, random forest.

Usage::

    .venv/bin/python bench/bench_biogen_split.py [--models ecfp_mt ecfp_desc_mt ...] [--endpoints HLM ...]
                                                 [--rerun-chemprop] [--out runs/bench_biogen_split]

Per endpoint (``MPNN/ADME_<endpoint>_{train,test}.csv``, Fang et al. 2023) every model trains on
the train file only and is scored on the test file:

* fedqsar variants: the train file(s) written as a wide table with the published column header
  (so units are read as the published set's), ``prepare`` (Python API), ``fedqsar train``
  (early stopping on the keyed-scaffold validation fold 3; every other fold trained on: the
  paper's test file is the test set), then ``fedqsar score`` on the test file, which prepares
  it separately with the model's prep config. ``*_mt`` variants train one multitask model on
  the union of the six train files (a compound in one endpoint's test file may carry another
  endpoint's training label, as in the paper's own multitask setting); ``*_st`` one model per
  endpoint, regression task only.
* chemprop v2 defaults (``bench/biogen_chemprop.py``; cached under ``OUT/chemprop/`` because one
  endpoint costs ~13 min on 2 cores; ``--rerun-chemprop`` refreshes the cache).
* random forest: scikit-learn, 500 trees, RDKit Morgan radius 2, 2,048 bits, on the raw SMILES.

Every model is scored on the same test rows against the file's own values (log10 of the
published unit), with Pearson r, Spearman and RMSE; fedqsar's prediction for a row is its
prediction in the input's unit for that row's standardised structure. Training cost is CPU
seconds (``time.process_time`` of this process for fedqsar and the forest; the child
process for chemprop, run with OMP_NUM_THREADS=1 like everything else); for multitask models the one training is shared by six endpoints
and reported once (``(all)`` row). ``uptime`` is printed beside the figures.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import pearsonr, spearmanr
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parent))
from biogen_chemprop import cached, predictions_for  # noqa: E402
from biogen_data import ENDPOINTS, split_files  # noqa: E402
from fedqsar.cli.main import app  # noqa: E402
from fedqsar.config import save_toml  # noqa: E402
from fedqsar.model.config import ModelConfig, TrainConfig  # noqa: E402
from fedqsar.prep.config import DescriptorConfig, FingerprintConfig, PrepConfig  # noqa: E402
from fedqsar.prep.keys import ConsortiumKey, save_key  # noqa: E402
from fedqsar.prep.pipeline import prepare  # noqa: E402
from fedqsar.prep.structures import process_structures  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
KEY = ConsortiumKey(b"fedqsar biogen split benchmark key")
runner = CliRunner()
THREADS = 1  # every model on one thread: comparable CPU seconds, no OpenMP spinning on a shared machine


@dataclass(frozen=True)
class FedqsarVariant:
    """A fedqsar configuration: prep, model and train settings, multitask or single task."""

    name: str
    prep: PrepConfig
    model: ModelConfig
    train: TrainConfig
    multitask: bool


NO_DESCRIPTORS = PrepConfig(descriptors=DescriptorConfig(enabled=False))
COUNTS = PrepConfig(fingerprint=FingerprintConfig(counts=True))  # + the default physchem descriptor block
TODAY = TrainConfig(test_fold=None)
# chosen on research validation splits carved from the train files (bench/research/NOTES.md)
LONGER = TrainConfig(test_fold=None, batch_size=128, epochs=60, early_stopping_patience=8)
MPNN = ModelConfig(trunk="mpnn", hidden_sizes=(300,), dropout=0.0, descriptors=False)
MPNN_TRAIN = TrainConfig(test_fold=None, batch_size=64, epochs=30, early_stopping_patience=5)
VARIANTS: dict[str, FedqsarVariant] = {
    v.name: v
    for v in (
        FedqsarVariant("ecfp_mt", NO_DESCRIPTORS, ModelConfig(descriptors=False), TODAY, True),
        FedqsarVariant("ecfp_st", NO_DESCRIPTORS, ModelConfig(descriptors=False), TODAY, False),
        FedqsarVariant("ecfp_desc_mt", COUNTS, ModelConfig(input_transform="log1p"), LONGER, True),
        FedqsarVariant("ecfp_desc_st", COUNTS, ModelConfig(input_transform="log1p"), LONGER, False),
        FedqsarVariant("mpnn_mt", PrepConfig(), MPNN, MPNN_TRAIN, True),
        FedqsarVariant("mpnn_desc_mt", PrepConfig(), dataclasses.replace(MPNN, descriptors=True), MPNN_TRAIN, True),
    )
}
DEFAULT_MODELS = ("ecfp_mt", "ecfp_desc_mt", "ecfp_desc_st")


def _load() -> str:
    return " ".join(f"{v:.1f}" for v in os.getloadavg())


def _metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    ok = np.isfinite(y) & np.isfinite(p)
    y, p = y[ok], p[ok]
    return {
        "pearson": float(pearsonr(y, p).statistic),
        "spearman": float(spearmanr(y, p).statistic),
        "rmse": float(np.sqrt(np.mean((y - p) ** 2))),
        "n": int(ok.sum()),
    }


def _wide(frames: dict[str, pd.DataFrame], path: Path) -> Path:
    """One wide CSV (id, smiles, one published column per endpoint) of the given per-endpoint files."""
    long = pd.concat([f.assign(column=ENDPOINTS[e][1]) for e, f in frames.items()], ignore_index=True)
    wide = long.pivot_table(index="smiles", columns="column", values="activity", aggfunc="first").reset_index()
    wide.insert(0, "id", [f"c{i}" for i in range(len(wide))])
    wide.to_csv(path, index=False)
    return path


def _invoke(args: list[str]) -> None:
    result = runner.invoke(app, args)
    if result.exit_code != 0:
        raise RuntimeError(f"fedqsar {args[0]} failed: {result.output}")


class Fedqsar:
    """Runs one fedqsar variant end to end and returns per-test-row predictions in the input unit."""

    def __init__(self, out: Path, key_file: Path) -> None:
        self.out, self.key_file = out, key_file

    def run(self, variant: FedqsarVariant, endpoints: list[str]) -> tuple[dict[str, np.ndarray], dict[str, float]]:
        folder = self.out / variant.name
        folder.mkdir(parents=True, exist_ok=True)
        groups = [endpoints] if variant.multitask else [[e] for e in endpoints]
        predictions: dict[str, np.ndarray] = {}
        cpu: dict[str, float] = {}
        for group in groups:
            label = "(all)" if variant.multitask else group[0]
            started = time.process_time()
            model = self._train(variant, group, folder / label)
            cpu[label] = time.process_time() - started
            for endpoint in group:
                predictions[endpoint] = self._score(model, endpoint, folder / label / endpoint)
        return predictions, cpu

    def _train(self, variant: FedqsarVariant, group: list[str], folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        train = _wide({e: pd.read_csv(split_files(e)[0]) for e in group}, folder / "train.csv")
        from fedqsar.prep.wide import wide_to_long

        long = folder / "train_long.parquet"
        wide_to_long(train, smiles_column="smiles", id_column="id").to_parquet(long, index=False)
        prepare(long, folder / "prepared", KEY, variant.prep, n_jobs=1)
        save_toml(variant.model, folder / "model.toml")
        save_toml(variant.train, folder / "train.toml")
        args = ["train", "--data", str(folder / "prepared"), "--out", str(folder / "model"), "--force",
                "--model-config", str(folder / "model.toml"), "--train-config", str(folder / "train.toml"),
                "--task-kind", "regression", "--threads", str(THREADS)]  # fmt: skip
        _invoke(args)
        return folder / "model"

    def _score(self, model: Path, endpoint: str, folder: Path) -> np.ndarray:
        folder.mkdir(parents=True, exist_ok=True)
        test = pd.read_csv(split_files(endpoint)[1])
        test_wide = _wide({endpoint: test}, folder / "test.csv")
        _invoke(["score", "--model", str(model), "--key", str(self.key_file), "--input", str(test_wide), "--wide",
                 "--id-column", "id", "--out", str(folder / "scores.csv"), "-q"])  # fmt: skip
        scored = pd.read_csv(folder / "scores.predictions.csv")
        scored = scored[scored["task"] == ENDPOINTS[endpoint][1]]
        by_structure = dict(zip(scored["std_smiles"], scored["predicted_input"], strict=True))
        batch = process_structures(test["smiles"].tolist(), PrepConfig(), KEY)  # each test row's structure
        return np.array([by_structure.get(s, np.nan) for s in batch.std_smiles], dtype=np.float64)


def random_forest(endpoint: str) -> tuple[np.ndarray, float]:
    """500 trees on RDKit Morgan r=2, 2,048 bits (raw SMILES, no standardisation): test predictions, CPU s."""
    from rdkit import Chem, rdBase
    from rdkit.Chem import rdFingerprintGenerator
    from sklearn.ensemble import RandomForestRegressor

    generator = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048)

    def bits(smiles: pd.Series) -> np.ndarray:
        with rdBase.BlockLogs():
            return np.array([generator.GetFingerprintAsNumPy(Chem.MolFromSmiles(s)) for s in smiles], dtype=np.uint8)

    train, test = (pd.read_csv(p) for p in split_files(endpoint))
    started = time.process_time()
    forest = RandomForestRegressor(n_estimators=500, n_jobs=THREADS, random_state=0).fit(
        bits(train["smiles"]), train["activity"]
    )
    cpu = time.process_time() - started
    return forest.predict(bits(test["smiles"])), cpu


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="*", default=list(DEFAULT_MODELS), choices=list(VARIANTS))
    parser.add_argument("--endpoints", nargs="*", default=list(ENDPOINTS))
    parser.add_argument("--rerun-chemprop", action="store_true")
    parser.add_argument("--no-rf", action="store_true")
    parser.add_argument("--no-chemprop", action="store_true", help="leave chemprop out (its cache is not filled)")
    parser.add_argument(
        "--run-missing-chemprop",
        action="store_true",
        help="train chemprop for endpoints not in the cache (~13 min each)",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "bench_biogen_split")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    key_file = args.out / "bench.key"
    if not key_file.exists():
        save_key(KEY, key_file)
    print(f"load before: {_load()}", flush=True)
    rows: list[dict] = []
    truth = {e: pd.read_csv(split_files(e)[1])["activity"].to_numpy(np.float64) for e in args.endpoints}

    def record(model: str, endpoint: str, predicted: np.ndarray, cpu: float | None) -> None:
        rows.append({"model": model, "endpoint": endpoint, **_metrics(truth[endpoint], predicted), "train_cpu_s": cpu})

    for endpoint in args.endpoints:
        if args.no_chemprop:
            break
        if not (args.rerun_chemprop or args.run_missing_chemprop) and cached(endpoint, args.out / "chemprop") is None:
            print(f"chemprop {endpoint}: not in the cache (--run-missing-chemprop trains it)")
            continue
        run, predicted = predictions_for(endpoint, *split_files(endpoint), args.out / "chemprop", args.rerun_chemprop)
        record("chemprop_defaults", endpoint, predicted, run.train_cpu_seconds)
        print(f"chemprop {endpoint}: cached run, {run.train_cpu_seconds:.0f} CPU s (load then {run.load_before})")
    for endpoint in [] if args.no_rf else args.endpoints:
        predicted, cpu = random_forest(endpoint)
        record("random_forest", endpoint, predicted, cpu)
    fedqsar = Fedqsar(args.out / "fedqsar", key_file)
    for name in args.models:
        predictions, cpu = fedqsar.run(VARIANTS[name], args.endpoints)
        for endpoint, predicted in predictions.items():
            record(name, endpoint, predicted, cpu.get(endpoint))
        if "(all)" in cpu:
            rows.append({"model": name, "endpoint": "(all)", "train_cpu_s": cpu["(all)"]})
        print(f"{name}: {cpu}", flush=True)
    table = pd.DataFrame(rows)
    table.to_csv(args.out / "results.csv", index=False)
    _print(table)
    print(f"load after: {_load()}")
    (args.out / "settings.json").write_text(json.dumps({"models": args.models, "endpoints": args.endpoints}, indent=2))
    return 0


def _print(table: pd.DataFrame) -> None:
    scored = table.dropna(subset=["pearson"])
    for metric in ("pearson", "spearman", "rmse"):
        wide = scored.pivot_table(index="endpoint", columns="model", values=metric, aggfunc="first")
        wide.loc["mean"] = wide.mean()
        print(f"\n{metric}\n{wide.to_string(float_format=lambda v: f'{v:.3f}')}")
    cpu = table.groupby("model")["train_cpu_s"].sum(min_count=1)
    print(
        f"\ntraining CPU s (sum over endpoints; multitask: one training)\n{cpu.to_string(float_format=lambda v: f'{v:.0f}')}"
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
