"""After selection: the chosen variants once on the paper's TEST files (research trainer, same architecture).

Trains each variant on every train-file row (early stopping on the keyed-scaffold fold 3 of the
train rows, as ``fedqsar train`` does) and scores the test files once. Selection was made on the
research validation sets (NOTES.md); nothing here feeds back into it. ``bench/bench_biogen_split.py``
is the same comparison through ``fedqsar prepare / train / score``.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import biogen_models as bm  # noqa: E402


def main(names: list[str]) -> None:
    torch.set_num_threads(1)
    data = bm.load()
    table = pd.read_csv(bm.OUT / "table.csv")
    index = {s: i for i, s in enumerate(np.load(bm.OUT / "features.npz")["smiles"])}
    table["idx"] = table["smiles"].map(index).astype(np.int64)
    rows_out = []
    for name in names:
        v = bm.VARIANTS[name]
        started = time.process_time()
        preds: dict[str, np.ndarray] = {}
        groups = [list(bm.ENDPOINTS)] if v.multitask else [[e] for e in bm.ENDPOINTS]
        for group in groups:
            train = table[(table["split"] == "train") & table["endpoint"].isin(group)]
            rows = np.unique(train["idx"].to_numpy())
            pos = {int(r): i for i, r in enumerate(rows)}
            Y = np.full((len(rows), len(group)), np.nan, dtype=np.float32)
            stats = {}
            for j, e in enumerate(group):
                part = train[train["endpoint"] == e]
                Y[[pos[int(r)] for r in part["idx"]], j] = part["activity"].to_numpy(np.float32)
                stats[e] = (np.nanmean(Y[:, j]), np.nanstd(Y[:, j]))
                Y[:, j] = (Y[:, j] - stats[e][0]) / stats[e][1]
            stop = data.scaffold_fold[rows] == bm.ES_FOLD
            inputs = bm.Inputs(data, v, rows[~stop])
            model, _ = bm.train_model(v, inputs, rows[~stop], Y[~stop], rows[stop], Y[stop], 0)
            for j, e in enumerate(group):
                test = table[(table["split"] == "test") & (table["endpoint"] == e)]
                preds[e] = (
                    bm.predict_rows(model, inputs, test["idx"].to_numpy())[:, j].numpy() * stats[e][1] + stats[e][0]
                )
        cpu = time.process_time() - started
        for e in bm.ENDPOINTS:
            y = table[(table["split"] == "test") & (table["endpoint"] == e)]["activity"].to_numpy()
            rows_out.append({"variant": name, "endpoint": e, **bm._metrics(y, preds[e]), "cpu_s_all": cpu})
        frame = pd.DataFrame(rows_out)
        print(frame[frame.variant == name].to_string(index=False, float_format=lambda x: f"{x:.3f}"), flush=True)
        print(
            f"{name}: mean r {frame[frame.variant == name]['pearson'].mean():.3f}, CPU s {cpu:.0f}, load {os.getloadavg()}",
            flush=True,
        )
    pd.DataFrame(rows_out).to_csv(bm.OUT / "final_test.csv", index=False)


if __name__ == "__main__":
    main(sys.argv[1:])
