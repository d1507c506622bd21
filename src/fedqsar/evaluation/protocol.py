"""The evaluation protocol: local-only vs federated vs personalised vs pooled vs random forest.

No test compound trains anyone: before any fitting, compounds whose keyed structure lies in any
partner's test fold leave every partner's training and validation rows (``evaluation.overlap``;
``EvalConfig.test_overlap``), and folds given for the evaluation replace the partners' own
(``evaluation.sets``). Each partner's fold scheme (scaffold, time, a user split) is per partner.

For every partner and task, on the same test fold number (``TrainConfig.test_fold``)
and with the same training budget (``TrainConfig``: epochs, patience, lr; early stopping and
every model choice on the validation fold only — the test fold is only ever predicted, once,
at the end of each stage, and its labels are read only by the final scoring):

- ``local``: ``model.training.fit`` on the partner's own data (its own trunk and head);
- ``federated``: ``federation.simulation.run_simulation`` (Flower), the global trunk of the
  round the partner selected on its validation fold, with the partner's own head;
- ``personalised``: each federated partner's per-task best of local / federated / fine-tuned,
  chosen on its validation fold (``model.personalise``);
- ``pooled``: one model with every partner's head trained on all the data (upper bound);
- ``rf``: a scikit-learn random forest per task on the same fingerprints and folds.

Outputs (run-folder contract, docs/CONTRACTS.md)::

    evaluation/predictions.parquet  partner, row, task, model_kind, prediction (test fold)
    evaluation/metrics.csv     partner, task, endpoint, model_kind, fold, metric, value
    evaluation/uplift.csv      see evaluation.uplift.UPLIFT_COLUMNS
    evaluation/endpoints.csv   partner, endpoint, value (canonical regression values)
    evaluation/folds.csv       partner, scheme, source, fold sizes, test compounds seen by another
                               partner, rows left out of training (``evaluation.overlap``)
    evaluation/leave_one_out.csv  with ``EvalConfig.leave_one_out`` (``evaluation.leave_one_out``)
    evaluation/prepared/<p>/   the PreparedSets evaluated on, where they differ from the partner's own
    evaluation/timings.csv     stage, partner, seconds
    evaluation/config.toml     model, train, federation and evaluation settings
    evaluation/ledger.sqlite   hash-chained: configs, partner manifests, hashes of the files
                               above and the head of federation/ledger.sqlite

Metrics and intervals can be recomputed from ``predictions.parquet`` without refitting
(``rescore``). Everything is seeded (``TrainConfig.seed``, ``ModelConfig.init_seed``,
``RandomForestConfig.seed``, ``UpliftConfig.seed``); a run is reproduced from its
config.toml and PreparedSets.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import tomli_w

from fedqsar.compatibility import check_manifests
from fedqsar.config import config_hash, to_dict
from fedqsar.errors import ConfigError
from fedqsar.evaluation.config import EvalConfig
from fedqsar.evaluation.intervals import small_task_intervals
from fedqsar.evaluation.leave_one_out import LOO_DIR, leave_one_out
from fedqsar.evaluation.predictions import read_predictions, write_predictions
from fedqsar.evaluation.scoring import score
from fedqsar.evaluation.sets import evaluation_sets
from fedqsar.evaluation.stages import STAGES, EvaluationRun, Predictions, stage_order
from fedqsar.evaluation.uplift import uplift_table, write_uplift
from fedqsar.federation.config import FederationConfig
from fedqsar.hashing import hash_json, sha256_file
from fedqsar.ledger import Ledger, verify
from fedqsar.model.config import ModelConfig, TrainConfig
from fedqsar.model.endpoints import with_consortium_endpoints
from fedqsar.prepared import PreparedSet
from fedqsar.progress import Progress, or_silent
from fedqsar.versions import write_versions

EVALUATION_DIR = "evaluation"


@dataclass
class ProtocolResult:
    """What ``run_protocol`` produced (also written under ``out/evaluation``)."""

    out: Path
    metrics: pd.DataFrame
    uplift: pd.DataFrame
    timings: pd.DataFrame
    files: dict[str, Path] = field(default_factory=dict)
    folders: dict[str, Path] = field(default_factory=dict)
    """The PreparedSets evaluated on (``evaluation.sets``: the partners' own, or their evaluation copies)."""


def metrics_table(
    prepared: Mapping[str, PreparedSet],
    test_rows: Mapping[str, np.ndarray],
    predictions: Predictions,
    test_fold: int,
    cfg: EvalConfig,
) -> pd.DataFrame:
    """Long metrics of every (partner, model kind) prediction on the test fold (the only read of its labels)."""
    parts = [
        score(prepared[name], test_rows[name], prediction, name, kind, test_fold, cfg)
        for (name, kind), prediction in sorted(predictions.items())
    ]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def endpoint_values(prepared: Mapping[str, PreparedSet]) -> pd.DataFrame:
    """Canonical values of every regression task, long: partner, endpoint, value."""
    parts = []
    for name, p in prepared.items():
        tasks = p.tasks_sorted
        Y = p.Y.tocsc()
        for column, (endpoint, kind) in enumerate(zip(tasks["endpoint"].astype(str), tasks["kind"], strict=True)):
            if kind != "regression":
                continue
            values = Y.data[Y.indptr[column] : Y.indptr[column + 1]]
            parts.append(pd.DataFrame({"partner": name, "endpoint": endpoint, "value": values.astype(float)}))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["partner", "endpoint", "value"])


def _write(out: Path, result_tables: dict[str, pd.DataFrame], configs: dict[str, object]) -> dict[str, Path]:
    folder = out / EVALUATION_DIR
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for name, table in result_tables.items():
        path = folder / f"{name}.csv"
        if name == "uplift":
            write_uplift(table, path)
        else:
            table.to_csv(path, index=False)
        files[name] = path
    files["config"] = folder / "config.toml"
    files["config"].write_text(tomli_w.dumps({k: to_dict(v) for k, v in configs.items()}), encoding="utf-8")
    files["versions"] = write_versions(folder)
    return files


def _record(out: Path, files: dict[str, Path], configs: dict[str, object], prepared: Mapping[str, PreparedSet]) -> Path:
    """Write ``evaluation/ledger.sqlite``: configs, partners' manifests, result hashes.

    The federation's own ledger (``federation/ledger.sqlite``, written only by the server)
    is left untouched; its head hash is recorded here, chaining the two.
    """
    path = out / "evaluation" / "ledger.sqlite"
    ledger = Ledger(path)
    ledger.append(
        "run_start",
        {
            "config_hash": hash_json({k: to_dict(v) for k, v in sorted(configs.items())}),
            "config_hashes": {k: config_hash(v) for k, v in sorted(configs.items())},
        },
    )
    for name, p in sorted(prepared.items()):
        ledger.append(
            "partner",
            {
                "partner": name,
                "manifest_hash": hash_json(p.manifest.to_dict()),
                "prep_hash": p.manifest.prep_hash,
            },
        )
    federation = out / "federation" / "ledger.sqlite"
    ledger.append(
        "evaluation",
        {
            "files": {file.relative_to(out).as_posix(): sha256_file(file) for _, file in sorted(files.items())},
            "federation_ledger_head": verify(federation).head_hash if federation.is_file() else None,
        },
    )
    ledger.append("run_end", {})
    return path


def run_protocol(
    partners: Mapping[str, Path],
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    fed_cfg: FederationConfig,
    eval_cfg: EvalConfig,
    out: Path,
    progress: Progress | None = None,
) -> ProtocolResult:
    """Train every model kind of ``eval_cfg``, score them on each partner's test fold, write the results.

    Parameters
    ----------
    partners
        Partner name -> PreparedSet folder (all prepared with the same settings and key).
    out
        Run folder; results go to ``out/evaluation``, the federation to ``out/federation``.
    progress
        ``fedqsar.progress.Progress``, called as ``progress(stage, done, total, detail)`` per stage.

    Raises
    ------
    ConfigError
        If ``train_cfg.test_fold`` is None (there is nothing to evaluate on), or ``out``
        already holds a finished evaluation.
    IncompatiblePartnersError
        If the partners' PreparedSets may not be combined (``fedqsar.compatibility``: prep
        settings, consortium key id, fingerprint width, format version).
    """
    if train_cfg.test_fold is None:
        raise ConfigError(
            "TrainConfig.test_fold is None: no held-out fold to evaluate on", "set train.test_fold (e.g. 4)"
        )
    report = or_silent(progress)
    out = Path(out)
    if (out / "evaluation" / "ledger.sqlite").exists():
        raise ConfigError(
            f"{out} already holds an evaluation (evaluation/ledger.sqlite is closed)",
            "evaluate into a new run folder; a finished run is never overwritten",
        )
    folders = {name: Path(folder) for name, folder in sorted(partners.items())}
    prepared = {name: PreparedSet.load(folder) for name, folder in folders.items()}
    check_manifests({n: p.manifest for n, p in prepared.items()}, {n: p.n_bits for n, p in prepared.items()})
    model_cfg = with_consortium_endpoints(model_cfg, [p.tasks for p in prepared.values()])
    test_fold = int(train_cfg.test_fold)
    sets = evaluation_sets(
        prepared,
        folders,
        out,
        test_fold=test_fold,
        validation_fold=train_cfg.validation_fold,
        policy=eval_cfg.test_overlap,
        split_file=eval_cfg.split_file,
        fold_column=eval_cfg.fold_column,
    )
    folders, prepared = sets.folders, sets.prepared
    report("folds", len(prepared), len(prepared), _folds_note(sets.folds))
    run = EvaluationRun(
        prepared,
        folders,
        out,
        model_cfg,
        train_cfg,
        fed_cfg,
        eval_cfg,
        report,
        test_rows={n: p.rows_in([test_fold]) for n, p in prepared.items()},
    )
    tuned_files = _tune(run) if eval_cfg.tuning.n_trials > 0 else {}
    for stage in stage_order(eval_cfg.model_kinds):
        STAGES[stage](run)
    (out / EVALUATION_DIR).mkdir(parents=True, exist_ok=True)
    predictions_file = write_predictions(out / EVALUATION_DIR, prepared, run.test_rows, run.predictions)
    extra_tables: dict[str, pd.DataFrame] = {"folds": sets.folds}
    if eval_cfg.leave_one_out:
        report("leave_one_out", 0, len(prepared), f"{len(prepared)} federations without one partner each")
        extra_tables["leave_one_out"], loo_predictions = leave_one_out(run)
        write_predictions(out / LOO_DIR, prepared, run.test_rows, loo_predictions)
    report("uplift", 0, 1, "bootstrap")
    started = time.perf_counter()
    metrics, uplift = score_predictions(prepared, run.test_rows, run.predictions, test_fold, eval_cfg)
    run.timings.append(("uplift", "all", time.perf_counter() - started))
    timings = pd.DataFrame(run.timings, columns=["stage", "partner", "seconds"])
    configs = {"model": model_cfg, "train": train_cfg, "federation": fed_cfg, "evaluation": eval_cfg}
    tables = {
        "metrics": metrics,
        "uplift": uplift,
        "endpoints": endpoint_values(prepared),
        "timings": timings,
        **extra_tables,
    }
    files = {"predictions": predictions_file, **tuned_files, **_write(out, tables, configs)}
    files["ledger"] = _record(out, files, configs, prepared)
    return ProtocolResult(out, metrics, uplift, timings, files, dict(folders))


def _folds_note(folds: pd.DataFrame) -> str:
    """One line on each partner's fold scheme and the test-overlap rule's effect."""
    return "; ".join(
        f"{row.partner}: {row.scheme} folds, {row.n_test} test compounds ({row.n_test_seen_elsewhere} also in another "
        f"partner's training/validation rows), {row.n_excluded_train + row.n_excluded_validation} rows left out of "
        "training/validation"
        for row in folds.itertuples()
    )


def _tune(run: EvaluationRun) -> dict[str, Path]:
    """Per-run search (``EvalConfig.tuning``): chosen settings into ``run.tuned`` and ``evaluation/tuned/``."""
    from fedqsar.evaluation.tuning import tune_kinds, write_tuned

    started = time.perf_counter()
    base = (run.model_cfg, run.train_cfg, run.fed_cfg)
    run.tuned, trials = tune_kinds(
        run.prepared, run.folders, base, run.eval_cfg.model_kinds, run.eval_cfg.tuning, run.progress
    )
    paths = write_tuned(run.out / EVALUATION_DIR / "tuned", list(run.tuned.values()), trials)
    run.timings.append(("tuning", "all", time.perf_counter() - started))
    return {f"tuned/{path.name}": path for path in paths}


def score_predictions(
    prepared: Mapping[str, PreparedSet],
    test_rows: Mapping[str, np.ndarray],
    predictions: Predictions,
    test_fold: int,
    cfg: EvalConfig,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Metrics table and uplift table (with small-task compound intervals) of test-fold predictions."""
    metrics = metrics_table(prepared, test_rows, predictions, test_fold, cfg)
    intervals = small_task_intervals(prepared, test_rows, predictions, metrics, cfg)
    return metrics, uplift_table(metrics, cfg.uplift, intervals)


def rescore(
    out: Path, partners: Mapping[str, Path], cfg: EvalConfig, test_fold: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Recompute metrics and uplift (e.g. with other bootstrap settings) from ``out/evaluation/predictions.parquet``."""
    prepared = {name: PreparedSet.load(Path(folder)) for name, folder in sorted(partners.items())}
    test_rows, predictions = read_predictions(Path(out) / EVALUATION_DIR, prepared)
    return score_predictions(prepared, test_rows, predictions, test_fold, cfg)
