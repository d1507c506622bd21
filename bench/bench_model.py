"""Benchmark of local training: the project's sparse trainer beside a naive dense trainer.

Usage::

    .venv/bin/python bench/bench_model.py speed   [--rows 100000 --hidden 2000 --batch-sizes 512 4096]
    .venv/bin/python bench/bench_model.py memory  [--rows 1000000 --hidden 2000 --steps 100]
    .venv/bin/python bench/bench_model.py quality --prepared PREPARED [PREPARED ...] [--trees 200]

``speed`` trains one epoch with each trainer on the same synthetic set, same initial model,
same batch order and same dropout seeds, and prints rows/s and the loss after the epoch (mean
training loss over the epoch and loss on 5,000 held-out rows). The naive trainer is the same
network read through the full (D, H) table with ``torch.optim.Adam`` over all parameters, so
every step computes and applies a dense D x H gradient, as SparseChem does.

Synthetic rows: D = 32,768 bits; each row holds up to ``--bits-per-row`` bits drawn with
the bit frequencies of real ECFP6 fingerprints (RDKit Morgan radius 3, 32,768 bits, of the
Biogen ADME and AstraZeneca logD molecules in the shared data folder; +1 smoothing so every
bit can occur). Bits are drawn independently (with replacement;
repeats collapse, so rows hold a little fewer than 50 bits: the mean is printed), so a batch touches more distinct bits than a
batch of real, related molecules would: this favours the dense baseline. Labels: 100
classification tasks, each row observed in about 5 of them, following a sparse linear rule
of the bits.

``quality`` trains the default model (``fit``: early stopping on validation fold 3, test fold 4
untouched) and a scikit-learn random forest per task on the same fingerprints and training
folds, and prints validation-fold metrics of both side by side.

``memory`` builds a 1,000,000-row set in this process, runs ``--steps`` training steps of the
sparse trainer and prints the peak resident memory (ru_maxrss).
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

from fedqsar.model.batching import sparse_batch, target_batch
from fedqsar.model.config import ModelConfig, TrainConfig
from fedqsar.model.losses import multitask_loss
from fedqsar.model.network import HeadSpec, MultitaskModel
from fedqsar.model.training import Trainer
from fedqsar.prepared import TASK_COLUMNS, PreparedSet

N_BITS = 32768
N_TASKS = 100
SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


def real_bit_frequencies(data_dir: Path) -> np.ndarray:
    """Bit frequencies (n_bits,) of ECFP6 over the Biogen and AZ logD molecules, +1 smoothed."""
    from rdkit import Chem, RDLogger
    from rdkit.Chem import rdFingerprintGenerator

    RDLogger.DisableLog("rdApp.*")
    smiles = pd.read_csv(data_dir / "biogen_adme" / "ADME_public_set_3521.csv")["SMILES"].tolist()
    smiles += pd.read_csv(data_dir / "moleculenet_chemprop" / "lipo.csv")["smiles"].tolist()
    generator = rdFingerprintGenerator.GetMorganGenerator(radius=3, fpSize=N_BITS)
    counts = np.ones(N_BITS)
    bits_per_molecule = []
    for text in smiles:
        mol = Chem.MolFromSmiles(text)
        if mol is None:
            continue
        on = np.array(list(generator.GetFingerprint(mol).GetOnBits()))
        counts[on] += 1
        bits_per_molecule.append(len(on))
    print(
        f"bit profile: {len(bits_per_molecule)} real molecules, {np.mean(bits_per_molecule):.1f} ECFP6 bits per molecule"
    )
    return counts / counts.sum()


def synthetic_set(n_rows: int, bits_per_row: int, frequencies: np.ndarray, seed: int = 0) -> PreparedSet:
    """PreparedSet of ``n_rows`` rows, 100 classification tasks (see module docstring)."""
    rng = np.random.default_rng(seed)
    # draw bits_per_row bits per row from the frequency profile; repeats within a row collapse
    cdf = np.cumsum(frequencies)
    indices = np.searchsorted(cdf, rng.random((n_rows, bits_per_row)) * cdf[-1]).astype(np.int32)
    indices = np.minimum(indices, N_BITS - 1)
    X = sp.csr_matrix(
        (np.ones(indices.size, np.float32), indices.ravel(), np.arange(0, indices.size + 1, bits_per_row)),
        shape=(n_rows, N_BITS),
    )
    X.sum_duplicates()
    X.data[:] = 1.0
    effects = (rng.normal(0, 1, (N_BITS, N_TASKS)) * (rng.random((N_BITS, N_TASKS)) < 0.02)).astype(np.float32)
    task_of = rng.integers(0, N_TASKS, (n_rows, 5))
    task_of.sort(axis=1)
    keep = np.c_[np.ones((n_rows, 1), bool), np.diff(task_of, axis=1) > 0]
    rows = np.repeat(np.arange(n_rows), 5)[keep.ravel()]
    cols = task_of.ravel()[keep.ravel()]
    score = np.empty(len(rows), np.float32)
    for start in range(0, len(rows), 200_000):  # score of (row, task) = sum of the task's effects of the row's bits
        part = slice(start, start + 200_000)
        sub = X[rows[part]]
        entry_pair = np.repeat(np.arange(sub.shape[0]), np.diff(sub.indptr))
        score[part] = np.bincount(
            entry_pair, weights=effects[sub.indices, cols[part][entry_pair]], minlength=sub.shape[0]
        )
    labels = (score > 0).astype(np.float32)
    counts = np.bincount(rows, minlength=n_rows)
    Y = sp.csr_matrix((labels, cols, np.r_[0, np.cumsum(counts)]), shape=(n_rows, N_TASKS))
    C = sp.csr_matrix((np.zeros(len(labels), np.int8), cols, Y.indptr.copy()), shape=(n_rows, N_TASKS))
    tasks = pd.DataFrame({c: [0] * N_TASKS for c in TASK_COLUMNS})
    tasks["task_id"], tasks["task_name"], tasks["kind"] = (
        np.arange(N_TASKS),
        [f"t{i}" for i in range(N_TASKS)],
        "classification",
    )
    tasks["training_weight"], tasks["aggregation_weight"], tasks["passes_quorum"] = 1.0, 1.0, True
    compounds = pd.DataFrame({"row": np.arange(n_rows), "compound_id": np.arange(n_rows).astype(str), "fold": 0})
    return PreparedSet(X=X, Y=Y, censor=C, compounds=compounds, tasks=tasks)


class NaiveDenseTrainer:
    """Same network and loss; dense first-layer gradient and torch.optim.Adam on everything."""

    def __init__(self, model: MultitaskModel, prepared: PreparedSet, cfg: TrainConfig) -> None:
        self.model, self.prepared, self.cfg = model, prepared, cfg
        self.head = model.heads["p"]
        self.optimiser = torch.optim.Adam(list(model.trunk.parameters()) + list(self.head.parameters()), lr=cfg.lr)
        self.task_weights = torch.ones(N_TASKS)

    def train_step(self, rows: np.ndarray) -> float:
        self.model.train()
        x = sparse_batch(self.prepared.X, rows)
        y = target_batch(self.prepared.Y, self.prepared.censor, rows)
        raw = self.head(self.model.trunk(x))
        loss = multitask_loss(raw, y.values, y.observed, y.censor, self.head.is_regression, self.task_weights)
        self.optimiser.zero_grad(set_to_none=False)
        loss.backward()
        self.optimiser.step()
        return float(loss.detach())


def interleaved_epoch(
    trainers: dict[str, object], order: np.ndarray, batch_size: int, block: int = 4
) -> dict[str, dict[str, float]]:
    """One epoch per trainer over the same batches, alternating blocks of ``block`` batches.

    Alternating keeps both trainers under the same machine load (others share the cores).
    Each trainer gets its own torch RNG stream (identical seeds), so dropout masks match.
    """
    batches = [order[s : s + batch_size] for s in range(0, len(order), batch_size)]
    rng_states = {name: torch.manual_seed(0).get_state() for name in trainers}
    stats = {name: {"wall": 0.0, "cpu": 0.0, "loss_sum": 0.0} for name in trainers}
    for start in range(0, len(batches), block):
        for name, trainer in trainers.items():
            torch.set_rng_state(rng_states[name])
            wall, cpu = time.perf_counter(), time.process_time()
            for rows in batches[start : start + block]:
                stats[name]["loss_sum"] += trainer.train_step(rows) * len(rows)  # type: ignore[attr-defined]
            stats[name]["wall"] += time.perf_counter() - wall
            stats[name]["cpu"] += time.process_time() - cpu
            rng_states[name] = torch.get_rng_state()
    return stats


def warm_up_kernels() -> None:
    """Compile (or load from cache) the numba kernel before any timing."""
    from fedqsar.model.sparse_adam import RowSparseAdam

    table = torch.nn.Parameter(torch.zeros(4, 3))
    RowSparseAdam(table).step_from_output_grad(
        torch.tensor([1, 2]), torch.tensor([0, 0]), torch.ones(2), torch.ones(1, 3)
    )


def run_speed(args: argparse.Namespace) -> None:
    frequencies = real_bit_frequencies(args.data)
    n_eval = 5000
    prepared = synthetic_set(args.rows + n_eval, args.bits_per_row, frequencies)
    train_rows, eval_rows = np.arange(args.rows), np.arange(args.rows, args.rows + n_eval)
    print(
        f"set: {args.rows} training rows, {prepared.X.nnz / prepared.n_compounds:.1f} bits/row, "
        f"D={N_BITS}, H={args.hidden}, {N_TASKS} tasks, {prepared.Y.nnz} labels; threads={torch.get_num_threads()}",
        flush=True,
    )
    model_cfg = ModelConfig(hidden_sizes=(args.hidden,), dropout=0.2)
    warm_up_kernels()
    results = []
    for batch_size in args.batch_sizes:
        cfg = TrainConfig(batch_size=batch_size, lr=1e-3, seed=0, validation_fold=98, test_fold=99)
        order = np.random.default_rng([0, 0]).permutation(train_rows)
        distinct = np.mean(
            [
                len(np.unique(prepared.X[order[s : s + batch_size]].indices))
                for s in range(0, min(len(order), 20 * batch_size), batch_size)
            ]
        )
        models = {name: MultitaskModel(N_BITS, model_cfg, {"p": HeadSpec(N_TASKS, 0)}) for name in args.trainers}
        sparse = Trainer(models["sparse"], {"p": prepared}, cfg) if "sparse" in models else None
        trainers = {
            "sparse": sparse,
            "naive": NaiveDenseTrainer(models["naive"], prepared, cfg) if "naive" in models else None,
        }
        trainers = {k: v for k, v in trainers.items() if v is not None}
        stats = interleaved_epoch(trainers, order, batch_size)
        for name, st in stats.items():
            heldout = Trainer(models[name], {"p": prepared}, cfg).loss(eval_rows)
            results.append(
                {
                    "batch": batch_size,
                    "trainer": name,
                    "rows_per_s": args.rows / st["wall"],
                    "rows_per_cpu_s": args.rows / st["cpu"],
                    "wall_s": st["wall"],
                    "train_loss": st["loss_sum"] / args.rows,
                    "heldout_loss": heldout,
                    "distinct_bits_per_batch": distinct,
                }
            )
        print(pd.DataFrame(results[-len(stats) :]).to_string(index=False), flush=True)
    table = pd.DataFrame(results)
    print("\n" + table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    for batch_size in args.batch_sizes:
        part = table[table.batch == batch_size].set_index("trainer")
        if {"sparse", "naive"} <= set(part.index):
            print(
                f"batch {batch_size}: sparse / naive rows/s = {part.at['sparse', 'rows_per_s'] / part.at['naive', 'rows_per_s']:.2f}x "
                f"(per CPU-second {part.at['sparse', 'rows_per_cpu_s'] / part.at['naive', 'rows_per_cpu_s']:.2f}x); "
                f"held-out loss sparse {part.at['sparse', 'heldout_loss']:.4f} vs naive {part.at['naive', 'heldout_loss']:.4f}; "
                f"sparse rows/s / SparseChem's 590 = {part.at['sparse', 'rows_per_s'] / 590:.1f}x"
            )


def run_memory(args: argparse.Namespace) -> None:
    frequencies = real_bit_frequencies(args.data)
    prepared = synthetic_set(args.rows, args.bits_per_row, frequencies)
    print(f"set built: {args.rows} rows, {prepared.X.nnz} stored bits; peak so far {peak_gb():.2f} GB")
    model = MultitaskModel(N_BITS, ModelConfig(hidden_sizes=(args.hidden,)), {"p": HeadSpec(N_TASKS, 0)})
    trainer = Trainer(
        model, {"p": prepared}, TrainConfig(batch_size=args.batch_sizes[0], validation_fold=98, test_fold=99)
    )
    started = time.perf_counter()
    rows = np.random.default_rng(0).permutation(args.rows)[: args.steps * args.batch_sizes[0]]
    trainer.train_epochs(1, rows=rows)
    print(
        f"{args.steps} steps of batch {args.batch_sizes[0]} in {time.perf_counter() - started:.1f} s; "
        f"peak resident memory {peak_gb():.2f} GB (limit 4 GB)"
    )


def random_forest_predictions(
    prepared: PreparedSet, train_rows: np.ndarray, eval_rows: np.ndarray, trees: int
) -> np.ndarray:
    """(len(eval_rows), n_tasks) random-forest predictions, one forest per task on its observed training rows.

    Classification: RandomForestClassifier probabilities; regression: RandomForestRegressor on
    the stated values (censored values used as stated: a forest cannot use qualifiers).
    max_features="sqrt" for both, 2 jobs.
    """
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

    tasks = prepared.tasks.sort_values("task_id")
    Yc = prepared.Y[train_rows].tocsc()
    X_train, X_eval = prepared.X[train_rows], prepared.X[eval_rows]
    out = np.full((len(eval_rows), len(tasks)), np.nan)
    for column, kind in enumerate(tasks["kind"]):
        rows = Yc.indices[Yc.indptr[column] : Yc.indptr[column + 1]]
        y = Yc.data[Yc.indptr[column] : Yc.indptr[column + 1]]
        if len(y) == 0:
            continue  # every compound of this task is held out: no forest, NaN predictions
        if kind == "classification":
            if len(np.unique(y)) < 2:
                out[:, column] = float(y.mean()) if len(y) else 0.5
                continue
            forest = RandomForestClassifier(trees, max_features="sqrt", n_jobs=2, random_state=0).fit(X_train[rows], y)
            out[:, column] = forest.predict_proba(X_eval)[:, list(forest.classes_).index(1.0)]
        else:
            forest = RandomForestRegressor(trees, max_features="sqrt", n_jobs=2, random_state=0).fit(X_train[rows], y)
            out[:, column] = forest.predict(X_eval)
    return out


def run_quality(args: argparse.Namespace) -> None:
    """Validation-fold metrics of the default model beside a random forest, per PreparedSet."""
    from fedqsar.model.metrics import aggregate_metrics, task_metrics
    from fedqsar.model.predict import predict
    from fedqsar.model.training import fit

    for folder in args.prepared:
        prepared = PreparedSet.load(folder)
        train_cfg = TrainConfig(seed=0)
        model_cfg = ModelConfig(hidden_sizes=(args.hidden,))
        model = MultitaskModel(prepared.n_bits, model_cfg, {"p": HeadSpec.from_tasks(prepared.tasks)})
        started = time.perf_counter()
        result = fit(model, "p", prepared, train_cfg)
        model_seconds = time.perf_counter() - started
        train_rows, eval_rows = result.trainer.train_rows, result.trainer.validation_rows
        Y, C = prepared.Y[eval_rows], prepared.censor[eval_rows]
        started = time.perf_counter()
        forest = random_forest_predictions(prepared, train_rows, eval_rows, args.trees)
        forest_seconds = time.perf_counter() - started
        trained = np.isfinite(forest).all(axis=0)  # tasks with no training label anywhere are left out of both
        tasks = prepared.tasks.sort_values("task_id").reset_index(drop=True)
        kept = tasks[trained]
        long = {
            "fedqsar": task_metrics(
                Y[:, trained], C[:, trained], predict(model, "p", prepared.X[eval_rows])[:, trained], kept
            ),
            "random_forest": task_metrics(Y[:, trained], C[:, trained], forest[:, trained], kept),
        }
        if not trained.all():
            print(
                f"{int((~trained).sum())} tasks have no training label (all their compounds are in held-out folds): left out"
            )
        print(
            f"\n{folder}: {prepared.n_compounds} compounds, {prepared.n_tasks} tasks; train {len(train_rows)} rows, "
            f"validation fold {train_cfg.validation_fold} {len(eval_rows)} rows; model hidden {model_cfg.hidden_sizes}, "
            f"best epoch {result.best_epoch} ({model_seconds:.0f} s); forest {args.trees} trees/task ({forest_seconds:.0f} s)"
        )
        per_task = pd.concat(
            {k: v.pivot_table(index="task", columns="metric", values="value") for k, v in long.items()}, axis=1
        )
        wanted = [m for m in ("auc_roc", "auc_pr", "rmse", "r2") if m in per_task.columns.get_level_values(1)]
        print(per_task.loc[:, [(k, m) for m in wanted for k in long]].round(3).to_string())
        summary = pd.concat(
            {k: aggregate_metrics(v, prepared.tasks).set_index(["kind", "metric"])["value"] for k, v in long.items()},
            axis=1,
        )
        print("aggregation-weighted means (tasks passing quorum):")
        print(summary.round(4).to_string())


def peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["speed", "memory", "quality"])
    parser.add_argument("--prepared", type=Path, nargs="+", default=[], help="quality: PreparedSet folders")
    parser.add_argument("--trees", type=int, default=200, help="quality: trees per random forest")
    parser.add_argument("--rows", type=int, default=None)
    parser.add_argument("--hidden", type=int, default=2000)
    parser.add_argument("--bits-per-row", type=int, default=50)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[512, 4096])
    parser.add_argument("--trainers", nargs="+", default=["sparse", "naive"], choices=["sparse", "naive"])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--data", type=Path, default=SHARED)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.rows is None:
        args.rows = 100_000 if args.mode == "speed" else 1_000_000
    if args.mode == "quality" and args.hidden == 2000 and "--hidden" not in argv:
        args.hidden = ModelConfig().hidden_sizes[0]  # quality uses the default model unless told
    {"speed": run_speed, "memory": run_memory, "quality": run_quality}[args.mode](args)


if __name__ == "__main__":
    main(sys.argv[1:])
