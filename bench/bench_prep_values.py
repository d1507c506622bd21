"""Benchmark: partner-input reading, value harmonisation, replicates and tasks.

Real data from ``../shared/data`` (or ``FEDQSAR_DATA``): the four PharmaBench ADME tables
(logD, microsomal clearance, PPB, solubility; each value with its source assay) and the
overlapping-assays potency sets (pchembl values of many ChEMBL assays), written as one
long-form CSV (about 80,000 rows, units as the sources give them: nM, %, log10(mL.min-1.g-1),
log, pchembl).

Stages timed (ours), each against a baseline measured in the same run, interleaved over
``--repeats`` rounds so that load from other users hits both alike:

- read: ``schema.read_partner_input`` vs ``pandas.read_csv(dtype=str)`` of the same file;
- harmonise: ``values.harmonise`` (qualifiers, units, endpoints, reasons) vs the minimum any
  such step costs: ``pd.to_numeric`` of the value column;
- replicates: ``values.aggregate_replicates`` vs TUNER's approach (pandas ``groupby().apply``
  of a per-group median / most-common-qualifier function over the duplicated groups) and vs a
  plain vectorised ``groupby().median()`` (no censoring rules, no conflict detection);
- tasks: ``tasks.build_tasks``.

Usage::

    .venv/bin/python bench/bench_prep_values.py --repeats 3
"""

from __future__ import annotations

import argparse
import glob
import os
import resource
import statistics
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from fedqsar.prep import schema, tasks, values
from fedqsar.prep.config import TaskConfig, ValueConfig

PB = "pharmabench/data/data_processing_result"


def data_dir() -> Path:
    env = os.environ.get("FEDQSAR_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared" / "data"


def long_table(data: Path) -> pd.DataFrame:
    """One long-form table from PharmaBench ADME files and overlapping-assays potency."""
    parts = []
    logd = pd.read_csv(data / PB / "logd_preprocessing_finished.csv")
    parts.append(
        pd.DataFrame(
            {
                "smiles": logd.Smiles_unify,
                "assay_id": logd.source,
                "value": logd.value,
                "unit": "log",
                "endpoint": "logD7.4",
            }
        )
    )
    cl = pd.read_csv(data / PB / "microsomal_cl_preprocessing_finished.csv")
    parts.append(
        pd.DataFrame(
            {
                "smiles": cl.Smiles_unify,
                "assay_id": cl.source + "|" + cl.species,
                "value": cl.value,
                "unit": cl.unit,
                "endpoint": "",
            }
        )
    )
    ppb = pd.read_csv(data / PB / "ppb_preprocessing_finished.csv")
    parts.append(
        pd.DataFrame(
            {"smiles": ppb.Smiles_unify, "assay_id": ppb.source, "value": ppb.value, "unit": "%", "endpoint": "PPB"}
        )
    )
    sol = pd.read_csv(data / PB / "solubility_preprocessing_finished.csv")
    parts.append(
        pd.DataFrame(
            {
                "smiles": sol.Smiles_unify,
                "assay_id": sol.source,
                "value": sol.value_nM,
                "unit": "nM",
                "endpoint": "logS",
            }
        )
    )
    for path in sorted(glob.glob(str(data / "overlapping_assays/datasets/source_data/*.csv.gz"))):
        pot = pd.read_csv(path)
        parts.append(
            pd.DataFrame(
                {
                    "smiles": pot.canonical_smiles,
                    "assay_id": pot.assay_chembl_id,
                    "value": pot.pchembl_value,
                    "unit": "pchembl",
                    "endpoint": "",
                }
            )
        )
    frame = pd.concat(parts, ignore_index=True)
    frame.insert(0, "compound_id", [f"c{i}" for i in range(len(frame))])
    frame["qualifier"] = "="
    return frame


def tuner_style(df: pd.DataFrame) -> pd.DataFrame:
    """TUNER's replicate aggregation pattern: groupby().apply over duplicated groups."""

    def aggregate(group: pd.DataFrame) -> pd.Series:
        qualifier = Counter(group["qualifier"]).most_common(1)[0][0]
        return pd.Series([float(np.median(group["value_canonical"])), qualifier], index=["value", "qualifier"])

    dup = df.duplicated(list(values.GROUP_KEYS), keep=False)
    single = df.loc[~dup, [*values.GROUP_KEYS, "value_canonical", "qualifier"]]
    grouped = df.loc[dup].groupby(list(values.GROUP_KEYS)).apply(aggregate, include_groups=False).reset_index()
    return pd.concat([single.rename(columns={"value_canonical": "value"}), grouped], ignore_index=True)


def plain_median(df: pd.DataFrame) -> pd.DataFrame:
    return df.groupby(list(values.GROUP_KEYS))["value_canonical"].median().reset_index()


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    table = long_table(data_dir())
    times: dict[str, list[float]] = defaultdict(list)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "partner.csv"
        table.to_csv(path, index=False)
        for _ in range(args.repeats):
            times["baseline read_csv(dtype=str)"].append(timed(lambda: pd.read_csv(path, dtype=str))[0])
            seconds, raw = timed(lambda: schema.read_partner_input(path))
            times["read_partner_input"].append(seconds)
            acts = raw.activities  # type: ignore[attr-defined]
            times["baseline to_numeric(value)"].append(
                timed(lambda acts=acts: pd.to_numeric(acts["value"], errors="coerce"))[0]
            )
            seconds, (ok, rejected) = timed(lambda acts=acts: values.harmonise(acts, ValueConfig()))  # type: ignore[misc]
            times["harmonise"].append(seconds)
            ok["structure_key"] = ok["smiles"]
            times["baseline groupby.median"].append(timed(lambda ok=ok: plain_median(ok))[0])
            times["baseline TUNER-style groupby.apply"].append(timed(lambda ok=ok: tuner_style(ok))[0])
            seconds, (agg, merged, conflicts) = timed(lambda ok=ok: values.aggregate_replicates(ok, ValueConfig()))  # type: ignore[misc]
            times["aggregate_replicates"].append(seconds)
            seconds, (tasks_df, labels) = timed(
                lambda agg=agg, raw=raw: tasks.build_tasks(agg, raw.assays, TaskConfig())
            )  # type: ignore[misc,attr-defined]
            times["build_tasks"].append(seconds)
    n = len(table)
    print(f"rows: {n}  ok: {len(ok)}  rejected: {len(rejected)} {rejected['reason'].value_counts().to_dict()}")
    print(
        f"aggregated: {len(agg)}  merged: {len(merged)}  conflicts: {len(conflicts)}  "
        f"tasks: {len(tasks_df)} ({int(tasks_df.passes_quorum.sum())} pass quorum)  labels: {len(labels)}"
    )
    print(f"{'stage':38s} {'median s':>9s} {'rows/s':>10s}")
    for name, samples in times.items():
        median = statistics.median(samples)
        print(f"{name:38s} {median:9.3f} {n / median:10.0f}")
    med = {k: statistics.median(v) for k, v in times.items()}
    print(
        f"ratio read_partner_input / read_csv:            {med['read_partner_input'] / med['baseline read_csv(dtype=str)']:.2f}"
    )
    print(f"ratio harmonise / to_numeric:                   {med['harmonise'] / med['baseline to_numeric(value)']:.1f}")
    print(
        f"ratio TUNER-style apply / aggregate_replicates:  {med['baseline TUNER-style groupby.apply'] / med['aggregate_replicates']:.1f}"
    )
    print(
        f"ratio aggregate_replicates / groupby.median:    {med['aggregate_replicates'] / med['baseline groupby.median']:.1f}"
    )
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
