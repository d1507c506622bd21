""""Should we join?" benchmark: the probe's predicted gain against the gain really obtained.

On the ADMET scenario (four real data owners), for each partner ``p`` in turn:

1. the other three federate without ``p`` (``fedqsar evaluate --leave-one-out`` does exactly
   this) and publish their trunk (``RUN/evaluation/leave_one_out/without_<p>/trunk/``);
2. ``p`` probes that trunk with its own PreparedSet (``fedqsar probe``): predicted gain =
   joined − local on ``p``'s *validation* fold;
3. ``p`` actually federates in (the full four-partner federation of the same run): real gain =
   personalised − local on ``p``'s *test* fold, with its 95% interval.

Aim: the probe's sign right for every partner, its estimate within the interval of the real
gain. Also: probe wall time per partner (vs the same partner's local training in the same run,
the baseline), and the leave-one-out wall time for four partners.

Run (from the repository root; reuses the full-size PreparedSets another engineer wrote to
``/work/cache/admet-full/prepared`` when present)::

    FEDQSAR_DATA=../shared/data nice -n 10 .venv/bin/python bench/bench_probe.py \\
        --prepared /work/cache/admet-full/prepared

Phases are resumable: a finished evaluation or probe in ``--out`` is reused.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import time
from pathlib import Path

import pandas as pd

from bench_consortium import BENCH_KEY  # the key the cached PreparedSets were prepared with
from bench_consortium import configs as consortium_configs
from fedqsar.evaluation.config import EvalConfig
from fedqsar.evaluation.protocol import run_protocol
from fedqsar.federation.config import FederationConfig
from fedqsar.model.config import ModelConfig, TrainConfig
from fedqsar.probe import ProbeConfig, run_probe

REPO = Path(__file__).resolve().parents[1]
SECTION_TITLE = "## Should we join? (probe vs real gain, leave-one-out)"
START, END = "<!-- probe-bench:start -->", "<!-- probe-bench:end -->"
METRICS = ("auc_pr", "rmse")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prepared", type=Path, default=Path("/work/cache/admet-full/prepared"))
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "bench_probe")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--no-write", action="store_true", help="do not update BENCHMARKS.md")
    parser.set_defaults(local_epochs=1, secagg=False, n_jobs=2)  # what bench_consortium.configs reads
    return parser.parse_args()


def configs(args: argparse.Namespace) -> tuple[ModelConfig, TrainConfig, FederationConfig, EvalConfig]:
    """bench_consortium's settings; the evaluation: local, federated, personalised, and leave-one-out."""
    model, train, federation, _ = consortium_configs(args)
    return model, train, federation, EvalConfig(model_kinds=("local", "federated", "personalised"), leave_one_out=True)


def load() -> str:
    return "load average " + " ".join(f"{x:.1f}" for x in os.getloadavg())


def evaluate(args: argparse.Namespace, partners: dict[str, Path]) -> dict[str, Path]:
    """The full federation and the four leave-one-out federations (reused when finished)."""
    record = args.out / "evaluated.json"
    if record.is_file():
        return {k: Path(v) for k, v in json.loads(record.read_text())["folders"].items()}
    model, train, federation, evaluation = configs(args)
    started = time.perf_counter()
    print(f"evaluate (local, federated, personalised, leave-one-out) - {load()}", flush=True)
    result = run_protocol(
        partners, model, train, federation, evaluation, args.out, lambda s, d: print(f"  {s}: {d}", flush=True)
    )
    seconds = time.perf_counter() - started
    folders = {k: str(v) for k, v in result.folders.items()}
    record.write_text(json.dumps({"folders": folders, "seconds": seconds, "load_after": load()}, indent=2))
    return result.folders


def probe_all(args: argparse.Namespace, folders: dict[str, Path]) -> dict[str, dict]:
    """Each partner probes the trunk the other three published (reused when finished)."""
    records = {}
    for name, folder in sorted(folders.items()):
        out = args.out / "probe" / name
        if not (out / "probe.json").is_file():
            trunk = args.out / "evaluation" / "leave_one_out" / f"without_{name}" / "trunk"
            before = load()
            run_probe(trunk, folder, BENCH_KEY, out, ProbeConfig(), lambda s, d: print(f"  probe {s}: {d}", flush=True))
            (out / "load.txt").write_text(f"before: {before}; after: {load()}", encoding="utf-8")
        records[name] = json.loads((out / "probe.json").read_text())
        records[name]["load"] = (out / "load.txt").read_text() if (out / "load.txt").is_file() else ""
    return records


def comparison_table(args: argparse.Namespace, records: dict[str, dict]) -> pd.DataFrame:
    uplift = pd.read_csv(args.out / "evaluation" / "uplift.csv")
    real = uplift[uplift["comparison"] == "personalised_vs_local"].set_index(["partner", "metric"])
    rows = []
    for name in sorted(records):
        summary = pd.read_csv(args.out / "probe" / name / "probe_summary.csv")
        predicted = summary[summary["comparison"] == "joined_vs_local"].set_index("metric")
        for metric in METRICS:
            if metric not in predicted.index or (name, metric) not in real.index:
                continue
            p, r = predicted.loc[metric], real.loc[(name, metric)]
            sign_ok = (p["delta_abs"] > 0) == (r["delta_abs"] > 0) or (
                abs(p["delta_abs"]) < 1e-9 and abs(r["delta_abs"]) < 1e-9
            )
            rows.append(
                {
                    "partner": name,
                    "metric": metric,
                    "probe_tasks": int(p["n_tasks"]),
                    "predicted": float(p["delta_abs"]),
                    "predicted_ci": f"{p['ci_low']:+.3f}..{p['ci_high']:+.3f}",
                    "real_tasks": int(r["n_tasks"]),
                    "real": float(r["delta_abs"]),
                    "real_ci": f"{r['ci_low']:+.3f}..{r['ci_high']:+.3f}",
                    "sign_right": bool(sign_ok),
                    "within_real_ci": bool(r["ci_low"] <= p["delta_abs"] <= r["ci_high"]),
                    "verdict": records[name]["verdict"]["code"],
                }
            )
    return pd.DataFrame(rows)


def markdown(args: argparse.Namespace, table: pd.DataFrame, records: dict[str, dict]) -> str:
    timings = pd.read_csv(args.out / "evaluation" / "timings.csv")
    local = timings[timings["stage"] == "local"].set_index("partner")["seconds"]
    loo = timings[timings["stage"] == "leave_one_out"]
    folds = pd.read_csv(args.out / "evaluation" / "folds.csv")
    evaluated = json.loads((args.out / "evaluated.json").read_text())
    model_cfg, _, fed_cfg, _ = configs(args)
    lines = [
        SECTION_TITLE,
        "",
        START,
        "",
        f"Command: `FEDQSAR_DATA=../shared/data nice -n 10 .venv/bin/python bench/bench_probe.py --prepared {args.prepared}`",
        "",
        f"Data: the full-size ADMET PreparedSets in `{args.prepared}` (prepared by the fedconv engineer with "
        "bench_consortium's key and default PrepConfig; keyed scaffold folds, validation 3, test 4). Settings as "
        f"bench_consortium: hidden {model_cfg.hidden_sizes}, bit privacy {fed_cfg.bit_privacy.defence}, dropout 0.2, batch {args.batch_size}, local up to {args.epochs} "
        f"epochs (patience 5), FedAvg up to {args.rounds} rounds x 1 epoch (convergence stop), SecAgg+ off, "
        "personalisation defaults; the probe uses the trunk record's settings (the same). Machine: 2 cores shared "
        f"with ~6 engineers; evaluation {evaluated['seconds'] / 60:.0f} min, {evaluated.get('load_after', '')} at its end.",
        "",
        "Predicted gain = the probe's joined − local on the candidate's validation fold (trunk of the other three); "
        "real gain = personalised − local on its test fold after federating with all four (same run). "
        "AUC-PR: higher is better; RMSE: lower is better.",
        "",
        "| partner | metric | probe tasks | predicted [95% CI] | real tasks | real [95% CI] | sign right | within real CI | probe verdict |",
        "|---|---|---:|---|---:|---|---|---|---|",
    ]
    for r in table.itertuples():
        lines.append(
            f"| {r.partner} | {r.metric} | {r.probe_tasks} | {r.predicted:+.3f} [{r.predicted_ci}] | {r.real_tasks} | "
            f"{r.real:+.3f} [{r.real_ci}] | {'yes' if r.sign_right else '**no**'} | "
            f"{'yes' if r.within_real_ci else '**no**'} | {r.verdict} |"
        )
    n = len(table)
    lines += [
        "",
        f"Sign right: {int(table['sign_right'].sum())} of {n}; predicted within the real gain's 95% CI: "
        f"{int(table['within_real_ci'].sum())} of {n}.",
        "",
        "Probe wall time per candidate (baseline: the same partner's local training in the protocol run, same machine):",
        "",
        "| candidate | compounds | probe total | head on trunk | fine-tune | local | compare | probe / local fit in protocol | load |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name, rec in sorted(records.items()):
        s = rec["seconds"]
        ratio = s["total"] / float(local.get(name, float("nan")))
        lines.append(
            f"| {name} | {rec['n_compounds']:,} | {s['total']:.0f} s | {s['head_on_trunk']:.0f} s | {s['fine_tuned']:.0f} s | "
            f"{s['local']:.0f} s | {s['compare']:.1f} s | {ratio:.2f}x | {rec.get('load', '')} |"
        )
    lines += [
        "",
        f"Leave-one-out (4 federations of 3 partners, incl. personalisation): {loo['seconds'].sum() / 60:.1f} min in all ("
        + ", ".join(f"without {r.partner} {r.seconds:.0f} s" for r in loo.itertuples())
        + f"); the full four-partner federation took {timings[timings['stage'] == 'federated']['seconds'].sum():.0f} s.",
        "",
        "Test-fold overlap (keyed scaffold folds: only structures whose keyed fingerprints coincide across scaffolds): "
        + ", ".join(f"{r.partner} {r.n_test_seen_elsewhere}" for r in folds.itertuples())
        + " test compounds also in another partner's training/validation rows; "
        + ", ".join(f"{r.partner} {r.n_excluded_train + r.n_excluded_validation}" for r in folds.itertuples())
        + " rows left out of training/validation.",
        "",
        END,
    ]
    return "\n".join(lines) + "\n"


def write_section(text: str) -> None:
    path = REPO / "BENCHMARKS.md"
    current = path.read_text(encoding="utf-8")
    block = re.compile(re.escape(SECTION_TITLE) + r"\n\n" + re.escape(START) + r".*?" + re.escape(END) + r"\n", re.S)
    current = block.sub(lambda _: text, current) if block.search(current) else current.rstrip("\n") + "\n\n" + text
    path.write_text(current, encoding="utf-8")


def main() -> None:
    args = parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    partners = {p.name: p for p in sorted(args.prepared.iterdir()) if (p / "manifest.json").is_file()}
    folders = evaluate(args, partners)
    records = probe_all(args, folders)
    table = comparison_table(args, records)
    text = markdown(args, table, records)
    print(text)
    if not args.no_write:
        write_section(text)


if __name__ == "__main__":
    main()
