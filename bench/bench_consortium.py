"""Consortium uplift benchmark: both scenarios, end to end, per partner.

For each scenario (ADMET: four real data owners; potency: ChEMBL assays dealt to four
partners by a keyed hash) this builds the raw partner tables from the data mirror, prepares
every partner with one consortium key, then runs the evaluation protocol: local-only,
federated (Flower simulation, SecAgg+), pooled (upper bound) and a random-forest peer, all
on the same keyed-scaffold test fold with the same training budget. It prints and writes
(into BENCHMARKS.md, section "Consortium uplift") the per-partner uplift tables, the
per-endpoint value distributions behind them and the runtime of every stage.

Run (from the repository root)::

    FEDQSAR_DATA=../shared/data .venv/bin/python bench/bench_consortium.py

Sizes are chosen to fit a 2-core machine in a few minutes per scenario; raise
``--max-compounds`` / ``--max-assays`` for a fuller run. Nothing is tuned on the test fold:
the settings below are fixed before any run.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import shutil
import sys
import time
from pathlib import Path

import pandas as pd

from fedqsar.datasets.scenarios import build_scenario
from fedqsar.datasets.scenarios.newcomer import NAME as NEWCOMER
from fedqsar.datasets.scenarios.newcomer import build_newcomer
from fedqsar.evaluation.config import EvalConfig, RandomForestConfig
from fedqsar.evaluation.protocol import run_protocol
from fedqsar.federation.config import DEFENCE_NAMES, BitPrivacyConfig, FederationConfig, SecAggConfig
from fedqsar.federation.strategy import server_lr
from fedqsar.model.config import ModelConfig, TrainConfig
from fedqsar.prep.config import PrepConfig
from fedqsar.prep.keys import ConsortiumKey
from fedqsar.prep.pipeline import prepare

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchmarks_md import write_block  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SECTION_TITLE = "## Consortium uplift (evaluation)"
MARK = "<!-- consortium-uplift:{}:{} -->"
DEFENCE_MEANING = {
    "private_input": "each partner's first layer private",
    "row_noise": "noise on the first layer's rows",
    "none": "the whole trunk federated",
}
BENCH_KEY = ConsortiumKey(hashlib.sha256(b"fedqsar consortium benchmark key").digest())
SIZES = {"admet": {"max_compounds": 800, "max_assays": None}, "potency": {"max_compounds": 800, "max_assays": 6}}
MAIN_METRIC = {"classification": "auc_pr", "regression": "rmse"}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", choices=["admet", "potency", "both"], default="both")
    parser.add_argument("--max-compounds", type=int, default=None, help="per partner (default: per scenario)")
    parser.add_argument("--max-assays", type=int, default=None, help="per partner (default: per scenario)")
    parser.add_argument("--full", action="store_true", help="full size: no per-partner compound or assay cap")
    parser.add_argument(
        "--defence",
        choices=DEFENCE_NAMES,
        default=None,
        help="FederationConfig.bit_privacy.defence (default: the product's); the run folder gets a suffix",
    )
    parser.add_argument(
        "--newcomer",
        action="store_true",
        help="potency: a fifth company (SIMPD Ki sets) joins and is scored on its time-split future compounds",
    )
    parser.add_argument(
        "--epochs", type=int, default=None, help="local and pooled epoch cap (default: TrainConfig's; early stopping)"
    )
    parser.add_argument("--rounds", type=int, default=None, help="round cap (default: FederationConfig's)")
    parser.add_argument("--local-epochs", type=int, default=None, help="per round (default: FederationConfig's)")
    parser.add_argument("--batch-size", type=int, default=None, help="default: TrainConfig's")
    parser.add_argument(
        "--hidden",
        type=int,
        default=None,
        help="first trunk layer, a second of half its width (default: ModelConfig's)",
    )
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
    parser.add_argument("--trunk", choices=["ecfp", "mpnn"], default="ecfp", help="ModelConfig.trunk")
    parser.add_argument(
        "--descriptors", action=argparse.BooleanOptionalAction, default=True, help="the descriptor block (prep + model)"
    )
    parser.add_argument(
        "--model-kinds", nargs="*", default=None, help="evaluation model kinds (default: all of EvalConfig's)"
    )
    return parser.parse_args()


def configs(args: argparse.Namespace) -> tuple[ModelConfig, TrainConfig, FederationConfig, EvalConfig]:
    """The product's default configs; only what the command line names differs from them."""
    model = ModelConfig(trunk=args.trunk, descriptors=args.descriptors)
    if args.hidden is not None:
        model = dataclasses.replace(model, hidden_sizes=(args.hidden, args.hidden // 2))
    if args.trunk != "ecfp":
        model = dataclasses.replace(model, dropout=0.0)
    train = TrainConfig(validation_fold=3, test_fold=4, seed=0)
    overrides = {"epochs": args.epochs, "batch_size": args.batch_size}
    train = dataclasses.replace(train, **{k: v for k, v in overrides.items() if v is not None})
    federation = FederationConfig(min_partners=2, secagg=SecAggConfig(enabled=args.secagg))
    if args.defence is not None:
        federation = dataclasses.replace(federation, bit_privacy=BitPrivacyConfig(defence=args.defence))
    overrides = {"rounds": args.rounds, "local_epochs": args.local_epochs}
    federation = dataclasses.replace(federation, **{k: v for k, v in overrides.items() if v is not None})
    evaluation = EvalConfig(rf=RandomForestConfig(n_estimators=200, n_jobs=args.n_jobs))
    if args.model_kinds:
        evaluation = dataclasses.replace(evaluation, model_kinds=tuple(args.model_kinds))
    return model, train, federation, evaluation


def settings_text(model: ModelConfig, train: TrainConfig, federation: FederationConfig, ev: EvalConfig) -> str:
    """One paragraph saying what was run (written beside the run, shown in BENCHMARKS.md)."""
    lr = server_lr(federation)
    steps = (
        f"{federation.local_steps} local steps"
        if federation.local_steps
        else f"{federation.local_epochs} local epoch(s)"
    )
    return (
        f"trunk {model.trunk}, descriptors {'on' if model.descriptors else 'off'}, input {model.input_transform}, "
        f"endpoint heads {model.endpoint_heads}; ECFP6 32,768 bits, keyed scaffold folds (validation "
        f"{train.validation_fold}, test {train.test_fold}); network hidden {model.hidden_sizes}, dropout "
        f"{model.dropout}; local and pooled: up to {train.epochs} epochs, early stopping (patience "
        f"{train.early_stopping_patience}) on the validation fold, batch {train.batch_size}, lr {train.lr}; "
        f"federated: {federation.strategy} (server lr {lr}, momentum {federation.server_momentum}), "
        f"up to {federation.rounds} rounds x {steps}, stop after {federation.patience} rounds without a "
        f"partner's validation gain, head alignment {federation.head_steps} steps, bit-privacy defence "
        f"{federation.bit_privacy.defence} ({DEFENCE_MEANING.get(federation.bit_privacy.defence, 'see docs/privacy.md')}), "
        f"SecAgg+ {'on' if federation.secagg.enabled else 'off'}; personalised: "
        f"{'on' if federation.personalisation.enabled else 'off'} (per task local / federated / head-tuned / "
        f"fully tuned, chosen on validation); RF {ev.rf.n_estimators} trees per task"
    )


def prep_config(args: argparse.Namespace) -> PrepConfig:
    """The default prep config, with the descriptor block switched off by ``--no-descriptors``."""
    if args.descriptors:
        return PrepConfig()
    return dataclasses.replace(PrepConfig(), descriptors=dataclasses.replace(PrepConfig().descriptors, enabled=False))


def run_name(name: str, args: argparse.Namespace) -> str:
    """The run folder and BENCHMARKS block of a scenario (``potency+newcomer`` with ``--newcomer``)."""
    run = f"{name}+newcomer" if args.newcomer and name == "potency" else name
    return f"{run}+defence-{args.defence}" if args.defence is not None else run


def run_scenario(name: str, args: argparse.Namespace) -> dict[str, object]:
    out = args.out / run_name(name, args)
    sizes = dict(SIZES[name]) if not args.full else {"max_compounds": None, "max_assays": None}
    if args.max_compounds is not None:
        sizes["max_compounds"] = args.max_compounds
    if args.max_assays is not None:
        sizes["max_assays"] = args.max_assays
    stages: list[tuple[str, str, float]] = []
    started = time.perf_counter()
    raw = build_scenario(name, out / "raw", os.environ.get("FEDQSAR_DATA"), **sizes)
    split_file = None
    if args.newcomer and name == "potency":
        raw[NEWCOMER], split_file = build_newcomer(out / "raw", os.environ.get("FEDQSAR_DATA"))
    stages.append(("build scenario", "all", time.perf_counter() - started))
    prepared = {}
    for partner, path in raw.items():
        folder = out / "prepared" / partner
        if args.reuse_prepared and (folder / "manifest.json").is_file():
            prepared[partner] = folder
            continue
        started = time.perf_counter()
        result = prepare(path, folder, BENCH_KEY, prep_config(args), n_jobs=args.n_jobs)
        stages.append(("prepare", partner, time.perf_counter() - started))
        prepared[partner] = result.out
        acc = result.prepared.accounting
        print(
            f"[{name}] prepared {partner}: {result.prepared.n_compounds} compounds, {result.prepared.n_tasks} tasks "
            f"({int(result.prepared.tasks['passes_quorum'].sum())} pass quorum); rows used {acc['used']}, "
            f"merged {acc['merged']}, rejected {sum(acc['rejected'].values())}",
            flush=True,
        )
    if args.reuse_prepared and (out / "stages.csv").is_file():
        previous = pd.read_csv(out / "stages.csv")
        stages += [tuple(r) for r in previous[previous["stage"] == "prepare"].itertuples(index=False)]
    for stale in ("federation", "evaluation"):
        if (out / stale).exists():
            shutil.rmtree(out / stale)
    model, train, federation, evaluation = configs(args)
    if split_file is not None:
        evaluation = dataclasses.replace(evaluation, split_file=str(split_file))
    result = run_protocol(
        prepared,
        model,
        train,
        federation,
        evaluation,
        out,
        progress=lambda stage, done, total=None, detail="": print(f"[{name}] {stage}: {detail}", flush=True),
    )
    stages += [(s, p, float(t)) for s, p, t in result.timings.itertuples(index=False)]
    pd.DataFrame(stages, columns=["stage", "partner", "seconds"]).to_csv(out / "stages.csv", index=False)
    (out / "sizes.txt").write_text(repr(sizes), encoding="utf-8")
    (out / "command.txt").write_text(args.command, encoding="utf-8")
    (out / "settings.txt").write_text(settings_text(model, train, federation, evaluation), encoding="utf-8")
    return load_results(run_name(name, args), args.out)


def load_results(name: str, root: Path) -> dict[str, object]:
    """Results of a finished scenario run from its run folder (also used by --report-only)."""
    out = root / name
    settings = out / "settings.txt"
    return {
        "name": name,
        "sizes": (out / "sizes.txt").read_text(encoding="utf-8"),
        "command": (out / "command.txt").read_text(encoding="utf-8") if (out / "command.txt").is_file() else None,
        "settings": settings.read_text(encoding="utf-8") if settings.is_file() else "see config.toml",
        "uplift": pd.read_csv(out / "evaluation" / "uplift.csv"),
        "finished": (out / "evaluation" / "uplift.csv").stat().st_mtime,
        "endpoints": pd.read_csv(out / "evaluation" / "endpoints.csv"),
        "stages": pd.read_csv(out / "stages.csv"),
        "federation": federation_summary(out / "federation"),
    }


def federation_summary(folder: Path) -> str:
    """Rounds to convergence and each partner's validation-chosen round, from a finished federation."""
    summary_file = folder / "server.json"
    if not summary_file.is_file():
        return "no federation in this run"
    summary = json.loads(summary_file.read_text(encoding="utf-8"))
    chosen = []
    for best in sorted(folder.rglob("best.json")):
        partner = next((part for part in best.parts if part in summary["partners"]), best.parent.name)
        chosen.append(f"{partner} round {json.loads(best.read_text(encoding='utf-8'))['round']}")
    seconds = [float(v) for v in summary.get("round_seconds", {}).values()]
    per_round = f", {sum(seconds) / len(seconds):.0f} s per round" if seconds else ""
    return (
        f"Federation: {summary['rounds']} rounds run of a cap of {summary['rounds_cap']} "
        f"({'converged: no partner improved for the patience' if summary['converged'] else 'stopped by the cap'}"
        f"{per_round}); validation-chosen rounds: {', '.join(chosen) or 'none recorded'}."
    )


def _fmt(value: float, digits: int = 3) -> str:
    return "–" if pd.isna(value) else f"{value:.{digits}f}"


def uplift_markdown(uplift: pd.DataFrame, comparison: str = "federated_vs_local") -> str:
    rows = uplift[uplift["comparison"] == comparison]
    challenger = {"federated_vs_local": "fed", "personalised_vs_local": "pers"}.get(comparison, comparison)
    lines = [
        f"| partner | metric | tasks | local | federated | personalised | pooled | RF | Δ {challenger}−local [95% CI] "
        "| Δ rel | RIPtoP | recovered share of pooled gain |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|",
    ]
    for r in rows.itertuples(index=False):
        lines.append(
            f"| {r.partner} | {r.metric} | {r.n_tasks} | {_fmt(r.local)} | {_fmt(r.federated)} | "
            f"{_fmt(getattr(r, 'personalised', float('nan')))} | {_fmt(r.pooled)} | "
            f"{_fmt(r.rf)} | {_fmt(r.delta_abs)} [{_fmt(r.ci_low)}, {_fmt(r.ci_high)}] | {_fmt(r.delta_rel)} | "
            f"{_fmt(r.riptop)} | {_fmt(r.recovered_share, 2)} |"
        )
    return "\n".join(lines)


def verdicts(uplift: pd.DataFrame, comparison: str = "federated_vs_local") -> str:
    """One factual line per partner and metric: did federation help, with its interval."""
    rows = uplift[(uplift["comparison"] == comparison) & (uplift["partner"] != "(all)")]
    lines = []
    for r in rows.itertuples(index=False):
        better = (r.delta_abs < 0) if r.metric.startswith("rmse") else (r.delta_abs > 0)
        if pd.isna(r.ci_low):
            verdict = "no interval (too few tasks/compounds)"
        elif r.ci_low > 0 or r.ci_high < 0:
            verdict = "federation helps" if better else "federation hurts"
        else:
            verdict = "no significant difference (95% CI includes 0)"
        lines.append(f"- {r.partner}, {r.metric}: {verdict}.")
    return "\n".join(lines)


def endpoints_markdown(endpoints: pd.DataFrame) -> str:
    stats = endpoints.groupby(["endpoint", "partner"])["value"].agg(["count", "mean", "std"]).reset_index()
    lines = ["| endpoint | partner | values | mean | sd |", "|---|---|---:|---:|---:|"]
    for r in stats.itertuples(index=False):
        lines.append(f"| {r.endpoint} | {r.partner} | {r.count} | {_fmt(r.mean, 2)} | {_fmt(r.std, 2)} |")
    return "\n".join(lines)


def stages_markdown(stages: pd.DataFrame) -> str:
    total = stages.groupby("stage", sort=False)["seconds"].sum()
    lines = ["| stage | seconds |", "|---|---:|"] + [f"| {s} | {v:.1f} |" for s, v in total.items()]
    if "prepare" not in total.index:
        lines.append("| prepare | not timed in this run (PreparedSets reused with --reuse-prepared) |")
    return "\n".join(lines)


def section(res: dict[str, object], command: str) -> str:
    """Markdown block of one scenario, between its own markers."""
    parts = [
        MARK.format(res["name"], "start"),
        "",
        f"### Scenario `{res['name']}` (sizes: {res['sizes']})",
        "",
        f"Command: `{res['command'] or command}`",
        "",
        f"Machine: {os.cpu_count()} cores (shared with other jobs while measured), CPU only. "
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(float(str(res['finished']))))}.",
        "",
        f"Settings: {res['settings']}",
        "",
    ]
    parts += [
        "Per-partner means over the tasks that pass quorum (prepare's quorum and ≥ 10 exact values / "
        "≥ 3 per class on the test fold). AUC-PR: higher is better; RMSE (canonical units): lower is better. "
        "RIPtoP = (fed − local)/(perfect − local): positive = better. CI: bootstrap over tasks "
        "(over test compounds where a partner has one task).",
        "",
        uplift_markdown(res["uplift"]),
        "",
        verdicts(res["uplift"]),
        "",
    ]
    if (res["uplift"]["comparison"] == "personalised_vs_local").any():
        parts += [
            "Personalised (per task the validation-chosen best of local / federated / fine-tuned) vs local:",
            "",
            uplift_markdown(res["uplift"], "personalised_vs_local"),
            "",
            verdicts(res["uplift"], "personalised_vs_local"),
            "",
        ]
    parts += [
        str(res["federation"]),
        "",
        "Canonical values per endpoint and partner (what the partners actually federate on):",
        "",
        endpoints_markdown(res["endpoints"]),
        "",
        "Runtime per stage:",
        "",
        stages_markdown(res["stages"]),
        "",
    ]
    parts.append(MARK.format(res["name"], "end"))
    return "\n".join(parts)


def write_section(name: str, text: str) -> None:
    """Replace scenario ``name``'s block in BENCHMARKS.md (section created if missing)."""
    write_block(SECTION_TITLE, MARK.format(name, "start"), MARK.format(name, "end"), text)


def main() -> None:
    args = parse_args()
    names = ["admet", "potency"] if args.scenario == "both" else [args.scenario]
    command = (
        "FEDQSAR_DATA=../shared/data .venv/bin/python bench/bench_consortium.py " + " ".join(sys.argv[1:])
    ).strip()
    args.command = command
    for name in names:
        result = load_results(run_name(name, args), args.out) if args.report_only else run_scenario(name, args)
        text = section(result, command)
        print(text, flush=True)
        if not args.no_write:
            write_section(str(result["name"]), text)


if __name__ == "__main__":
    main()
