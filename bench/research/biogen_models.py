"""Research (not the package): which inputs and trunks beat chemprop on Biogen's paper split?

Selection uses only each endpoint's TRAIN file: a seeded random 20 % of it is the research
validation set (never trained on); of the rest, the keyed-scaffold fold 3 is the early-
stopping fold (as ``fedqsar train`` uses it) and the others are trained on. The paper's test
files are not read here. Every run appends a row to ``runs/research/results.csv``:
variant, endpoint, Pearson r / Spearman / RMSE on the research validation set, CPU seconds
of training (this process, ``time.process_time``), epochs, the load.

Usage::

    python bench/research/biogen_models.py VARIANT [VARIANT ...] [--endpoints HLM RLM ...] [--threads 1]
    python bench/research/biogen_models.py --list
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from scipy.stats import pearsonr, spearmanr
from torch import nn

OUT = Path(__file__).resolve().parents[2] / "runs" / "research"
ENDPOINTS = ("HLM", "RLM", "MDR1_ER", "Sol", "hPPB", "rPPB")
ES_FOLD = 3


# ----------------------------------------------------------------------------- data
@dataclass
class Data:
    table: pd.DataFrame  # smiles, activity, endpoint, split, idx (row in features)
    ecfp: sp.csr_matrix  # counts, (n_unique, 32768)
    physchem: np.ndarray
    rdkit: np.ndarray
    std_smiles: np.ndarray
    scaffold_fold: np.ndarray


def load() -> Data:
    feats = np.load(OUT / "features.npz", allow_pickle=False)
    table = pd.read_csv(OUT / "table.csv")
    index = {s: i for i, s in enumerate(feats["smiles"])}
    table["idx"] = table["smiles"].map(index).astype(np.int64)
    table = table[table["split"] == "train"].reset_index(drop=True)  # the test files are never used here
    return Data(
        table,
        sp.load_npz(OUT / "ecfp_counts.npz").tocsr(),
        feats["physchem"],
        feats["rdkit"],
        feats["std_smiles"],
        feats["scaffold_fold"],
    )


@dataclass
class Split:
    train: np.ndarray  # feature rows
    y_train: np.ndarray
    stop: np.ndarray
    y_stop: np.ndarray
    val: np.ndarray
    y_val: np.ndarray


def split(data: Data, endpoint: str, seed: int = 0) -> Split:
    rows = data.table[data.table["endpoint"] == endpoint]
    idx, y = rows["idx"].to_numpy(), rows["activity"].to_numpy(np.float32)
    order = np.random.default_rng([seed, ENDPOINTS.index(endpoint)]).permutation(len(idx))
    n_val = int(round(0.2 * len(idx)))
    val, rest = order[:n_val], order[n_val:]
    stop_mask = data.scaffold_fold[idx[rest]] == ES_FOLD
    return Split(idx[rest[~stop_mask]], y[rest[~stop_mask]], idx[rest[stop_mask]], y[rest[stop_mask]], idx[val], y[val])


# ----------------------------------------------------------------------------- inputs
def descriptor_block(data: Data, kind: str) -> np.ndarray | None:
    blocks = {"none": None, "physchem": data.physchem, "rdkit": data.rdkit}
    if kind == "both":
        return np.concatenate([data.physchem, data.rdkit], axis=1)
    return blocks[kind]


class Scaler:
    """Median imputation, clipping at the 0.1/99.9 % training quantiles, then mean/std: fitted on training rows."""

    def __init__(self, X: np.ndarray) -> None:
        X = X.astype(np.float64)
        self.median = np.nanmedian(X, axis=0)
        self.median = np.where(np.isfinite(self.median), self.median, 0.0)
        filled = np.where(np.isfinite(X), X, self.median)
        self.low, self.high = np.quantile(filled, 0.001, axis=0), np.quantile(filled, 0.999, axis=0)
        clipped = np.clip(filled, self.low, self.high)
        self.mean, self.std = clipped.mean(0), clipped.std(0)
        self.std = np.where(self.std > 1e-8, self.std, 1.0)

    def __call__(self, X: np.ndarray) -> np.ndarray:
        filled = np.where(np.isfinite(X), X, self.median)
        return ((np.clip(filled, self.low, self.high) - self.mean) / self.std).astype(np.float32)


# ----------------------------------------------------------------------------- models
@dataclass(frozen=True)
class Variant:
    name: str
    trunk: str = "ecfp"  # ecfp | mpnn | rf
    counts: bool = False  # ECFP input log1p(count) instead of binary
    n_bits: int = 32768  # ECFP folded further (modulo) when smaller
    descriptors: str = "none"  # none | physchem | rdkit | both
    hidden: tuple[int, ...] = (512,)
    dropout: float = 0.2
    lr: float = 1e-3
    batch: int = 512
    epochs: int = 25
    patience: int = 5
    weight_decay: float = 0.0
    multitask: bool = False
    mp_hidden: int = 300
    depth: int = 3
    ffn_hidden: int = 300
    schedule: str = "constant"  # constant | noam (chemprop's warmup + exponential decay)
    ensemble: int = 1
    extra: dict = field(default_factory=dict, hash=False, compare=False)


class ECFPNet(nn.Module):
    def __init__(self, n_bits: int, n_desc: int, v: Variant, n_out: int) -> None:
        super().__init__()
        h0 = v.hidden[0]
        bound = 1.0 / np.sqrt(50.0)
        self.table = nn.EmbeddingBag(n_bits, h0, mode="sum", sparse=True)  # row-sparse, like fedqsar's first layer
        nn.init.uniform_(self.table.weight, -bound, bound)
        self.desc = nn.Linear(n_desc, h0, bias=False) if n_desc else None
        self.bias = nn.Parameter(torch.zeros(h0))
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(v.hidden[:-1], v.hidden[1:], strict=True))
        self.drop = nn.Dropout(v.dropout)
        self.out = nn.Linear(v.hidden[-1], n_out)

    def forward(self, batch: dict) -> torch.Tensor:
        h = self.table(batch["indices"], batch["offsets"], per_sample_weights=batch["values"])
        if self.desc is not None:
            h = h + self.desc(batch["desc"])
        h = self.drop(F.relu(h + self.bias))
        for layer in self.layers:
            h = self.drop(F.relu(layer(h)))
        return self.out(h)


class MPNNNet(nn.Module):
    def __init__(self, n_desc: int, v: Variant, n_out: int) -> None:
        super().__init__()
        from chemprop import featurizers
        from chemprop import nn as cnn

        feat = featurizers.SimpleMoleculeMolGraphFeaturizer()
        self.mp = cnn.BondMessagePassing(d_v=feat.atom_fdim, d_e=feat.bond_fdim, d_h=v.mp_hidden, depth=v.depth)
        self.agg = cnn.MeanAggregation()
        self.ffn = nn.Sequential(
            nn.Dropout(v.dropout), nn.Linear(v.mp_hidden + n_desc, v.ffn_hidden), nn.ReLU(), nn.Dropout(v.dropout)
        )
        self.out = nn.Linear(v.ffn_hidden, n_out)
        self.n_desc = n_desc

    def forward(self, batch: dict) -> torch.Tensor:
        h = self.agg(self.mp(batch["graph"]), batch["graph"].batch)
        if self.n_desc:
            h = torch.cat([h, batch["desc"]], dim=1)
        return self.out(self.ffn(h))


# ----------------------------------------------------------------------------- batching
class Inputs:
    """Per feature row: ECFP rows, scaled descriptors, molecular graphs (built lazily, cached)."""

    def __init__(self, data: Data, v: Variant, train_rows: np.ndarray) -> None:
        self.v = v
        X = data.ecfp
        if v.n_bits < X.shape[1]:
            coo = X.tocoo()
            X = sp.csr_matrix((coo.data, (coo.row, coo.col % v.n_bits)), shape=(X.shape[0], v.n_bits))
            X.sum_duplicates()
        self.X = X.tocsr()
        block = descriptor_block(data, v.descriptors)
        self.desc = None if block is None else Scaler(block[train_rows])(block)
        self.smiles = data.std_smiles
        self.graphs: dict[int, object] = {}

    @property
    def n_desc(self) -> int:
        return 0 if self.desc is None else self.desc.shape[1]

    def graph_of(self, rows: np.ndarray):  # noqa: ANN201
        from chemprop import featurizers
        from chemprop.data import BatchMolGraph
        from rdkit import Chem

        feat = getattr(self, "_feat", None) or featurizers.SimpleMoleculeMolGraphFeaturizer()
        self._feat = feat
        for r in rows:
            if int(r) not in self.graphs:
                self.graphs[int(r)] = feat(Chem.MolFromSmiles(str(self.smiles[r])))
        return BatchMolGraph([self.graphs[int(r)] for r in rows])

    def batch(self, rows: np.ndarray) -> dict:
        out: dict = {}
        if self.v.trunk == "ecfp":
            sub = self.X[rows]
            out["indices"] = torch.from_numpy(sub.indices.astype(np.int64))
            out["offsets"] = torch.from_numpy(sub.indptr[:-1].astype(np.int64))
            values = np.log1p(sub.data) if self.v.counts else np.ones_like(sub.data)
            out["values"] = torch.from_numpy(values.astype(np.float32))
        else:
            out["graph"] = self.graph_of(rows)
        if self.desc is not None:
            out["desc"] = torch.from_numpy(self.desc[rows])
        return out


# ----------------------------------------------------------------------------- training
def lr_at(v: Variant, epoch: float) -> float:
    if v.schedule == "constant":
        return v.lr
    warm = 2.0
    if epoch < warm:
        return v.lr / 10 + (v.lr - v.lr / 10) * epoch / warm
    gamma = (0.1) ** (1.0 / max(v.epochs - warm, 1.0))
    return v.lr * gamma ** (epoch - warm)


def masked_mse(pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    mask = torch.isfinite(y)
    diff = torch.where(mask, pred - torch.nan_to_num(y), torch.zeros_like(pred))
    return (diff**2).sum() / mask.sum().clamp(min=1)


def train_model(
    v: Variant, inputs: Inputs, rows: np.ndarray, Y: np.ndarray, stop_rows: np.ndarray, Y_stop: np.ndarray, seed: int
) -> tuple[nn.Module, int]:
    torch.manual_seed(seed)
    n_out = Y.shape[1]
    model = (
        ECFPNet(inputs.X.shape[1], inputs.n_desc, v, n_out) if v.trunk == "ecfp" else MPNNNet(inputs.n_desc, v, n_out)
    )
    sparse = [p for n, p in model.named_parameters() if n == "table.weight"]
    dense = [p for n, p in model.named_parameters() if n != "table.weight"]
    opts = [torch.optim.AdamW(dense, lr=v.lr, weight_decay=v.weight_decay)]
    if sparse:
        opts.append(torch.optim.SparseAdam(sparse, lr=v.lr))
    Yt, Ys = torch.from_numpy(Y), torch.from_numpy(Y_stop)
    best, best_state, best_epoch = np.inf, None, -1
    rng = np.random.default_rng(seed)
    steps_per_epoch = int(np.ceil(len(rows) / v.batch))
    for epoch in range(v.epochs):
        model.train()
        order = rng.permutation(len(rows))
        for step, start in enumerate(range(0, len(rows), v.batch)):
            for opt in opts:
                for group in opt.param_groups:
                    group["lr"] = lr_at(v, epoch + step / steps_per_epoch)
            take = order[start : start + v.batch]
            loss = masked_mse(model(inputs.batch(rows[take])), Yt[take])
            for opt in opts:
                opt.zero_grad()
            loss.backward()
            for opt in opts:
                opt.step()
        model.eval()
        with torch.no_grad():
            stop_loss = float(masked_mse(predict_rows(model, inputs, stop_rows, raw=True), Ys))
        if stop_loss < best:
            best, best_state, best_epoch = stop_loss, copy.deepcopy(model.state_dict()), epoch
        elif v.patience and epoch - best_epoch >= v.patience:
            break
    model.load_state_dict(best_state)
    return model, best_epoch


@torch.no_grad()
def predict_rows(model: nn.Module, inputs: Inputs, rows: np.ndarray, raw: bool = False) -> torch.Tensor:
    model.eval()
    parts = [model(inputs.batch(rows[s : s + 1024])) for s in range(0, len(rows), 1024)]
    return torch.cat(parts)


# ----------------------------------------------------------------------------- runs
def _metrics(y: np.ndarray, p: np.ndarray) -> dict:
    return {
        "pearson": float(pearsonr(y, p).statistic),
        "spearman": float(spearmanr(y, p).statistic),
        "rmse": float(np.sqrt(np.mean((y - p) ** 2))),
    }


def run_single(data: Data, v: Variant, endpoint: str) -> dict:
    s = split(data, endpoint)
    started = time.process_time()
    mean, std = s.y_train.mean(), s.y_train.std()
    preds = []
    epochs = []
    if v.trunk == "rf":
        preds.append(_random_forest(data, v, s))
    else:
        inputs = Inputs(data, v, s.train)
        for member in range(v.ensemble):
            model, best_epoch = train_model(
                v,
                inputs,
                s.train,
                ((s.y_train - mean) / std)[:, None],
                s.stop,
                ((s.y_stop - mean) / std)[:, None],
                member,
            )
            preds.append(predict_rows(model, inputs, s.val)[:, 0].numpy() * std + mean)
            epochs.append(best_epoch)
    cpu = time.process_time() - started
    return {"endpoint": endpoint, **_metrics(s.y_val, np.mean(preds, axis=0)), "cpu_s": cpu, "best_epoch": str(epochs)}


def _random_forest(data: Data, v: Variant, s: Split) -> np.ndarray:
    from sklearn.ensemble import RandomForestRegressor

    inputs = Inputs(data, replace(v, trunk="ecfp"), s.train)
    X = (inputs.X > 0).astype(np.float32)
    if inputs.desc is not None:
        X = sp.hstack([X, sp.csr_matrix(inputs.desc)]).tocsr()
    train = np.concatenate([s.train, s.stop])
    forest = RandomForestRegressor(n_estimators=500, n_jobs=1, random_state=0)
    forest.fit(X[train], np.concatenate([s.y_train, s.y_stop]))
    return forest.predict(X[s.val])


def run_multitask(data: Data, v: Variant) -> list[dict]:
    """One model for all endpoints: each endpoint's research validation rows keep only that label out."""
    splits = {e: split(data, e) for e in ENDPOINTS}
    rows = np.unique(np.concatenate([np.concatenate([s.train, s.stop]) for s in splits.values()]))
    position = {int(r): i for i, r in enumerate(rows)}
    Y = np.full((len(rows), len(ENDPOINTS)), np.nan, dtype=np.float32)
    is_stop = np.zeros(len(rows), dtype=bool)
    stats = {}
    for j, (e, s) in enumerate(splits.items()):
        for r, y in zip(np.concatenate([s.train, s.stop]), np.concatenate([s.y_train, s.y_stop]), strict=True):
            Y[position[int(r)], j] = y
        stats[e] = (s.y_train.mean(), s.y_train.std())
        Y[:, j] = (Y[:, j] - stats[e][0]) / stats[e][1]
    is_stop = data.scaffold_fold[rows] == ES_FOLD
    started = time.process_time()
    inputs = Inputs(data, v, rows[~is_stop])
    preds = {e: [] for e in ENDPOINTS}
    epochs = []
    for member in range(v.ensemble):
        model, best_epoch = train_model(v, inputs, rows[~is_stop], Y[~is_stop], rows[is_stop], Y[is_stop], member)
        epochs.append(best_epoch)
        for j, (e, s) in enumerate(splits.items()):
            preds[e].append(predict_rows(model, inputs, s.val)[:, j].numpy() * stats[e][1] + stats[e][0])
    cpu = time.process_time() - started
    return [
        {
            "endpoint": e,
            **_metrics(s.y_val, np.mean(preds[e], axis=0)),
            "cpu_s": cpu / len(ENDPOINTS),
            "best_epoch": str(epochs),
        }
        for e, s in splits.items()
    ]


# ----------------------------------------------------------------------------- variants
_B = Variant("base")
VARIANTS: dict[str, Variant] = {
    v.name: v
    for v in [
        replace(_B, name="ecfp_today"),  # fedqsar defaults: 32k binary ECFP6, hidden 512, batch 512, 25 epochs
        replace(_B, name="ecfp_b64", batch=64, epochs=60, patience=8),
        replace(_B, name="ecfp_b128", batch=128, epochs=60, patience=8),
        replace(_B, name="ecfp_count_b128", batch=128, epochs=60, patience=8, counts=True),
        replace(_B, name="ecfp_phys_b128", batch=128, epochs=60, patience=8, descriptors="physchem"),
        replace(_B, name="ecfp_count_phys_b128", batch=128, epochs=60, patience=8, counts=True, descriptors="physchem"),
        replace(_B, name="ecfp_rdkit_b128", batch=128, epochs=60, patience=8, descriptors="rdkit"),
        replace(_B, name="ecfp_count_both_b128", batch=128, epochs=60, patience=8, counts=True, descriptors="both"),
        replace(_B, name="ecfp_phys_today", descriptors="physchem"),
        replace(_B, name="mt_ecfp_today", multitask=True),
        replace(_B, name="mt_ecfp_phys_b128", batch=128, epochs=60, patience=8, descriptors="physchem", multitask=True),
        replace(
            _B,
            name="mt_ecfp_count_phys_b128",
            batch=128,
            epochs=60,
            patience=8,
            counts=True,
            descriptors="physchem",
            multitask=True,
        ),
        replace(
            _B,
            name="mt_ecfp_count_both_b128",
            batch=128,
            epochs=60,
            patience=8,
            counts=True,
            descriptors="both",
            multitask=True,
        ),
        replace(_B, name="mpnn_default", trunk="mpnn", dropout=0.0, batch=64, epochs=50, patience=0, schedule="noam"),
        replace(
            _B,
            name="mpnn_phys",
            trunk="mpnn",
            dropout=0.0,
            batch=64,
            epochs=50,
            patience=0,
            schedule="noam",
            descriptors="physchem",
        ),
        replace(_B, name="mpnn_es", trunk="mpnn", dropout=0.0, batch=64, epochs=40, patience=6, schedule="noam"),
        replace(
            _B,
            name="mt_mpnn_phys",
            trunk="mpnn",
            dropout=0.0,
            batch=64,
            epochs=40,
            patience=6,
            schedule="noam",
            descriptors="physchem",
            multitask=True,
        ),
        replace(_B, name="rf_ecfp", trunk="rf", n_bits=2048),
        replace(_B, name="rf_ecfp_phys", trunk="rf", n_bits=2048, descriptors="physchem"),
    ]
}


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("variants", nargs="*")
    parser.add_argument("--endpoints", nargs="*", default=list(ENDPOINTS))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--list", action="store_true")
    parser.add_argument("--set", nargs="*", default=[], help="override Variant fields: name=value (applies to all)")
    args = parser.parse_args(argv)
    if args.list:
        for v in VARIANTS.values():
            print(v)
        return
    torch.set_num_threads(args.threads)
    data = load()
    results = OUT / "results.csv"
    for name in args.variants:
        v = VARIANTS[name]
        for item in args.set:
            key, value = item.split("=", 1)
            current = getattr(v, key)
            parsed = (
                tuple(int(x) for x in value.split(","))
                if isinstance(current, tuple)
                else type(current)(value if not isinstance(current, bool) else value == "True")
            )
            v = replace(v, **{key: parsed, "name": f"{v.name}+{key}={value}"})
        rows = run_multitask(data, v) if v.multitask else [run_single(data, v, e) for e in args.endpoints]
        frame = pd.DataFrame(rows).assign(variant=v.name, load=" ".join(f"{x:.1f}" for x in os.getloadavg()))
        frame = frame[frame["endpoint"].isin(args.endpoints)]
        frame.to_csv(results, mode="a", header=not results.exists(), index=False)
        print(frame.to_string(index=False, float_format=lambda x: f"{x:.3f}"), flush=True)
        print(f"{v.name}: mean r {frame['pearson'].mean():.3f}, CPU s {frame['cpu_s'].sum():.0f}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
