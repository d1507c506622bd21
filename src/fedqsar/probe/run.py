"""``run_probe``: what would joining the consortium give this candidate, on its own data?

On the candidate's machine, with its PreparedSet and the consortium's published trunk
(``model.trunk_file``), three models are trained by the one ``Trainer`` with the same early
stopping (``run_fit``, validation fold only) and the budget the consortium's evaluation uses
(``TrainConfig`` for local training, ``PersonalisationConfig`` for fine-tuning — both from the
trunk record unless the candidate overrides them):

(a) ``head_on_trunk``: the candidate's own head on the frozen consortium trunk
    (``fine_tune`` stage 1) — what a member's federated model is;
(b) ``fine_tuned``: (a) then trunk + head together (``fine_tune`` stage 2) — personalisation;
(c) ``local``: the local-only model trained from scratch (``model.training.fit``).

A trunk federated under the bit-privacy defence ``private_input`` (the default) holds no
first layer: every member keeps its own (``ConsortiumTrunk.partner_tensors``). The candidate
then starts its own first layer exactly as a federating member does — the network seeded by
the record's ``model_config.init_seed`` — and (a) trains that first layer and its head with
the published layers frozen, on the local training budget (``TrainConfig``: a first layer
from its initial values is a full training, not a head fit); (b) fine-tunes everything.

and (d) ``joined``: per task, the best of (c) / (a) / (b) on validation
(``model.personalise.select_per_task`` with the consortium's ``min_confidence``: the rule a
member's personalised model follows).
Choosing and scoring on the same rows would flatter (d), so it is *cross-fitted*: the
validation fold is split in two seeded halves, each half is predicted by the selection made
on the other half.

All four are compared on the candidate's validation fold (``TrainConfig.validation_fold``;
with time folds, the second newest period), per task and per partner mean, with bootstrap
intervals (``evaluation.uplift`` / ``evaluation.intervals``: over tasks with >= 5 tasks,
over compounds otherwise). The test fold is never read. The verdict (``probe.verdict``)
comes from (d) against (c). Nothing is sent anywhere.

Outputs in ``out``: ``probe.json`` (verdict, folds, provenance, settings, timings),
``probe_summary.csv`` (uplift columns, one row per metric and comparison),
``probe_tasks.csv`` (per task), ``probe.html`` (a self-contained page).
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fedqsar.config import from_dict, to_dict
from fedqsar.errors import ConfigError, KeyMismatchError
from fedqsar.evaluation.config import EvalConfig
from fedqsar.evaluation.intervals import compound_interval, small_task_intervals
from fedqsar.evaluation.scoring import score
from fedqsar.evaluation.uplift import uplift_table
from fedqsar.model.config import TrainConfig
from fedqsar.model.inputs import ModelInputs
from fedqsar.model.network import HeadSpec, MultitaskModel
from fedqsar.model.personalise import PersonalisationConfig, TaskSelection, fine_tune, select_per_task
from fedqsar.model.predict import predict
from fedqsar.model.training import FitResult, Trainer, fit, run_fit
from fedqsar.model.trunk_file import ConsortiumTrunk, check_fits, read_trunk
from fedqsar.prep.keys import ConsortiumKey
from fedqsar.prepared import PreparedSet
from fedqsar.probe.verdict import Verdict, verdict_of
from fedqsar.progress import Progress, or_silent

KINDS = ("local", "head_on_trunk", "fine_tuned", "joined")
DECIDING = "joined_vs_local"
COMPARISONS = (("joined", "local"), ("fine_tuned", "local"), ("head_on_trunk", "local"))
PROBE_FILE, SUMMARY_FILE, TASKS_FILE, PAGE_FILE = "probe.json", "probe_summary.csv", "probe_tasks.csv", "probe.html"

PROBE_STAGES = ("head_on_trunk", "fine_tuned", "local", "joined", "compare")  # progress stages, in order


@dataclass(frozen=True)
class ProbeConfig:
    """Settings of a probe (written into ``probe.json``).

    Attributes
    ----------
    train
        Local training settings; ``None``: the consortium's (from the trunk record).
    personalisation
        Fine-tuning settings; ``None``: the consortium's.
    evaluation
        Quorums per task on the validation fold and bootstrap settings (``EvalConfig``).
    negligible_riptop
        A gain whose interval's upper end is below this share of the way to a perfect model
        counts as negligible (see ``probe.verdict``).
    """

    train: TrainConfig | None = None
    personalisation: PersonalisationConfig | None = None
    evaluation: EvalConfig = field(default_factory=EvalConfig)
    negligible_riptop: float = 0.01


@dataclass
class ProbeResult:
    """What the probe found (also written into ``out``)."""

    out: Path
    candidate: str
    verdict: Verdict
    summary: pd.DataFrame
    tasks: pd.DataFrame
    record: dict[str, Any]


def _check_key(key: ConsortiumKey, trunk: ConsortiumTrunk, prepared: PreparedSet, where: Path) -> None:
    if key.key_id != trunk.key_id:
        raise KeyMismatchError(
            f"the key file's id {key.key_id} is not the consortium's key id {trunk.key_id}",
            "pass --key the consortium key file the members prepared their data with",
        )
    if prepared.manifest.key_id != key.key_id:
        raise KeyMismatchError(
            f"{where} was prepared with key id {prepared.manifest.key_id}, not with this key ({key.key_id})",
            "re-run `fedqsar prepare --key` with the consortium key on your data",
        )


def _settings(trunk: ConsortiumTrunk, config: ProbeConfig) -> tuple[TrainConfig, PersonalisationConfig]:
    train = config.train or trunk.train_cfg
    if train.validation_fold is None:
        raise ConfigError("the probe needs a validation fold", "set train.validation_fold")
    if config.personalisation is not None:
        return train, config.personalisation
    return train, from_dict(PersonalisationConfig, trunk.personalisation, where="trunk personalisation_config")


def _candidate_model(trunk: ConsortiumTrunk, name: str, prepared: PreparedSet) -> MultitaskModel:
    """The network of the consortium's shape for the candidate's tasks (and descriptor block, if it reads one)."""
    heads = {name: HeadSpec.from_tasks(prepared.tasks)}
    return MultitaskModel(prepared.n_bits, trunk.model_cfg, heads, len(prepared.descriptor_names))


def _consortium_model(trunk: ConsortiumTrunk, name: str, prepared: PreparedSet) -> MultitaskModel:
    """The candidate's model on the published trunk; the partners' own tensors as a member starts them.

    ``MultitaskModel`` seeds its trunk with ``model_cfg.init_seed`` (the consortium's), so the
    tensors the file lacks (``partner_tensors``) hold the values every member started from.
    """
    model = _candidate_model(trunk, name, prepared)
    model.load_trunk_state(trunk.state, exclude=trunk.partner_tensors)
    return model


def _fit_on_trunk(
    model: MultitaskModel,
    name: str,
    prepared: PreparedSet,
    trunk: ConsortiumTrunk,
    train_cfg: TrainConfig,
    personal: PersonalisationConfig,
) -> FitResult | None:
    """Stage (a): the head (and the candidate's own trunk tensors, if any) on the frozen published layers."""
    if not trunk.partner_tensors:
        return fine_tune(model, name, prepared, train_cfg, replace(personal, full_epochs=0)).head_stage
    trainer = Trainer(model, {name: prepared}, train_cfg, frozen=tuple(trunk.state))
    return run_fit(trainer, include_start=True)


def _cross_fitted(
    candidates: dict[str, MultitaskModel],
    name: str,
    prepared: PreparedSet,
    rows: np.ndarray,
    seed: int,
    min_confidence: float | None,
) -> tuple[np.ndarray, list[TaskSelection]]:
    """Predictions (len(rows), n_tasks) of the per-task selection, each half chosen on the other half.

    The selection is the personalisation's own rule (``select_per_task`` with the consortium's
    ``min_confidence``), made on one half of the validation rows.
    """
    order = np.random.default_rng([seed, 1312]).permutation(len(rows))
    halves = (np.sort(order[: len(rows) // 2]), np.sort(order[len(rows) // 2 :]))
    out = np.zeros((len(rows), prepared.n_tasks), dtype=np.float32)
    selections = []
    for scored, chosen_on in (halves, halves[::-1]):
        selection = select_per_task(candidates, name, prepared, rows[chosen_on], min_confidence, seed=seed)
        out[scored] = selection.predict(ModelInputs.of(prepared).rows(rows[scored]))
        selections.append(selection)
    return out, selections


def _per_task(
    prepared: PreparedSet,
    rows: np.ndarray,
    predictions: dict[str, np.ndarray],
    metrics: pd.DataFrame,
    eval_cfg: EvalConfig,
) -> pd.DataFrame:
    """Per task: each kind's metric, joined - local and its compound-bootstrap interval."""
    kinds = prepared.tasks_sorted.set_index("task_name")["kind"]
    main = {"classification": "auc_pr", "regression": "rmse"}
    records = []
    for task in sorted(metrics["task"].astype(str).unique()):
        metric = main[str(kinds[task])]
        values = metrics[(metrics["task"] == task) & (metrics["metric"] == metric)].set_index("model_kind")["value"]
        if not all(kind in values.index for kind in KINDS):
            continue
        low, high = compound_interval(
            prepared, rows, predictions["joined"], predictions["local"], [task], metric, eval_cfg
        )
        counts = metrics[(metrics["task"] == task) & (metrics["model_kind"] == "local")].set_index("metric")["value"]
        records.append(
            {
                "task": task,
                "kind": str(kinds[task]),
                "metric": metric,
                **{kind: float(values[kind]) for kind in KINDS},
                "delta": float(values["joined"] - values["local"]),
                "ci_low": low,
                "ci_high": high,
                "n": int(counts.get("n", 0)),
            }
        )
    columns = ["task", "kind", "metric", *KINDS, "delta", "ci_low", "ci_high", "n"]
    return pd.DataFrame(records, columns=columns)


def _summary(uplift: pd.DataFrame, metrics: pd.DataFrame) -> pd.DataFrame:
    """Uplift rows with the challenger's own mean (``challenger``) added."""
    out = uplift.drop(columns=["federated", "personalised", "pooled", "rf", "recovered_share"], errors="ignore").copy()
    out.insert(out.columns.get_loc("local") + 1, "challenger", out["local"] + out["delta_abs"])
    return out.reset_index(drop=True)


def run_probe(
    trunk_path: Path,
    prepared_folder: Path,
    key: ConsortiumKey,
    out: Path,
    config: ProbeConfig = ProbeConfig(),
    progress: Progress | None = None,
) -> ProbeResult:
    """Probe the consortium trunk at ``trunk_path`` with the PreparedSet in ``prepared_folder``.

    Parameters
    ----------
    trunk_path
        The trunk folder ``fedqsar federate`` writes (``RUN/trunk/``), its JSON or its weights.
    prepared_folder
        The candidate's PreparedSet (its folder name is the candidate's name).
    key
        The consortium key the candidate prepared with.
    out
        Folder for ``probe.json``, ``probe_summary.csv``, ``probe_tasks.csv``, ``probe.html``.

    Raises
    ------
    CorruptArtefactError, ChecksumError, ModelFileError
        The trunk is unreadable, or its weights' sha256 differs from its record.
    IncompatiblePartnersError, KeyMismatchError
        The PreparedSet's prep hash, fingerprint width or key id differs from the trunk's, or the
        key given is not the consortium's or not the one the PreparedSet was made with.
    """
    say = or_silent(progress)
    started = time.perf_counter()
    clock: dict[str, float] = {}
    trunk = read_trunk(trunk_path)
    prepared_folder = Path(prepared_folder)
    prepared = PreparedSet.load(prepared_folder)
    check_fits(trunk, prepared.manifest, prepared.n_bits, str(prepared_folder))
    _check_key(key, trunk, prepared, prepared_folder)
    name = prepared_folder.resolve().name
    train_cfg, personal = _settings(trunk, config)
    rows = prepared.rows_in([train_cfg.validation_fold])

    def timed(stage: str, work: Callable[[], Any]) -> Any:
        say(stage, len(clock), len(PROBE_STAGES), name)
        begin = time.perf_counter()
        value = work()
        clock[stage] = time.perf_counter() - begin
        return value

    head = _consortium_model(trunk, name, prepared)
    head_fit = timed("head_on_trunk", lambda: _fit_on_trunk(head, name, prepared, trunk, train_cfg, personal))
    tuned = copy.deepcopy(head)
    full_fit = timed(
        "fine_tuned", lambda: fine_tune(tuned, name, prepared, train_cfg, replace(personal, head_epochs=0))
    )
    local = _candidate_model(trunk, name, prepared)
    local_fit = timed("local", lambda: fit(local, name, prepared, train_cfg))
    candidates = {"local": local, "federated": head, "fine_tuned": tuned}
    X = ModelInputs.of(prepared).rows(rows)  # what the trunk reads: fingerprints, descriptors, structures
    predictions = {"local": predict(local, name, X), "head_on_trunk": predict(head, name, X)}
    predictions["fine_tuned"] = predict(tuned, name, X)
    predictions["joined"], selections = timed(
        "joined", lambda: _cross_fitted(candidates, name, prepared, rows, train_cfg.seed, personal.min_confidence)
    )

    say("compare", len(clock), len(PROBE_STAGES), "bootstrap intervals")
    begin = time.perf_counter()
    eval_cfg = replace(
        config.evaluation, uplift=replace(config.evaluation.uplift, comparisons=COMPARISONS, include_all_partners=False)
    )
    fold = int(train_cfg.validation_fold)
    metrics = pd.concat(
        [score(prepared, rows, predictions[kind], name, kind, fold, eval_cfg) for kind in KINDS], ignore_index=True
    )
    keyed = {(name, kind): value for kind, value in predictions.items()}
    intervals = small_task_intervals({name: prepared}, {name: rows}, keyed, metrics, eval_cfg)
    summary = _summary(uplift_table(metrics, eval_cfg.uplift, intervals), metrics) if len(metrics) else pd.DataFrame()
    tasks = _per_task(prepared, rows, predictions, metrics, eval_cfg) if len(metrics) else pd.DataFrame()
    clock["compare"] = time.perf_counter() - begin
    verdict = verdict_of(summary, DECIDING, config.negligible_riptop)
    clock["total"] = time.perf_counter() - started
    record = _record(name, prepared, trunk, train_cfg, personal, config, verdict, rows, clock)
    record["stages"] = {
        "head_on_trunk": _stage(head_fit) | {"trained": ["head", *trunk.partner_tensors]},
        "fine_tuned": _stage(full_fit.full_stage),
        "local": {"best_epoch": local_fit.best_epoch, "epochs_run": len(local_fit.history)},
        "joined_choices": [selection.counts() for selection in selections],
    }
    _write(Path(out), record, summary, tasks)
    return ProbeResult(Path(out), name, verdict, summary, tasks, record)


def _stage(stage: Any) -> dict[str, Any]:
    if stage is None:
        return {"epochs_run": 0}
    return {"best_epoch": int(stage.best_epoch), "epochs_run": len(stage.history)}


def _record(
    name: str,
    prepared: PreparedSet,
    trunk: ConsortiumTrunk,
    train_cfg: TrainConfig,
    personal: PersonalisationConfig,
    config: ProbeConfig,
    verdict: Verdict,
    rows: np.ndarray,
    clock: dict[str, float],
) -> dict[str, Any]:
    folds = prepared.folds
    held_out = list(train_cfg.held_out_folds)
    return {
        "candidate": name,
        "verdict": verdict.to_dict(),
        "deciding_comparison": DECIDING,
        "fold": {
            "validation_fold": int(train_cfg.validation_fold),
            "scheme": prepared.manifest.fold_scheme,
            "n_validation": len(rows),
            "n_train": int((~np.isin(folds, held_out)).sum()),
            "test_fold_read": False,
        },
        "trunk": {
            key: trunk.record.get(key)
            for key in ("prep_hash", "key_id", "n_bits", "weights_sha256", "rounds", "n_partners", "created")
        }
        | {"folder": str(trunk.folder), "defence": trunk.defence, "partner_tensors": list(trunk.partner_tensors)},
        "settings": {
            "train": to_dict(train_cfg),
            "personalisation": to_dict(personal),
            "evaluation": to_dict(config.evaluation),
            "negligible_riptop": config.negligible_riptop,
        },
        "seconds": clock,
        "n_compounds": prepared.n_compounds,
        "n_tasks": prepared.n_tasks,
    }


def _write(out: Path, record: dict[str, Any], summary: pd.DataFrame, tasks: pd.DataFrame) -> None:
    from fedqsar.report.probe_page import write_probe_page

    out.mkdir(parents=True, exist_ok=True)
    summary.to_csv(out / SUMMARY_FILE, index=False)
    tasks.to_csv(out / TASKS_FILE, index=False)
    (out / PROBE_FILE).write_text(json.dumps(record, indent=2, default=float), encoding="utf-8")
    write_probe_page(out, out / PAGE_FILE)
