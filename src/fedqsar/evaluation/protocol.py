"""The evaluation protocol: local-only vs federated vs pooled vs random forest, per partner.

For every partner and task, on the same keyed-scaffold test fold (``TrainConfig.test_fold``)
and with the same training budget (``TrainConfig``: epochs, patience, lr; early stopping on
the validation fold only — the test fold is only ever predicted, once, at the end):

- ``local``: ``model.training.fit`` on the partner's own data (its own trunk and head);
- ``federated``: ``federation.simulation.run_simulation`` (Flower), final global trunk with
  the partner's own head;
- ``pooled``: one model with every partner's head trained on all the data (upper bound);
- ``rf``: a scikit-learn random forest per task on the same fingerprints and folds.

Outputs (run-folder contract, docs/CONTRACTS.md)::

    evaluation/metrics.csv     partner, task, endpoint, model_kind, fold, metric, value
    evaluation/uplift.csv      see evaluation.uplift.UPLIFT_COLUMNS
    evaluation/endpoints.csv   partner, endpoint, value (canonical regression values)
    evaluation/timings.csv     stage, partner, seconds
    evaluation/config.toml     model, train, federation and evaluation settings
    evaluation/ledger.sqlite   hash-chained: configs, partner manifests, hashes of the files
                               above and the head of federation/ledger.sqlite

Everything is seeded (``TrainConfig.seed``, ``ModelConfig.init_seed``, ``RandomForestConfig.seed``,
``UpliftConfig.seed``); a run is reproduced from its config.toml and PreparedSets.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import tomli_w

from fedqsar.config import config_hash, to_dict
from fedqsar.errors import ConfigError, ManifestMismatchError
from fedqsar.evaluation.baselines import random_forest_predictions
from fedqsar.evaluation.config import EvalConfig
from fedqsar.evaluation.pooled import fit_pooled
from fedqsar.evaluation.scoring import score
from fedqsar.evaluation.uplift import compound_bootstrap, uplift_table, write_uplift
from fedqsar.federation.config import FederationConfig
from fedqsar.ledger import Ledger, hash_file, hash_json, verify
from fedqsar.model.config import ModelConfig, TrainConfig
from fedqsar.model.metrics import classification_metrics, regression_metrics
from fedqsar.model.network import HeadSpec, MultitaskModel
from fedqsar.model.predict import predict
from fedqsar.model.training import fit
from fedqsar.prepared import PreparedSet

Progress = Callable[[str, str], None]
Predictions = dict[tuple[str, str], np.ndarray]  # (partner, model_kind) -> (n_test, n_tasks)


@dataclass
class ProtocolResult:
    """What ``run_protocol`` produced (also written under ``out/evaluation``)."""

    out: Path
    metrics: pd.DataFrame
    uplift: pd.DataFrame
    timings: pd.DataFrame
    files: dict[str, Path] = field(default_factory=dict)


@dataclass
class _Run:
    prepared: dict[str, PreparedSet]
    test_rows: dict[str, np.ndarray]
    train_cfg: TrainConfig
    predictions: Predictions = field(default_factory=dict)
    timings: list[tuple[str, str, float]] = field(default_factory=list)


def _check_same_preparation(prepared: Mapping[str, PreparedSet]) -> None:
    hashes = {name: p.manifest.get("prep_hash") for name, p in prepared.items()}
    if len(set(hashes.values())) > 1:
        raise ManifestMismatchError(
            f"partners were prepared with different settings: {hashes}",
            "prepare every partner with the same PrepConfig and key (fedqsar manifest-diff)",
        )


def _train_local(run: _Run, model_cfg: ModelConfig, progress: Progress) -> None:
    for name, prepared in run.prepared.items():
        progress("local", name)
        started = time.perf_counter()
        model = MultitaskModel(prepared.n_bits, model_cfg, {name: HeadSpec.from_tasks(prepared.tasks)})
        fit(model, name, prepared, run.train_cfg)
        run.predictions[(name, "local")] = predict(model, name, prepared.X[run.test_rows[name]])
        run.timings.append(("local", name, time.perf_counter() - started))


def _train_pooled(run: _Run, model_cfg: ModelConfig, progress: Progress) -> None:
    progress("pooled", "all partners")
    started = time.perf_counter()
    result = fit_pooled(run.prepared, model_cfg, run.train_cfg)
    for name, prepared in run.prepared.items():
        run.predictions[(name, "pooled")] = predict(result.model, name, prepared.X[run.test_rows[name]])
    run.timings.append(("pooled", "all", time.perf_counter() - started))


def _train_federated(
    run: _Run,
    folders: Mapping[str, Path],
    model_cfg: ModelConfig,
    fed_cfg: FederationConfig,
    out: Path,
    progress: Progress,
) -> None:
    from fedqsar.federation.simulation import run_simulation
    from fedqsar.model.io import load_model

    progress("federated", f"{fed_cfg.rounds} rounds")
    started = time.perf_counter()
    federated = run_simulation(
        folders,
        model_cfg,
        run.train_cfg,
        fed_cfg,
        out / "federation",
        progress=lambda r, n: progress("federated", f"round {r}/{n}"),
    )
    for name, prepared in run.prepared.items():
        saved = load_model(federated.selected_models.get(name, federated.partner_models[name]))
        run.predictions[(name, "federated")] = predict(saved.model, saved.partner, prepared.X[run.test_rows[name]])
    run.timings.append(("federated", "all", time.perf_counter() - started))


def _train_rf(run: _Run, cfg: EvalConfig, progress: Progress) -> None:
    for name, prepared in run.prepared.items():
        progress("rf", name)
        started = time.perf_counter()
        train_rows = np.flatnonzero(~np.isin(prepared.folds, run.train_cfg.held_out_folds))
        run.predictions[(name, "rf")] = random_forest_predictions(prepared, train_rows, run.test_rows[name], cfg.rf)
        run.timings.append(("rf", name, time.perf_counter() - started))


def metrics_table(run: _Run, cfg: EvalConfig) -> pd.DataFrame:
    """Long metrics of every (partner, model kind) prediction on the test fold."""
    test_fold = int(run.train_cfg.test_fold)  # type: ignore[arg-type]
    parts = [
        score(run.prepared[name], run.test_rows[name], prediction, name, kind, test_fold, cfg)
        for (name, kind), prediction in sorted(run.predictions.items())
    ]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


METRIC_FUNCTIONS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "auc_pr": lambda y, p: classification_metrics(y, p)["auc_pr"],
    "rmse": lambda y, p: regression_metrics(y, p, np.zeros(len(y)))["rmse"],
}


def single_task_intervals(
    run: _Run, metrics: pd.DataFrame, cfg: EvalConfig
) -> dict[tuple[str, str, str], tuple[float, float]]:
    """Per-compound bootstrap intervals where a partner has one counted task for a metric."""
    out: dict[tuple[str, str, str], tuple[float, float]] = {}
    if cfg.compound_bootstrap <= 0 or metrics.empty:
        return out
    for (partner, metric), group in metrics[metrics["metric"].isin(list(METRIC_FUNCTIONS))].groupby(
        ["partner", "metric"]
    ):
        tasks = sorted(group["task"].unique())
        if len(tasks) != 1:
            continue
        for challenger, reference in cfg.uplift.comparisons:
            if (partner, challenger) in run.predictions and (partner, reference) in run.predictions:
                out[(partner, metric, f"{challenger}_vs_{reference}")] = _task_interval(
                    run, partner, tasks[0], metric, challenger, reference, cfg
                )
    return out


def _task_interval(
    run: _Run, partner: str, task: str, metric: str, challenger: str, reference: str, cfg: EvalConfig
) -> tuple[float, float]:
    prepared = run.prepared[partner]
    column = int(np.flatnonzero(prepared.tasks.sort_values("task_id")["task_name"].astype(str).to_numpy() == task)[0])
    rows = run.test_rows[partner]
    y = prepared.Y[rows].tocsc()[:, column]
    censor = prepared.censor[rows].tocsc()[:, column]
    observed = y.indices[censor.data == 0] if metric == "rmse" else y.indices
    values = y.toarray().ravel()[observed]
    return compound_bootstrap(
        values,
        run.predictions[(partner, challenger)][observed, column],
        run.predictions[(partner, reference)][observed, column],
        np.zeros(len(observed), dtype=np.int64),
        observed,
        METRIC_FUNCTIONS[metric],
        n_bootstrap=cfg.compound_bootstrap,
        confidence=cfg.uplift.confidence,
        seed=cfg.uplift.seed,
    )


def endpoint_values(prepared: Mapping[str, PreparedSet]) -> pd.DataFrame:
    """Canonical values of every regression task, long: partner, endpoint, value."""
    parts = []
    for name, p in prepared.items():
        tasks = p.tasks.sort_values("task_id").reset_index(drop=True)
        Y = p.Y.tocsc()
        for column, (endpoint, kind) in enumerate(zip(tasks["endpoint"].astype(str), tasks["kind"])):
            if kind != "regression":
                continue
            values = Y.data[Y.indptr[column] : Y.indptr[column + 1]]
            parts.append(pd.DataFrame({"partner": name, "endpoint": endpoint, "value": values.astype(float)}))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["partner", "endpoint", "value"])


def _write(out: Path, result_tables: dict[str, pd.DataFrame], configs: dict[str, object]) -> dict[str, Path]:
    folder = out / "evaluation"
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
    return files


def _record(out: Path, files: dict[str, Path], configs: dict[str, object], prepared: Mapping[str, PreparedSet]) -> Path:
    """Write ``evaluation/ledger.sqlite``: configs, partners' manifests, result hashes.

    The federation's own ledger (``federation/ledger.sqlite``, written only by the server)
    is left untouched; its head hash is recorded here, chaining the two.
    """
    from fedqsar.model.io import manifest_hash

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
                "manifest_hash": manifest_hash(p.manifest),
                "prep_hash": str(p.manifest.get("prep_hash", "")),
            },
        )
    federation = out / "federation" / "ledger.sqlite"
    ledger.append(
        "evaluation",
        {
            "files": {name: hash_file(file) for name, file in sorted(files.items())},
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
        Called as ``progress(stage, detail)``.

    Raises
    ------
    ConfigError
        If ``train_cfg.test_fold`` is None (there is nothing to evaluate on), or ``out``
        already holds a finished evaluation.
    ManifestMismatchError
        If the partners' PreparedSets were prepared with different settings.
    """
    if train_cfg.test_fold is None:
        raise ConfigError(
            "TrainConfig.test_fold is None: no held-out fold to evaluate on", "set train.test_fold (e.g. 4)"
        )
    report = progress or (lambda stage, detail: None)
    out = Path(out)
    if (out / "evaluation" / "ledger.sqlite").exists():
        raise ConfigError(
            f"{out} already holds an evaluation (evaluation/ledger.sqlite is closed)",
            "evaluate into a new run folder; a finished run is never overwritten",
        )
    folders = {name: Path(folder) for name, folder in partners.items()}
    prepared = {name: PreparedSet.load(folder) for name, folder in sorted(folders.items())}
    _check_same_preparation(prepared)
    run = _Run(prepared, {n: p.rows_in_folds([train_cfg.test_fold]) for n, p in prepared.items()}, train_cfg)
    stages: dict[str, Callable[[], None]] = {
        "local": lambda: _train_local(run, model_cfg, report),
        "federated": lambda: _train_federated(run, folders, model_cfg, fed_cfg, out, report),
        "pooled": lambda: _train_pooled(run, model_cfg, report),
        "rf": lambda: _train_rf(run, eval_cfg, report),
    }
    for kind in eval_cfg.model_kinds:
        stages[kind]()
    report("uplift", "bootstrap")
    started = time.perf_counter()
    metrics = metrics_table(run, eval_cfg)
    uplift = uplift_table(metrics, eval_cfg.uplift, single_task_intervals(run, metrics, eval_cfg))
    run.timings.append(("uplift", "all", time.perf_counter() - started))
    timings = pd.DataFrame(run.timings, columns=["stage", "partner", "seconds"])
    configs = {"model": model_cfg, "train": train_cfg, "federation": fed_cfg, "evaluation": eval_cfg}
    tables = {"metrics": metrics, "uplift": uplift, "endpoints": endpoint_values(prepared), "timings": timings}
    files = _write(out, tables, configs)
    files["ledger"] = _record(out, files, configs, prepared)
    return ProtocolResult(out, metrics, uplift, timings, files)
