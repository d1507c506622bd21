"""Biogen's published per-endpoint split, side by side: fedqsar variants, chemprop v2 defaults, random forest.

Usage::

    .venv/bin/python bench/bench_biogen_split.py [--models ecfp ecfp_desc mpnn mpnn_desc ...] [--endpoints HLM ...]
                                                 [--split test|validation] [--no-rf] [--rerun-chemprop]
                                                 [--out runs/bench_biogen_split]

Runs may be split over several invocations: ``OUT/results.csv`` keeps the rows of models that
an invocation did not run (its own models' rows are replaced), so ``--models mpnn`` after
``--models ecfp ecfp_desc`` gives one table with both.

Per endpoint (``MPNN/ADME_<endpoint>_{train,test}.csv``, Fang et al. 2023) every model trains on
the train file only and is scored on the test file:

* fedqsar variants: the train file(s) written as a wide table with the published column header
  (so units are read as the published set's), ``prepare`` (Python API), ``fedqsar train``
  (early stopping on the keyed-scaffold validation fold 3; every other fold trained on: the
  paper's test file is the test set), then ``fedqsar score`` on the test file, which prepares
  it separately with the model's prep config. Variants train one multitask model on the
  union of the six train files (a compound in one endpoint's test file may carry another
  endpoint's training label, as in the paper's own multitask setting), except ``*_st``: one
  model per endpoint, regression task only. ``ecfp_desc`` is fedqsar's defaults.
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
import torch
from scipy.stats import pearsonr, spearmanr
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parent))
from biogen_chemprop import cached, predictions_for  # noqa: E402
from biogen_data import ENDPOINTS, SPLITS, split_files, split_frames  # noqa: E402
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
BINARY = PrepConfig(fingerprint=FingerprintConfig(counts=False))
FOR_USE = TrainConfig(test_fold=None)  # fedqsar train's default: every fold but the validation fold trained on
# the message-passing trunk: chemprop's own defaults where they apply (FFN 300, no dropout, batch 64)
MPNN = ModelConfig(trunk="mpnn", hidden_sizes=(300,), dropout=0.0, descriptors=False)
MPNN_TRAIN = TrainConfig(test_fold=None, batch_size=64, epochs=40, early_stopping_patience=6)
VARIANTS: dict[str, FedqsarVariant] = {
    v.name: v
    for v in (
        # the columns: fedqsar defaults (multitask over the six train files), with and without descriptors
        FedqsarVariant("ecfp", NO_DESCRIPTORS, ModelConfig(descriptors=False), FOR_USE, True),
        FedqsarVariant("ecfp_desc", PrepConfig(), ModelConfig(), FOR_USE, True),
        FedqsarVariant("mpnn", PrepConfig(), MPNN, MPNN_TRAIN, True),
        FedqsarVariant("mpnn_desc", PrepConfig(), dataclasses.replace(MPNN, descriptors=True), MPNN_TRAIN, True),
        # single task (one model per endpoint, --tasks), and the settings the defaults were chosen against
        FedqsarVariant("ecfp_desc_st", PrepConfig(), ModelConfig(), FOR_USE, False),
        FedqsarVariant("ecfp_desc_binary", BINARY, ModelConfig(), FOR_USE, True),
        FedqsarVariant(
            "ecfp_desc_b512",
            PrepConfig(),
            ModelConfig(),
            TrainConfig(test_fold=None, batch_size=512, epochs=25, early_stopping_patience=5),
            True,
        ),
        FedqsarVariant(
            "ecfp_previous_defaults",  # fedqsar before issue 14: binary bits, no descriptors, batch 512, 25 epochs
            dataclasses.replace(NO_DESCRIPTORS, fingerprint=FingerprintConfig(counts=False)),
            ModelConfig(descriptors=False, input_transform="binary"),
            TrainConfig(test_fold=None, batch_size=512, epochs=25, early_stopping_patience=5),
            True,
        ),
    )
}
DEFAULT_MODELS = ("ecfp", "ecfp_desc", "mpnn", "mpnn_desc")


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


@dataclass(frozen=True)
class Cost:
    """CPU seconds of one fedqsar training: ``prepare`` of the training file(s), then ``fedqsar train``."""

    prepare: float
    train: float


class Fedqsar:
    """Runs one fedqsar variant end to end and returns per-evaluation-row predictions in the input unit."""

    def __init__(self, out: Path, key_file: Path, frames: dict[str, tuple[pd.DataFrame, pd.DataFrame]]) -> None:
        self.out, self.key_file, self.frames = out, key_file, frames

    def run(self, variant: FedqsarVariant, endpoints: list[str]) -> tuple[dict[str, np.ndarray], dict[str, Cost]]:
        folder = self.out / variant.name
        folder.mkdir(parents=True, exist_ok=True)
        groups = [endpoints] if variant.multitask else [[e] for e in endpoints]
        predictions: dict[str, np.ndarray] = {}
        cost: dict[str, Cost] = {}
        for group in groups:
            label = "(all)" if variant.multitask else group[0]
            model, cost[label] = self._train(variant, group, folder / label)
            for endpoint in group:
                predictions[endpoint] = self._score(model, endpoint, folder / label / endpoint)
        return predictions, cost

    def _train(self, variant: FedqsarVariant, group: list[str], folder: Path) -> tuple[Path, Cost]:
        from fedqsar.prep.wide import wide_to_long

        folder.mkdir(parents=True, exist_ok=True)
        train = _wide({e: self.frames[e][0] for e in group}, folder / "train.csv")
        long = folder / "train_long.parquet"
        started = time.process_time()
        wide_to_long(train, smiles_column="smiles", id_column="id").to_parquet(long, index=False)
        prepare(long, folder / "prepared", KEY, variant.prep, n_jobs=1)
        prepared_at = time.process_time()
        save_toml(variant.model, folder / "model.toml")
        save_toml(variant.train, folder / "train.toml")
        args = ["train", "--data", str(folder / "prepared"), "--out", str(folder / "model"), "--force",
                "--model-config", str(folder / "model.toml"), "--train-config", str(folder / "train.toml"),
                "--task-kind", "regression", "--threads", str(THREADS)]  # fmt: skip
        _invoke(args)
        return folder / "model", Cost(prepared_at - started, time.process_time() - prepared_at)

    def _score(self, model: Path, endpoint: str, folder: Path) -> np.ndarray:
        folder.mkdir(parents=True, exist_ok=True)
        evaluation = self.frames[endpoint][1]
        test_wide = _wide({endpoint: evaluation}, folder / "test.csv")
        _invoke(["score", "--model", str(model), "--key", str(self.key_file), "--input", str(test_wide), "--wide",
                 "--id-column", "id", "--out", str(folder / "scores.csv"), "-q"])  # fmt: skip
        scored = pd.read_csv(folder / "scores.predictions.csv")
        scored = scored[scored["task"] == ENDPOINTS[endpoint][1]]
        by_structure = dict(zip(scored["std_smiles"], scored["predicted_input"], strict=True))
        batch = process_structures(evaluation["smiles"].tolist(), PrepConfig(), KEY)  # each row's structure
        return np.array([by_structure.get(s, np.nan) for s in batch.std_smiles], dtype=np.float64)


def random_forest(train: pd.DataFrame, test: pd.DataFrame) -> tuple[np.ndarray, float]:
    """500 trees on RDKit Morgan r=2, 2,048 bits (raw SMILES, no standardisation): test predictions, CPU s."""
    from rdkit import Chem, rdBase
    from rdkit.Chem import rdFingerprintGenerator
    from sklearn.ensemble import RandomForestRegressor

    generator = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048)

    def bits(smiles: pd.Series) -> np.ndarray:
        with rdBase.BlockLogs():
            return np.array([generator.GetFingerprintAsNumPy(Chem.MolFromSmiles(s)) for s in smiles], dtype=np.uint8)

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
    parser.add_argument(
        "--split",
        choices=SPLITS,
        default="test",
        help="test: the paper's test files; validation: 20 %% of each train file (choose settings here)",
    )
    parser.add_argument("--rerun-chemprop", action="store_true")
    parser.add_argument("--no-rf", action="store_true")
    parser.add_argument("--no-chemprop", action="store_true", help="leave chemprop out (its cache is not filled)")
    parser.add_argument(
        "--run-missing-chemprop",
        action="store_true",
        help="train chemprop for endpoints not in the cache (~13 min each)",
    )
    parser.add_argument("--out", type=Path, default=None, help="default runs/bench_biogen_split[_validation]")
    args = parser.parse_args(argv)
    torch.set_num_threads(THREADS)
    out = args.out or ROOT / "runs" / ("bench_biogen_split" if args.split == "test" else "bench_biogen_validation")
    out.mkdir(parents=True, exist_ok=True)
    key_file = out / "bench.key"
    if not key_file.exists():
        save_key(KEY, key_file)
    print(f"split {args.split}; load before: {_load()}", flush=True)
    frames = {e: split_frames(e, args.split) for e in args.endpoints}
    rows: list[dict] = []
    truth = {e: frames[e][1]["activity"].to_numpy(np.float64) for e in args.endpoints}

    def record(model: str, endpoint: str, predicted: np.ndarray, cpu: float | None, prep: float | None = None) -> None:
        metrics = _metrics(truth[endpoint], predicted)
        rows.append({"model": model, "endpoint": endpoint, **metrics, "train_cpu_s": cpu, "prepare_cpu_s": prep})

    for endpoint in args.endpoints:
        if args.no_chemprop or args.split != "test":  # chemprop's cache holds the test split only
            break
        if not (args.rerun_chemprop or args.run_missing_chemprop) and cached(endpoint, out / "chemprop") is None:
            print(f"chemprop {endpoint}: not in the cache (--run-missing-chemprop trains it)")
            continue
        run, predicted = predictions_for(endpoint, *split_files(endpoint), out / "chemprop", args.rerun_chemprop)
        record("chemprop_defaults", endpoint, predicted, run.train_cpu_seconds)
        print(f"chemprop {endpoint}: cached run, {run.train_cpu_seconds:.0f} CPU s (load then {run.load_before})")
    for endpoint in [] if args.no_rf else args.endpoints:
        predicted, cpu = random_forest(*frames[endpoint])
        record("random_forest", endpoint, predicted, cpu)
    fedqsar = Fedqsar(out / "fedqsar", key_file, frames)
    for name in args.models:
        started = os.getloadavg()[0]
        predictions, cost = fedqsar.run(VARIANTS[name], args.endpoints)
        for endpoint, predicted in predictions.items():
            spent = cost.get(endpoint)
            record(name, endpoint, predicted, spent and spent.train, spent and spent.prepare)
        if "(all)" in cost:
            rows.append(
                {"model": name, "endpoint": "(all)", "train_cpu_s": cost["(all)"].train,
                 "prepare_cpu_s": cost["(all)"].prepare}
            )  # fmt: skip
        print(f"{name}: {cost} (load {started:.1f} -> {os.getloadavg()[0]:.1f})", flush=True)
    table = _merge_earlier(pd.DataFrame(rows), out / "results.csv")
    table.to_csv(out / "results.csv", index=False)
    _print(table)
    print(f"load after: {_load()}")
    settings = {"split": args.split, "models": args.models, "endpoints": args.endpoints, "threads": THREADS}
    (out / "settings.json").write_text(json.dumps(settings, indent=2))
    return 0


def _merge_earlier(table: pd.DataFrame, path: Path) -> pd.DataFrame:
    """``table`` plus the rows of ``path`` (an earlier invocation's results) for models ``table`` lacks."""
    if not path.is_file():
        return table
    earlier = pd.read_csv(path)
    kept = earlier[~earlier["model"].isin(table["model"].unique())]
    return pd.concat([kept, table], ignore_index=True) if len(kept) else table


def _print(table: pd.DataFrame) -> None:
    scored = table.dropna(subset=["pearson"])
    for metric in ("pearson", "spearman", "rmse"):
        wide = scored.pivot_table(index="endpoint", columns="model", values=metric, aggfunc="first")
        wide.loc["mean"] = wide.mean()
        print(f"\n{metric}\n{wide.to_string(float_format=lambda v: f'{v:.3f}')}")
    for column in ("train_cpu_s", "prepare_cpu_s"):
        cpu = table.groupby("model")[column].sum(min_count=1)
        print(
            f"\n{column} (sum over endpoints; multitask: one training)\n"
            + cpu.to_string(float_format=lambda v: f"{v:.0f}")
        )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
