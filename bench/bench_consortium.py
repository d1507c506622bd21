"""Consortium uplift benchmark: both scenarios at full size, end to end, per partner.

For each scenario (ADMET: four real data owners; potency: ChEMBL assays dealt to four
partners by a keyed hash) this builds the raw partner tables from the data mirror (no
per-partner cap unless ``--max-compounds`` / ``--max-assays`` ask for one), prepares every
partner with one consortium key (or takes PreparedSets prepared before with ``--prepared``),
then runs the evaluation protocol: local-only, federated (Flower simulation until no partner
improves, capped), personalised, pooled (upper bound) and a random-forest peer, all on the
same keyed-scaffold test fold with the same training budget. With
``--compare-endpoint-heads`` it runs local / federated / personalised / pooled a second time
with the other endpoint-head mode (shared endpoint heads vs private heads).

It prints and writes (into BENCHMARKS.md, section "Consortium uplift") per-partner uplift
tables with 95% intervals, the recovered share of the pooled gain, rounds to convergence,
the endpoint-head comparison, the per-endpoint value distributions and the wall time of every
stage with the machine's load.

Run (from the repository root)::

    FEDQSAR_DATA=../shared/data .venv/bin/python bench/bench_consortium.py --compare-endpoint-heads

Nothing is tuned on the test fold: the settings below are the defaults chosen on validation
folds (BENCHMARKS.md, "Federation that converges" and "Fair tuning").
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import re
import shutil
import sys
import time
from pathlib import Path

import pandas as pd

from fedqsar.datasets.scenarios import build_scenario
from fedqsar.evaluation.config import EvalConfig, RandomForestConfig
from fedqsar.evaluation.protocol import run_protocol
from fedqsar.federation.config import FederationConfig, SecAggConfig
from fedqsar.model.config import ModelConfig, TrainConfig
from fedqsar.model.personalise import PersonalisationConfig
from fedqsar.prep.config import PrepConfig
from fedqsar.prep.keys import ConsortiumKey
from fedqsar.prep.pipeline import prepare

REPO = Path(__file__).resolve().parents[1]
SECTION_TITLE = "## Consortium uplift (evaluation)"
MARK = "<!-- consortium-uplift:{}:{} -->"
BENCH_KEY = ConsortiumKey(hashlib.sha256(b"fedqsar consortium benchmark key").digest())
SIZES: dict[str, dict[str, int | None]] = {
    "admet": {"max_compounds": None, "max_assays": None},
    "potency": {"max_compounds": None, "max_assays": None},
}
#: the network and training settings of every model kind (same budget for all)
BENCH_MODEL = ModelConfig(hidden_sizes=(256,), dropout=0.2)
BENCH_TRAIN = TrainConfig(epochs=40, batch_size=128, lr=1e-3, early_stopping_patience=5, validation_fold=3, test_fold=4)
COMPARE_KINDS = ("local", "federated", "personalised", "pooled")
OTHER_HEADS = {"shared": "private", "private": "shared"}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", choices=["admet", "potency", "both"], default="both")
    parser.add_argument("--max-compounds", type=int, default=None, help="per partner (default: all)")
    parser.add_argument("--max-assays", type=int, default=None, help="per partner (default: all)")
    parser.add_argument(
        "--prepared",
        default=None,
        help="folder of already prepared partner sets, '{scenario}' is replaced (prepare is then not timed)",
    )
    parser.add_argument("--epochs", type=int, default=BENCH_TRAIN.epochs, help="local/pooled epoch cap")
    parser.add_argument("--rounds", type=int, default=None, help="federated round cap (default: FederationConfig)")
    parser.add_argument("--hidden", type=int, default=BENCH_MODEL.hidden_sizes[0])
    parser.add_argument("--endpoint-heads", choices=["shared", "private"], default=BENCH_MODEL.endpoint_heads)
    parser.add_argument("--compare-endpoint-heads", action="store_true", help="second run with the other head mode")
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "bench_consortium")
    parser.add_argument("--no-write", action="store_true", help="do not update BENCHMARKS.md")
    parser.add_argument("--reuse-prepared", action="store_true", help="keep PreparedSets already in --out")
    parser.add_argument(
        "--secagg",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="SecAgg+ (off by default here: masking dominates round time on a shared 2-core box)",
    )
    parser.add_argument("--report-only", action="store_true", help="re-render from finished run folders in --out")
    return parser.parse_args()


def configs(
    args: argparse.Namespace, endpoint_heads: str, kinds: tuple[str, ...] | None = None
) -> tuple[ModelConfig, TrainConfig, FederationConfig, EvalConfig]:
    model = dataclasses.replace(BENCH_MODEL, hidden_sizes=(args.hidden,), endpoint_heads=endpoint_heads)
    train = dataclasses.replace(BENCH_TRAIN, epochs=args.epochs)
    defaults = FederationConfig()
    federation = dataclasses.replace(
        defaults,
        rounds=args.rounds or defaults.rounds,
        min_partners=4,
        secagg=SecAggConfig(enabled=args.secagg),
        personalisation=PersonalisationConfig(enabled=True),
    )
    evaluation = EvalConfig(rf=RandomForestConfig(n_estimators=200, n_jobs=args.n_jobs))
    if kinds is not None:
        evaluation = dataclasses.replace(evaluation, model_kinds=kinds)
    return model, train, federation, evaluation


def settings_text(model: ModelConfig, train: TrainConfig, fed: FederationConfig, evaluation: EvalConfig) -> str:
    from fedqsar.federation.strategy import server_lr

    work = f"{fed.local_steps} local steps" if fed.local_steps else f"{fed.local_epochs} local epoch(s)"
    return (
        f"ECFP6 32,768 bits, keyed scaffold folds (validation 3, test 4); network hidden {model.hidden_sizes}, "
        f"dropout {model.dropout}, {model.endpoint_heads} endpoint heads; local and pooled: up to {train.epochs} "
        f"epochs, early stopping (patience {train.early_stopping_patience}) on the validation fold, batch "
        f"{train.batch_size}, lr {train.lr:g}; federated: {fed.strategy} (server lr {server_lr(fed):g}, momentum "
        f"{fed.server_momentum:g}), {work} and {fed.head_steps} head-alignment steps per round, until no partner's "
        f"validation loss improved for {fed.patience} rounds (cap {fed.rounds}), each partner keeps its best "
        f"validation round, SecAgg+ {'on' if fed.secagg.enabled else 'off'}; personalised: per task the best of "
        f"local / federated / fine-tuned on the partner's validation fold; RF {evaluation.rf.n_estimators} trees per task"
    )


def prepared_folders(name: str, args: argparse.Namespace, out: Path, stages: list) -> tuple[dict[str, Path], dict]:
    """Partner -> PreparedSet folder, either given (``--prepared``) or built and prepared here."""
    sizes = dict(SIZES[name])
    if args.max_compounds is not None:
        sizes["max_compounds"] = args.max_compounds
    if args.max_assays is not None:
        sizes["max_assays"] = args.max_assays
    if args.prepared:
        folder = Path(args.prepared.format(scenario=name))
        found = {p.name: p for p in sorted(folder.iterdir()) if (p / "manifest.json").is_file()}
        return found, sizes
    started = time.perf_counter()
    raw = build_scenario(name, out / "raw", os.environ.get("FEDQSAR_DATA"), **sizes)
    stages.append(("build scenario", "all", time.perf_counter() - started))
    prepared = {}
    for partner, path in raw.items():
        folder = out / "prepared" / partner
        if args.reuse_prepared and (folder / "manifest.json").is_file():
            prepared[partner] = folder
            continue
        started = time.perf_counter()
        result = prepare(path, folder, BENCH_KEY, PrepConfig(), n_jobs=args.n_jobs)
        stages.append(("prepare", partner, time.perf_counter() - started))
        prepared[partner] = result.out
        print(f"[{name}] prepared {partner}: {result.prepared.n_compounds} compounds", flush=True)
    return prepared, sizes


def run_one(name: str, prepared: dict[str, Path], out: Path, cfgs: tuple) -> dict:
    """One protocol run into ``out``; returns its timings, load and settings (also written to run_info.json)."""
    for stale in ("federation", "evaluation"):
        if (out / stale).exists():
            shutil.rmtree(out / stale)
    load_before = os.getloadavg()
    started = time.perf_counter()
    result = run_protocol(
        prepared, *cfgs, out, progress=lambda stage, detail: print(f"[{name}] {stage}: {detail}", flush=True)
    )
    info = {
        "wall_s": time.perf_counter() - started,
        "load_before": load_before,
        "load_after": os.getloadavg(),
        "settings": settings_text(*cfgs),
        "stages": [(s, p, float(t)) for s, p, t in result.timings.itertuples(index=False)],
    }
    (out / "run_info.json").write_text(json.dumps(info, indent=1), encoding="utf-8")
    return info


def run_scenario(name: str, args: argparse.Namespace) -> dict[str, object]:
    out = args.out / name
    out.mkdir(parents=True, exist_ok=True)
    stages: list[tuple[str, str, float]] = []
    prepared, sizes = prepared_folders(name, args, out, stages)
    (out / "sizes.txt").write_text(repr(sizes), encoding="utf-8")
    (out / "prepare_stages.json").write_text(json.dumps(stages), encoding="utf-8")
    run_one(name, prepared, out, configs(args, args.endpoint_heads))
    if args.compare_endpoint_heads:
        other = OTHER_HEADS[args.endpoint_heads]
        run_one(name, prepared, out / f"heads_{other}", configs(args, other, COMPARE_KINDS))
    return load_results(name, args.out)


def convergence(run: Path) -> dict[str, object]:
    """Rounds run, cap, converged flag and each partner's selected (best validation) round."""
    summary_path = run / "federation" / "server.json"
    if not summary_path.is_file():
        return {}
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    best = {}
    for folder in sorted((run / "federation" / "partners").iterdir()):
        record = folder / "best.json"
        if record.is_file():
            best[folder.name] = json.loads(record.read_text(encoding="utf-8"))["round"]
    seconds = summary.get("round_seconds", {})
    return {
        "rounds": summary.get("rounds"),
        "cap": summary.get("rounds_cap"),
        "converged": summary.get("converged"),
        "best_rounds": best,
        "median_round_s": float(pd.Series(list(seconds.values())).median()) if seconds else float("nan"),
    }


def load_results(name: str, root: Path) -> dict[str, object]:
    """Results of a finished scenario run from its run folder (also used by --report-only)."""
    out = root / name
    info = json.loads((out / "run_info.json").read_text(encoding="utf-8"))
    comparison = {}
    for other in OTHER_HEADS:
        folder = out / f"heads_{other}"
        if (folder / "evaluation" / "uplift.csv").is_file():
            comparison[other] = {
                "uplift": pd.read_csv(folder / "evaluation" / "uplift.csv"),
                "info": json.loads((folder / "run_info.json").read_text(encoding="utf-8")),
            }
    prepare_stages = json.loads((out / "prepare_stages.json").read_text(encoding="utf-8"))
    return {
        "name": name,
        "sizes": (out / "sizes.txt").read_text(encoding="utf-8"),
        "info": info,
        "uplift": pd.read_csv(out / "evaluation" / "uplift.csv"),
        "endpoints": pd.read_csv(out / "evaluation" / "endpoints.csv"),
        "stages": pd.DataFrame(prepare_stages + info["stages"], columns=["stage", "partner", "seconds"]),
        "convergence": convergence(out),
        "comparison": comparison,
    }


def _fmt(value: float, digits: int = 3) -> str:
    return "–" if pd.isna(value) else f"{value:.{digits}f}"


def _delta(row: pd.Series | None) -> str:
    if row is None:
        return "–"
    interval = "no interval" if pd.isna(row.ci_low) else f"[{_fmt(row.ci_low)}, {_fmt(row.ci_high)}]"
    return f"{row.delta_abs:+.3f} {interval}"


def _rows(uplift: pd.DataFrame, comparison: str) -> dict[tuple[str, str], pd.Series]:
    part = uplift[uplift["comparison"] == comparison]
    return {(r.partner, r.metric): r for r in part.itertuples(index=False)}


def uplift_markdown(uplift: pd.DataFrame) -> str:
    fed, pers = _rows(uplift, "federated_vs_local"), _rows(uplift, "personalised_vs_local")
    lines = [
        "| partner | metric | tasks | local | federated | personalised | pooled | RF | Δ fed−local [95% CI] | "
        "Δ pers−local [95% CI] | recovered share (fed / pers) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|---|---:|",
    ]
    for key, r in fed.items():
        p = pers.get(key)
        recovered = f"{_fmt(r.recovered_share, 2)} / {_fmt(p.recovered_share, 2) if p is not None else '–'}"
        lines.append(
            f"| {r.partner} | {r.metric} | {r.n_tasks} | {_fmt(r.local)} | {_fmt(r.federated)} | "
            f"{_fmt(r.personalised)} | {_fmt(r.pooled)} | {_fmt(r.rf)} | {_delta(r)} | {_delta(p)} | {recovered} |"
        )
    return "\n".join(lines)


def verdicts(uplift: pd.DataFrame) -> str:
    """One factual line per partner and metric for federated and personalised vs local."""
    lines = []
    for kind in ("federated", "personalised"):
        rows = uplift[(uplift["comparison"] == f"{kind}_vs_local") & (uplift["partner"] != "(all)")]
        for r in rows.itertuples(index=False):
            better = (r.delta_abs < 0) if r.metric.startswith("rmse") else (r.delta_abs > 0)
            if pd.isna(r.ci_low):
                verdict = "no interval (too few tasks/compounds)"
            elif r.ci_low > 0 or r.ci_high < 0:
                verdict = "better than local" if better else "worse than local"
            else:
                verdict = "no significant difference (95% CI includes 0)"
            lines.append(f"- {kind}, {r.partner}, {r.metric}: {verdict}.")
    return "\n".join(lines)


def convergence_markdown(conv: dict[str, object]) -> str:
    if not conv:
        return "(no federation in this run)"
    best = ", ".join(f"{p} {r}" for p, r in conv["best_rounds"].items())
    return (
        f"Rounds run {conv['rounds']} of a cap of {conv['cap']} (converged: {conv['converged']}; median round "
        f"{conv['median_round_s']:.1f} s); each partner's selected round (lowest validation loss): {best}."
    )


def comparison_markdown(res: dict[str, object]) -> str:
    if not res["comparison"]:
        return ""
    main_mode = "shared" if "private" in res["comparison"] else "private"
    runs = {main_mode: res["uplift"], **{k: v["uplift"] for k, v in res["comparison"].items()}}
    lines = [
        "| endpoint heads | metric | local | federated | personalised | pooled | Δ fed−local [95% CI] | "
        "Δ pers−local [95% CI] | recovered (fed / pers) |",
        "|---|---|---:|---:|---:|---:|---|---|---:|",
    ]
    for mode, uplift in runs.items():
        fed, pers = _rows(uplift, "federated_vs_local"), _rows(uplift, "personalised_vs_local")
        for metric in ("auc_pr", "rmse"):
            r, p = fed.get(("(all)", metric)), pers.get(("(all)", metric))
            if r is None:
                continue
            recovered = f"{_fmt(r.recovered_share, 2)} / {_fmt(p.recovered_share, 2) if p is not None else '–'}"
            lines.append(
                f"| {mode} | {metric} | {_fmt(r.local)} | {_fmt(r.federated)} | {_fmt(r.personalised)} | "
                f"{_fmt(r.pooled)} | {_delta(r)} | {_delta(p)} | {recovered} |"
            )
    return "\n".join(lines)


def endpoints_markdown(endpoints: pd.DataFrame) -> str:
    stats = endpoints.groupby(["endpoint", "partner"])["value"].agg(["count", "mean", "std"]).reset_index()
    lines = ["| endpoint | partner | values | mean | sd |", "|---|---|---:|---:|---:|"]
    for r in stats.itertuples(index=False):
        lines.append(f"| {r.endpoint} | {r.partner} | {r.count} | {_fmt(r.mean, 2)} | {_fmt(r.std, 2)} |")
    return "\n".join(lines)


def stages_markdown(stages: pd.DataFrame, info: dict) -> str:
    total = stages.groupby("stage", sort=False)["seconds"].sum()
    lines = ["| stage | seconds |", "|---|---:|"] + [f"| {s} | {v:.1f} |" for s, v in total.items()]
    if "prepare" not in total.index:
        lines.append("| prepare | not timed in this run (PreparedSets prepared before) |")
    evaluation = total.drop([s for s in ("build scenario", "prepare") if s in total.index]).sum()
    lines.append(f"| **evaluation (all stages but prepare)** | **{evaluation:.1f}** |")
    load = f"load average {info['load_before'][0]:.1f} before, {info['load_after'][0]:.1f} after"
    return "\n".join(lines) + f"\n\nMachine load while measured: {load} (2 cores shared with other jobs)."


def section(res: dict[str, object], command: str) -> str:
    """Markdown block of one scenario, between its own markers."""
    info = res["info"]
    parts = [
        MARK.format(res["name"], "start"),
        "",
        f"### Scenario `{res['name']}` (sizes: {res['sizes']})",
        "",
        f"Command: `{command}`",
        "",
        f"Machine: {os.cpu_count()} cores (shared with other jobs while measured), CPU only. "
        f"Generated {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        "",
        f"Settings: {info['settings']}",
        "",
        "Per-partner means over the tasks that pass quorum (prepare's quorum and ≥ 10 exact values / "
        "≥ 3 per class on the test fold). AUC-PR: higher is better; RMSE (canonical units): lower is better. "
        "CI: bootstrap over tasks, over test compounds for partners with fewer than 5 tasks. Recovered share "
        "= (kind − local) / (pooled − local), shown where pooling gains.",
        "",
        uplift_markdown(res["uplift"]),
        "",
        verdicts(res["uplift"]),
        "",
        "Convergence: " + convergence_markdown(res["convergence"]),
        "",
    ]
    comparison = comparison_markdown(res)
    if comparison:
        parts += ["Shared endpoint heads vs private heads (overall, same folds and budget):", "", comparison, ""]
    parts += [
        "Canonical values per endpoint and partner (what the partners actually federate on):",
        "",
        endpoints_markdown(res["endpoints"]),
        "",
        "Runtime per stage (federated includes each partner's personalisation):",
        "",
        stages_markdown(res["stages"], info),
        "",
        MARK.format(res["name"], "end"),
    ]
    return "\n".join(parts)


def write_section(name: str, text: str) -> None:
    """Replace scenario ``name``'s block in BENCHMARKS.md (section created if missing)."""
    path = REPO / "BENCHMARKS.md"
    current = path.read_text(encoding="utf-8") if path.is_file() else "# Benchmarks\n"
    start, end = MARK.format(name, "start"), MARK.format(name, "end")
    if start in current and end in current:
        pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.S)
        current = pattern.sub(lambda _: text, current)
    elif SECTION_TITLE in current:
        head, tail = current.split(SECTION_TITLE, 1)
        following = re.search(r"\n## ", tail)
        cut = following.start() if following else len(tail)
        current = head + SECTION_TITLE + tail[:cut].rstrip() + "\n\n" + text + "\n" + tail[cut:]
    else:
        current = current.rstrip() + "\n\n" + SECTION_TITLE + "\n\n" + text + "\n"
    path.write_text(current, encoding="utf-8")


def main() -> None:
    args = parse_args()
    names = ["admet", "potency"] if args.scenario == "both" else [args.scenario]
    command = (
        "FEDQSAR_DATA=../shared/data .venv/bin/python bench/bench_consortium.py " + " ".join(sys.argv[1:])
    ).strip()
    for name in names:
        result = load_results(name, args.out) if args.report_only else run_scenario(name, args)
        text = section(result, command)
        print(text, flush=True)
        if not args.no_write:
            write_section(name, text)


if __name__ == "__main__":
    main()
