"""Benchmark: structure preparation (standardise, keyed fingerprint, keyed scaffold fold).

Measures, on real ChEMBL-derived compounds from ``../shared/data`` (or ``FEDQSAR_DATA``):

Per-core figures use the CPU time of this process (``time.process_time``), so that time the
process spends waiting for a core taken by other users of the machine does not count;
end-to-end figures give wall-clock rates and CPU seconds (this process and its workers).

1. RDKit baselines and our in-process pipeline on the *same* sample, per core, measured in
   interleaved blocks so that load from other users of the machine hits all alike:
   - RDKit standardiser alone: parse + ``rdMolStandardize.ChargeParent`` + SMILES;
   - RDKit's tautomer limit: parse + ChargeParent + ``TautomerEnumerator.Canonicalize``
     (max 256 tautomers, as TUNER) + SMILES;
   - ours, ``process_structures(n_jobs=1)``, without and with tautomer canonicalisation
     (everything: parse, all steps, round trip, fingerprint, scaffold fold, weights).
2. Time per stage of our pipeline (one process, TUNER's steps), on the same sample.
3. ``process_structures`` end to end with 1 and 2 processes, with and without tautomer
   canonicalisation: molecules per second and scaling (on ``--n-scaling`` molecules, default
   all), and on all molecules with the largest process count.

Usage::

    .venv/bin/python bench/bench_prep_structures.py --n-molecules 50000 --n-baseline 3000
    .venv/bin/python bench/bench_prep_structures.py --n-molecules 2000 --n-baseline 500   # quick
"""

from __future__ import annotations

import argparse
import glob
import os
import resource
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import pandas as pd
from rdkit import Chem, rdBase
from rdkit.Chem import Descriptors
from rdkit.Chem.MolStandardize import rdMolStandardize

from fedqsar.prep import fingerprints, folds, standardize
from fedqsar.prep.config import TUNER_STEPS, PrepConfig, StandardizeConfig
from fedqsar.prep.keys import ConsortiumKey
from fedqsar.prep.structures import process_structures

SOURCES: tuple[tuple[str, str], ...] = (
    ("overlapping_assays/datasets/source_data/*.csv.gz", "canonical_smiles"),
    ("moleculeace/MoleculeACE/Data/benchmark_data/CHEMBL*.csv", "smiles"),
    ("simpd/datasets/*/*.csv", "smiles"),
)
RECIPE = "TUNER's recipe (plain RDKit calls)"
KEY = ConsortiumKey(b"benchmark key, not a real secret!")
TUNER = PrepConfig()
NO_TAUTOMER = PrepConfig(
    standardize=StandardizeConfig(steps=tuple(s for s in TUNER_STEPS if s != "canonical_tautomer"))
)


def data_dir(given: str | None) -> Path:
    if given:
        return Path(given)
    env = os.environ.get("FEDQSAR_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared" / "data"


def load_smiles(root: Path, n_molecules: int) -> tuple[list[str], int]:
    """The first ``n_molecules`` distinct SMILES strings of SOURCES, and the rows read."""
    unique: dict[str, None] = {}
    rows = 0
    for pattern, column in SOURCES:
        for path in sorted(glob.glob(str(root / pattern))):
            values = (
                pd.read_csv(path, usecols=lambda c, column=column: c.lower() == column)[column.lower()]
                .dropna()
                .astype(str)
            )
            for smiles in values:
                rows += 1
                unique.setdefault(smiles, None)
                if len(unique) == n_molecules:
                    return list(unique), rows
    if len(unique) < n_molecules:
        print(f"note: only {len(unique)} distinct SMILES available (asked {n_molecules})")
    return list(unique), rows


# --- 1. baselines vs ours, interleaved --------------------------------------------------
def rdkit_charge_parent(smiles: list[str]) -> list[str | None]:
    out: list[str | None] = []
    with rdBase.BlockLogs():
        for s in smiles:
            mol = Chem.MolFromSmiles(s)
            ok = mol is not None and mol.GetNumHeavyAtoms() < 100
            out.append(Chem.MolToSmiles(rdMolStandardize.ChargeParent(mol)) if ok else None)
    return out


_ENUMERATOR = rdMolStandardize.TautomerEnumerator()
_ENUMERATOR.SetMaxTautomers(256)
_ENUMERATOR.SetRemoveSp3Stereo(False)


def rdkit_charge_parent_tautomer(smiles: list[str]) -> list[str | None]:
    out: list[str | None] = []
    with rdBase.BlockLogs():
        for s in smiles:
            mol = Chem.MolFromSmiles(s)
            ok = mol is not None and mol.GetNumHeavyAtoms() < 100
            out.append(Chem.MolToSmiles(_ENUMERATOR.Canonicalize(rdMolStandardize.ChargeParent(mol))) if ok else None)
    return out


def tuner_recipe(smiles: list[str]) -> list[str | None]:
    """TUNER's standardiser written out with plain RDKit calls (objects made per molecule, as TUNER)."""
    out: list[str | None] = []
    with rdBase.BlockLogs():
        for s in smiles:
            try:
                out.append(_tuner_one(s))
            except Exception:  # noqa: BLE001
                out.append(None)
    return out


def _tuner_one(smiles: str) -> str | None:
    mol = Chem.MolFromSmiles(smiles)
    if mol is None or mol.GetNumHeavyAtoms() >= 100:
        return None
    mol = rdMolStandardize.ChargeParent(mol)
    for atom in mol.GetAtoms():
        atom.SetIsotope(0)
    Chem.RemoveStereochemistry(mol)
    mol = _ENUMERATOR.Canonicalize(mol)
    Chem.SanitizeMol(mol)
    mol = Chem.RemoveHs(mol)
    mol = rdMolStandardize.MetalDisconnector().Disconnect(mol)
    mol = rdMolStandardize.Normalizer().normalize(mol)
    mol = rdMolStandardize.Reionizer().reionize(mol)
    Chem.AssignStereochemistry(mol, force=True, cleanIt=True)
    back = Chem.MolFromSmiles(Chem.MolToSmiles(mol))
    return None if back is None else Chem.MolToSmiles(back)


def ours_standardise_only(cfg: PrepConfig) -> Callable[[list[str]], list[str | None]]:
    """Our standardisation alone (parse + steps + round trip), no fingerprint or fold."""
    return lambda smiles: [standardize.standardize(s, cfg.standardize).smiles for s in smiles]


def ours(cfg: PrepConfig) -> Callable[[list[str]], list[str | None]]:
    return lambda smiles: process_structures(smiles, cfg, KEY, n_jobs=1).std_smiles


def interleaved(
    sample: list[str], methods: dict[str, Callable[[list[str]], list[str | None]]], block: int = 100
) -> tuple[dict[str, float], dict[str, list[str | None]]]:
    """CPU seconds and outputs per method over ``sample``, run block by block in turn."""
    seconds: dict[str, float] = defaultdict(float)
    outputs: dict[str, list[str | None]] = defaultdict(list)
    for start in range(0, len(sample), block):
        chunk = sample[start : start + block]
        for name, method in methods.items():
            t0 = time.process_time()
            outputs[name].extend(method(chunk))
            seconds[name] += time.process_time() - t0
    return dict(seconds), dict(outputs)


# --- 2. stages ---------------------------------------------------------------------------
def stage_times(sample: list[str], cfg: PrepConfig) -> tuple[dict[str, float], int]:
    """CPU seconds per stage of the worker's path (mirrors StructureWorker), and accepted count."""
    seconds: dict[str, float] = defaultdict(float)
    tools = standardize.tools_for(cfg.standardize)
    perm = KEY.permutation(cfg.fingerprint.n_bits)
    accepted = 0

    def timed(name: str, func: Callable, *args):  # noqa: ANN202
        t0 = time.process_time()
        out = func(*args)
        seconds[name] += time.process_time() - t0
        return out

    with rdBase.BlockLogs():
        for s in sample:
            mol = timed("parse", Chem.MolFromSmiles, s)
            if mol is None or mol.GetNumHeavyAtoms() >= cfg.standardize.max_heavy_atoms:
                continue
            timed("weights, heavy atoms", Descriptors.MolWt, mol)
            try:
                back = _timed_steps(mol, cfg, tools, timed)
            except Exception:  # noqa: BLE001
                continue
            accepted += 1
            timed("fingerprint", fingerprints.fingerprint_bits, back, cfg.fingerprint, perm)
            scaffold = timed("generic scaffold", folds.generic_scaffold, back)
            timed("keyed fold (HMAC)", folds.scaffold_fold, scaffold, KEY, cfg.folds.n_folds)
            timed("weights, heavy atoms", Descriptors.MolWt, back)
    return dict(seconds), accepted


def _timed_steps(mol: Chem.Mol, cfg: PrepConfig, tools: object, timed: Callable) -> Chem.Mol:
    """The logic of ``standardize.run_steps`` (without the memo) with each part timed."""
    steps = cfg.standardize.steps
    out, smiles, clean = Chem.Mol(mol), None, False
    position = 0
    while position < len(steps):
        name = steps[position]
        if name in standardize.CLEANUP_STEPS:
            end = position
            while end < len(steps) and steps[end] in standardize.CLEANUP_STEPS:
                end += 1
            if not clean:
                for cleanup_name in steps[position:end]:
                    out = timed(f"step {cleanup_name}", standardize.STEPS[cleanup_name], out, tools)
                smiles = None
            position = end
            continue
        memoised = name in standardize.MEMOISED_STEPS
        before = timed("SMILES around tautomer step", Chem.MolToSmiles, out) if memoised else None
        out = timed(f"step {name}", standardize.STEPS[name], out, tools)
        smiles = timed("SMILES around tautomer step", Chem.MolToSmiles, out) if memoised else None
        clean = name in standardize.ENDS_CLEAN or (
            clean and (name in standardize.LABEL_ONLY_STEPS or (before is not None and smiles == before))
        )
        position += 1
    written = smiles if smiles is not None else timed("round trip", Chem.MolToSmiles, out)
    back = timed("round trip", Chem.MolFromSmiles, written)
    timed("round trip", Chem.MolToSmiles, back)
    return back


# --- 3. end to end ------------------------------------------------------------------------
def _cpu_seconds() -> float:
    """CPU seconds of this process, its reaped children, and its live children with theirs.

    Pool workers are children of the fork server (a live child of ours), so their time is
    read from the fork server's ``cutime``/``cstime`` in /proc.
    """
    own = resource.getrusage(resource.RUSAGE_SELF)
    reaped = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + reaped.ru_utime + reaped.ru_stime + _live_children_cpu()


def _live_children_cpu() -> float:
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            fields = Path(stat).read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == os.getpid():  # fields[1] is the parent pid
            total += sum(int(v) for v in fields[11:15]) / ticks  # utime, stime, cutime, cstime
    return total


def end_to_end(smiles: list[str], cfg: PrepConfig, n_jobs: int) -> tuple[float, float, object]:
    """Wall seconds, CPU seconds (this process and its workers) and the batch."""
    t0, c0 = time.perf_counter(), _cpu_seconds()
    batch = process_structures(smiles, cfg, KEY, n_jobs=n_jobs)
    return time.perf_counter() - t0, _cpu_seconds() - c0, batch


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-molecules", type=int, default=50_000, help="distinct input SMILES for the end-to-end runs")
    parser.add_argument(
        "--n-baseline", type=int, default=3_000, help="sample (every k-th molecule) for baselines and stages"
    )
    parser.add_argument("--jobs", default="1,2", help="process counts for the end-to-end runs")
    parser.add_argument("--n-scaling", type=int, default=0, help="molecules for the 1-vs-2-process runs (0: all)")
    parser.add_argument(
        "--n-tautomer-large",
        type=int,
        default=0,
        help="cap of the large run with tautomers (0: all molecules); it costs ~15 CPU ms per molecule",
    )
    parser.add_argument("--skip-tautomer-e2e", action="store_true", help="end-to-end runs without tautomers only")
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args(argv)

    smiles, rows = load_smiles(data_dir(args.data_dir), args.n_molecules)
    stride = max(1, len(smiles) // args.n_baseline)
    sample = smiles[::stride][: args.n_baseline]
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start (shared with other users)")
    started = time.perf_counter()
    print(
        f"data: {rows} rows read, {len(smiles)} distinct input SMILES; baseline sample {len(sample)} (every {stride}th)"
    )

    print("\n== 1. per core, same sample, interleaved blocks ==")
    methods = {
        "RDKit ChargeParent alone": rdkit_charge_parent,
        "ours, no tautomers, standardise only": ours_standardise_only(NO_TAUTOMER),
        "ours, no tautomers": ours(NO_TAUTOMER),
        "RDKit ChargeParent + canonical tautomer": rdkit_charge_parent_tautomer,
        "ours, TUNER steps": ours(TUNER),
        RECIPE: tuner_recipe,
    }
    seconds, outputs = interleaved(sample, methods)
    rate = {name: len(sample) / s for name, s in seconds.items()}
    for name, r in rate.items():
        print(f"  {name:44s} {r:8.1f} mol per CPU second")
    print(
        f"  ours without tautomers = {100 * rate['ours, no tautomers'] / rate['RDKit ChargeParent alone']:.0f}% of RDKit's standardiser alone "
        f"(standardisation only: {100 * rate['ours, no tautomers, standardise only'] / rate['RDKit ChargeParent alone']:.0f}%)"
    )
    print(
        f"  ours with TUNER steps  = {100 * rate['ours, TUNER steps'] / rate['RDKit ChargeParent + canonical tautomer']:.0f}% of RDKit's tautomer limit, "
        f"{100 * rate['ours, TUNER steps'] / rate[RECIPE]:.0f}% of TUNER's recipe"
    )
    same = sum(a == b for a, b in zip(outputs["ours, TUNER steps"], outputs[RECIPE], strict=True))
    print(f"  identical standardised SMILES, ours vs TUNER's recipe: {same} of {len(sample)}")
    for a, b, s in zip(outputs["ours, TUNER steps"], outputs[RECIPE], sample, strict=True):
        if a != b:
            print(f"    differs: {s} -> ours {a} / recipe {b}")

    print("\n== 2. time per stage, one process, TUNER steps (same sample) ==")
    stages, accepted = stage_times(sample, TUNER)
    total = sum(stages.values())
    for name, s in sorted(stages.items(), key=lambda kv: -kv[1]):
        print(f"  {name:30s} {1000 * s / len(sample):7.3f} CPU ms/mol  {100 * s / total:5.1f}%")
    print(
        f"  {'total':30s} {1000 * total / len(sample):7.3f} CPU ms/mol  ({len(sample) / total:.1f} mol per CPU s; {accepted} accepted)"
    )

    print("\n== 3. end to end, process_structures ==")
    configs = (
        {"no tautomers": NO_TAUTOMER} if args.skip_tautomer_e2e else {"no tautomers": NO_TAUTOMER, "TUNER steps": TUNER}
    )
    jobs = [int(j) for j in args.jobs.split(",")]
    scaling_set = smiles[: args.n_scaling] if args.n_scaling else smiles
    for label, cfg in configs.items():
        first_rate = None
        runs = [(scaling_set, n_jobs) for n_jobs in jobs]
        large = smiles[: args.n_tautomer_large] if (cfg is TUNER and args.n_tautomer_large) else smiles
        if len(scaling_set) < len(large):
            runs.append((large, max(jobs)))
        for molecules, n_jobs in runs:
            elapsed, cpu, batch = end_to_end(molecules, cfg, n_jobs)
            r = len(molecules) / elapsed
            first_rate = first_rate or r
            distinct = len({s for s in batch.std_smiles if s is not None})
            rejected = sum(reason is not None for reason in batch.reasons)
            scaling = f"scaling x{r / first_rate:.2f}" if molecules is scaling_set else "large run"
            print(
                f"  {label:13s} {len(molecules):6d} mol, {n_jobs} process(es): {elapsed:8.1f} s wall  {r:8.1f} mol/s  "
                f"{scaling}; {cpu:8.1f} CPU s = {len(molecules) / cpu:6.1f} mol per CPU s  "
                f"({batch.n_unique} unique inputs -> {distinct} structures, {rejected} rejected)"
            )
            sys.stdout.flush()
    print(f"\nload average {os.getloadavg()[0]:.2f} at the end; benchmark took {time.perf_counter() - started:.0f} s")
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of the main process {own:.0f} MB (workers are children of the fork server, not measured here)")


if __name__ == "__main__":
    main()
