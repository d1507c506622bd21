"""A synthetic run folder, for the report's tests and benchmark only (a test fixture, not in the package).

``fedqsar report`` never calls this: it reads real run folders. The numbers are drawn from
a seeded random generator to *look like* a run (three partners, classification and
regression tasks, one partner federation does not help, one partner whose logD values are
shifted by a unit error) so that every section of the report has something to show.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from fedqsar.evaluation.leave_one_out import LOO_COLUMNS
from fedqsar.evaluation.uplift import UpliftConfig, uplift_table
from fedqsar.hashing import sha256_file
from fedqsar.ledger import Ledger

SYNTHETIC_PARTNERS = {"pharma_a": (4200, 1.0), "pharma_b": (2600, 0.0), "biotech_c": (700, 2.5)}
"""Partner -> (compounds, how much federation helps it: 0 = not at all)."""
ENDPOINTS = {"logD7.4": (2.1, 1.1), "logS": (-4.0, 1.3), "log_clearance": (1.2, 0.6)}
ROUNDS = 12


def write_synthetic_run(
    folder: Path,
    seed: int = 0,
    n_tasks: int = 16,
    with_trust: bool = True,
    endpoint_values: int | None = None,
    with_privacy: bool = True,
) -> Path:
    """Write a synthetic run folder (layout of docs/CONTRACTS.md) for tests and benchmarks.

    Parameters
    ----------
    folder
        Created if missing.
    seed
        Seed of every random draw.
    n_tasks
        Tasks per partner: three quarters classification (AUC-PR), the rest regression (RMSE).
    with_trust
        Whether to write ``trust/coverage.csv`` and ``trust/domain.csv``.
    endpoint_values
        Values per partner and endpoint in ``evaluation/endpoints.csv`` (default: a sixth of
        the partner's compounds, at least 50).
    with_privacy
        Whether to write ``privacy/`` (the files of ``fedqsar audit privacy``).

    Returns
    -------
    Path
        ``folder``.
    """
    rng = np.random.default_rng(seed)
    folder = Path(folder)
    for sub in ("federation", "evaluation", "trust"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    _write_config(folder)
    _write_consortium(folder, n_tasks)
    metrics = _metrics(rng, n_tasks)
    metrics.to_csv(folder / "evaluation" / "metrics.csv", index=False)
    uplift_table(metrics, UpliftConfig(n_bootstrap=400, seed=seed)).to_csv(
        folder / "evaluation" / "uplift.csv", index=False
    )
    _history(rng).to_csv(folder / "federation" / "history.csv", index=False)
    _endpoints(rng, endpoint_values).to_csv(folder / "evaluation" / "endpoints.csv", index=False)
    _leave_one_out(rng).to_csv(folder / "evaluation" / "leave_one_out.csv", index=False)
    _folds().to_csv(folder / "evaluation" / "folds.csv", index=False)
    _write_ledgers(folder)
    if with_trust:
        _coverage(rng, n_tasks).to_csv(folder / "trust" / "coverage.csv", index=False)
        _domain(rng, n_tasks).to_csv(folder / "trust" / "domain.csv", index=False)
    if with_privacy:
        _write_privacy(folder, rng)
    return folder


def _write_privacy(folder: Path, rng: np.random.Generator) -> None:
    """``privacy/`` as ``fedqsar audit privacy`` writes it (private first layers: nothing per bit to recover)."""
    (folder / "privacy").mkdir(parents=True, exist_ok=True)
    attacks = [("change_norm", f"{r}-{r + 1}") for r in range(ROUNDS)] + [
        ("all_rounds_norm", "all"),
        ("consistency", "all"),
    ]
    bits = [(a, pair, "union", 0.5, 30000, 2768) for a, pair in attacks]
    pd.DataFrame(bits, columns=["attack", "pair", "target", "auc", "n_positive", "n_negative"]).to_csv(
        folder / "privacy" / "bits.csv", index=False
    )
    rows = []
    for partner, (n_compounds, _) in SYNTHETIC_PARTNERS.items():
        for kind, level in (("local", 0.62), ("federated", 0.53), ("personalised", 0.54)):
            for reference, shift in (("holdout", 0.0), ("test_fold", 0.03)):
                auc = float(np.clip(level + shift + rng.normal(0, 0.01), 0, 1))
                rows.append((partner, kind, "loss", reference, auc, n_compounds // 2, n_compounds // 10))
        rows.append((partner, "federated", "nearest_similarity", "test_fold", 1.0, n_compounds // 2, n_compounds // 10))
        rows.append(
            (partner, "federated", "nearest_similarity_shared", "test_fold", 0.7, n_compounds // 2, n_compounds // 10)
        )
    columns = ["partner", "model_kind", "score", "reference", "auc", "n_members", "n_nonmembers"]
    pd.DataFrame(rows, columns=columns).to_csv(folder / "privacy" / "membership.csv", index=False)
    summary = {
        "defence": "private_input",
        "secagg": True,
        "dp": False,
        "bit_auc": 0.5,
        "bit_attack": "change_norm",
        "bit_auc_others": 0.5,
    }
    pd.DataFrame({"key": list(summary), "value": list(summary.values())}).to_csv(
        folder / "privacy" / "summary.csv", index=False
    )


def _write_config(folder: Path) -> None:
    (folder / "config.toml").write_text(
        "[prep.fingerprint]\nradius = 2\nn_bits = 32000\n\n"
        "[model]\nhidden_sizes = [1000]\ndropout = 0.2\n\n"
        "[train]\nepochs = 20\nbatch_size = 512\nlr = 0.001\n\n"
        f"[federation]\nrounds = {ROUNDS}\nlocal_epochs = 1\nsecagg = true\n\n"
        "[eval]\nbootstrap = 1000\nconfidence = 0.95\n",
        encoding="utf-8",
    )


def _write_consortium(folder: Path, n_tasks: int) -> None:
    consortium = {}
    for name, (n_compounds, _) in SYNTHETIC_PARTNERS.items():
        rejected = {"invalid_smiles": n_compounds // 90, "unknown_unit": n_compounds // 150, "no_value": 7}
        merged = n_compounds // 12
        used = n_compounds * 3
        consortium[name] = {
            "prepared": f"prepared/{name}",
            "n_compounds": n_compounds,
            "n_tasks": n_tasks,
            "accounting": {
                "input_rows": used + merged + sum(rejected.values()),
                "used": used,
                "merged": merged,
                "rejected": rejected,
            },
            "prep_hash": "3f9a1c0d5e7b2a64",
        }
    (folder / "consortium.json").write_text(json.dumps(consortium, indent=2), encoding="utf-8")


def _task_kinds(n_tasks: int) -> list[tuple[str, str, str]]:
    n_cls = max(1, (3 * n_tasks) // 4)
    endpoints = list(ENDPOINTS)
    return [
        (f"task_{t:03d}", "pXC50" if t < n_cls else endpoints[t % len(endpoints)], "auc_pr" if t < n_cls else "rmse")
        for t in range(n_tasks)
    ]


def _metrics(rng: np.random.Generator, n_tasks: int) -> pd.DataFrame:
    rows = []
    for partner, (_, help_) in SYNTHETIC_PARTNERS.items():
        for task, endpoint, metric in _task_kinds(n_tasks):
            gain = 0.02 * help_ + rng.normal(0, 0.02)
            pooled_extra = abs(rng.normal(0.015, 0.01))
            rf_gap = rng.normal(-0.03, 0.03)
            if metric == "auc_pr":
                local = float(np.clip(rng.beta(5, 4), 0.05, 0.98))
                values = {
                    "local": local,
                    "federated": local + gain,
                    "pooled": local + gain + pooled_extra,
                    "rf": local + rf_gap,
                }
                values = {k: float(np.clip(v, 0.01, 0.99)) for k, v in values.items()}
            else:
                local = float(rng.uniform(0.55, 1.1))
                values = {
                    "local": local,
                    "federated": local - gain,
                    "pooled": local - gain - pooled_extra,
                    "rf": local - rf_gap,
                }
            for kind, value in values.items():
                rows.append((partner, task, endpoint, kind, 0, metric, value))
    return pd.DataFrame(rows, columns=["partner", "task", "endpoint", "model_kind", "fold", "metric", "value"])


def _history(rng: np.random.Generator) -> pd.DataFrame:
    rows = []
    for partner, (_, help_) in SYNTHETIC_PARTNERS.items():
        for r in range(1, ROUNDS + 1):
            decay = np.exp(-r / 4)
            rows.append((r, partner, "train_loss", 0.35 + 0.4 * decay + rng.normal(0, 0.01)))
            rows.append((r, partner, "val_auc_pr", 0.62 + 0.01 * help_ - 0.15 * decay + rng.normal(0, 0.005)))
    return pd.DataFrame(rows, columns=["round", "partner", "metric", "value"])


def _leave_one_out(rng: np.random.Generator) -> pd.DataFrame:
    """Each partner's marginal effect on the others (``evaluation/leave_one_out.csv``)."""
    rows = []
    for removed, (_, helps) in SYNTHETIC_PARTNERS.items():
        for partner in SYNTHETIC_PARTNERS:
            if partner == removed:
                continue
            for metric, sign, base in (("auc_pr", 1.0, 0.65), ("rmse", -1.0, 0.9)):
                delta = sign * (0.004 * helps + rng.normal(0, 0.003))
                half = abs(rng.normal(0.006, 0.002))
                row = ("personalised", metric, base + delta, base, delta, delta - half, delta + half, 6)
                rows.append((removed, partner, *row))
    return pd.DataFrame(rows, columns=list(LOO_COLUMNS))


def _folds() -> pd.DataFrame:
    """Each partner's fold scheme and the test-overlap rule's counts (``evaluation/folds.csv``)."""
    rows = []
    for i, (partner, (n_compounds, _)) in enumerate(SYNTHETIC_PARTNERS.items()):
        scheme, seen = ("time", 12) if i == 1 else ("scaffold", 0)
        n_test = n_compounds // 5
        rows.append((partner, scheme, "prepare", 4, n_test, n_test, n_compounds - 2 * n_test, "exclude", seen, seen, 0))
    columns = ["partner", "scheme", "source", "test_fold", "n_test", "n_validation", "n_train", "test_overlap"]
    return pd.DataFrame(rows, columns=[*columns, "n_test_seen_elsewhere", "n_excluded_train", "n_excluded_validation"])


def _endpoints(rng: np.random.Generator, per_endpoint: int | None) -> pd.DataFrame:
    frames = []
    for partner, (n_compounds, _) in SYNTHETIC_PARTNERS.items():
        for endpoint, (mean, sd) in ENDPOINTS.items():
            shift = 1.0 if (partner == "pharma_b" and endpoint == "logD7.4") else 0.0
            values = rng.normal(mean + shift, sd, size=per_endpoint or max(50, n_compounds // 6))
            frames.append(pd.DataFrame({"partner": partner, "endpoint": endpoint, "value": values}))
    return pd.concat(frames, ignore_index=True)


def _write_ledgers(folder: Path) -> None:
    """The federation's ledger and the evaluation's, which records the result files' hashes."""
    federation = Ledger(folder / "federation" / "ledger.sqlite")
    federation.append("run_start", {"config_hash": sha256_file(folder / "config.toml")})
    for name in SYNTHETIC_PARTNERS:
        federation.append("partner", {"partner": name, "manifest_hash": "3f9a1c0d5e7b2a64"})
    for r in range(1, ROUNDS + 1):
        federation.append(
            "round", {"round": r, "participants": sorted(SYNTHETIC_PARTNERS), "aggregate_hash": f"{r:064x}"}
        )
    federation.append("final_model", {"model_hash": "f" * 64})
    federation.append("run_end", {})
    evaluation = Ledger(folder / "evaluation" / "ledger.sqlite")
    evaluation.append("run_start", {"config_hash": sha256_file(folder / "config.toml")})
    files = {name: sha256_file(folder / "evaluation" / f"{name}.csv") for name in ("endpoints", "metrics", "uplift")}
    evaluation.append("evaluation", {"files": files, "federation_ledger_head": federation.head()[1]})
    evaluation.append("run_end", {})


def _coverage(rng: np.random.Generator, n_tasks: int) -> pd.DataFrame:
    rows = []
    for partner, (n_compounds, _) in SYNTHETIC_PARTNERS.items():
        n_test = max(20, n_compounds // 25)
        for task, _, metric in _task_kinds(n_tasks):
            kind = "classification" if metric == "auc_pr" else "regression"
            for confidence in (0.8, 0.9):
                coverage = float(
                    np.clip(confidence + rng.normal(0, np.sqrt(confidence * (1 - confidence) / n_test)), 0, 1)
                )
                if kind == "classification":
                    efficiency = 1.0 + 0.8 * (confidence - 0.75) * rng.uniform(0.8, 1.2)  # mean set size
                else:
                    efficiency = 1.2 * (1 + 3 * (confidence - 0.8)) * rng.uniform(0.8, 1.2)  # interval width
                rows.append((partner, task, confidence, coverage, efficiency, kind, n_test))
    return pd.DataFrame(rows, columns=["partner", "task", "confidence", "coverage", "efficiency", "kind", "n"])


def _domain(rng: np.random.Generator, n_tasks: int) -> pd.DataFrame:
    rows = []
    for partner in SYNTHETIC_PARTNERS:
        for task, _, _ in _task_kinds(n_tasks):
            for decile in range(10):
                similarity = 0.15 + 0.07 * decile + rng.normal(0, 0.01)
                error = 0.9 - 0.6 * similarity + abs(rng.normal(0, 0.05))
                rows.append((partner, task, decile, similarity, error, 8))
    return pd.DataFrame(rows, columns=["partner", "task", "decile", "similarity", "abs_error", "n"])
