"""Biogen's ADME table in raw units prepares and trains like the curated log-unit file.

The curated file (``biogen_adme/ADME_public_set_3521.csv``, every column log10) is
exported the way a company's system writes it — 10**x values, plain unit strings (``%``
for PPB % unbound, no unit for the efflux ratio, ``ug/mL``, ``mL/min/kg``), no endpoint
column — and both are prepared with one key and trained with ``fedqsar train`` (its
defaults, one seed). Prints the endpoints each resolves to, whether tasks, values and
censoring are identical, the validation RMSE per endpoint of both models, and the seconds
of each step. Before issue 11 the raw export became ``inhibition_pct`` for PPB (validation
RMSE 26.8, linear percent) and a linear efflux ratio (RMSE 19.6).

Usage::

    .venv/bin/python bench/bench_biogen_units.py [--compounds N]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from fedqsar.cli.main import app
from fedqsar.prep.keys import ConsortiumKey, save_key
from fedqsar.prep.wide import wide_to_long
from fedqsar.prepared import PreparedSet

BIOGEN = "biogen_adme/ADME_public_set_3521.csv"
RAW_UNITS = {  # curated header -> (assay id of the raw export, unit as written)
    "LOG HLM_CLint (mL/min/kg)": ("HLM_CLint (mL/min/kg)", "mL/min/kg"),
    "LOG MDR1-MDCK ER (B-A/A-B)": ("MDR1-MDCK ER (B-A/A-B)", ""),
    "LOG PLASMA PROTEIN BINDING (HUMAN) (% unbound)": ("PLASMA PROTEIN BINDING (HUMAN) (% unbound)", "%"),
    "LOG PLASMA PROTEIN BINDING (RAT) (% unbound)": ("PLASMA PROTEIN BINDING (RAT) (% unbound)", "%"),
    "LOG RLM_CLint (mL/min/kg)": ("RLM_CLint (mL/min/kg)", "mL/min/kg"),
    "LOG SOLUBILITY PH 6.8 (ug/mL)": ("SOLUBILITY PH 6.8 (ug/mL)", "ug/mL"),
}


def data_dir() -> Path:
    env = os.environ.get("FEDQSAR_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared" / "data"


def raw_export(curated: pd.DataFrame) -> pd.DataFrame:
    parts = []
    for column, (assay, unit) in RAW_UNITS.items():
        rows = curated[curated[column].notna()]
        parts.append(
            pd.DataFrame(
                {
                    "compound_id": rows["Internal ID"],
                    "smiles": rows["SMILES"],
                    "assay_id": assay,
                    "value": 10.0 ** rows[column].astype(float),
                    "unit": unit,
                    "qualifier": "",
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def invoke(args: list[str]) -> float:
    start = time.perf_counter()
    result = CliRunner().invoke(app, args)
    if result.exit_code != 0:
        raise SystemExit(f"fedqsar {' '.join(args)} failed:\n{result.output}")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--compounds", type=int, default=None, help="first N compounds (default: all 3,521)")
    args = parser.parse_args()
    curated = pd.read_csv(data_dir() / BIOGEN)
    curated = curated.head(args.compounds) if args.compounds else curated
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        save_key(ConsortiumKey(bytes(range(32))), root / "k.key")
        wide = root / "curated.csv"
        curated.to_csv(wide, index=False)
        long_curated = root / "curated.parquet"
        wide_to_long(wide, smiles_column="SMILES", id_column="Internal ID").to_parquet(long_curated)
        raw = root / "raw_units.csv"
        raw_export(curated).to_csv(raw, index=False)
        seconds, rmse, prepared = {}, {}, {}
        for name, source in (("curated", long_curated), ("raw units", raw)):
            folder, model = root / f"{name}_prep", root / f"{name}_model"
            seconds[f"prepare {name}"] = invoke(
                ["prepare", "--input", str(source), "--out", str(folder), "--key", str(root / "k.key"), "-q", "-j", "2"]
            )
            seconds[f"train {name}"] = invoke(["train", "--data", str(folder), "--out", str(model)])
            prepared[name] = PreparedSet.load(folder)
            metrics = pd.read_csv(model / "metrics.csv")
            endpoint_of = prepared[name].tasks.set_index("task_name")["endpoint"]
            table = metrics[metrics["metric"] == "rmse"]
            rmse[name] = table.assign(endpoint=table["task"].map(endpoint_of)).groupby("endpoint")["value"].mean()
    a, b = prepared["curated"], prepared["raw units"]
    columns = ["endpoint", "kind", "unit", "threshold", "n_observed", "n_positive", "n_censored"]
    print(f"compounds: {a.n_compounds} / {b.n_compounds}; tasks: {len(a.tasks)} / {len(b.tasks)}")
    print(f"endpoints (raw export): {sorted(set(b.tasks['endpoint']))}")
    print(f"tasks identical (endpoint, kind, unit, threshold, counts): {a.tasks[columns].equals(b.tasks[columns])}")
    order_a, order_b = (np.argsort(p.compounds["compound_id"].to_numpy()) for p in (a, b))  # rows by compound id
    ids_a, ids_b = (p.compounds["compound_id"].to_numpy()[o] for p, o in ((a, order_a), (b, order_b)))
    gap = np.abs(a.Y[order_a].toarray() - b.Y[order_b].toarray()).max()
    same_censor = (a.censor[order_a] != b.censor[order_b]).nnz == 0
    print(
        f"same compounds: {ids_a.tolist() == ids_b.tolist()}; max |Y curated - Y raw| {gap:.1e}; same censoring {same_censor}"
    )
    print("validation RMSE per endpoint (fedqsar train defaults, validation fold):")
    print(
        pd.DataFrame({"curated": rmse["curated"], "raw units": rmse["raw units"]})
        .assign(difference=lambda t: t["raw units"] - t["curated"])
        .to_string(float_format=lambda v: f"{v:.4f}")
    )
    print("seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in seconds.items()))


if __name__ == "__main__":
    main()
