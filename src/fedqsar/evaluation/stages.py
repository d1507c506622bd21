"""Training stages of the evaluation protocol: each fits one model kind and predicts the test fold.

A stage reads only training and validation folds while fitting (the one ``Trainer``, early
stopping and model selection on validation folds); its single use of the test fold is the
final ``predict`` on ``run.test_rows`` — labels of the test fold are never read here.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from fedqsar.errors import ConfigError
from fedqsar.evaluation.baselines import random_forest_predictions
from fedqsar.evaluation.config import EvalConfig
from fedqsar.evaluation.kinds import MODEL_KINDS
from fedqsar.evaluation.pooled import fit_pooled
from fedqsar.evaluation.tuning import TunedConfigs
from fedqsar.federation.config import FederationConfig
from fedqsar.model.config import ModelConfig, TrainConfig
from fedqsar.model.inputs import ModelInputs
from fedqsar.model.network import HeadSpec, MultitaskModel
from fedqsar.model.predict import predict
from fedqsar.model.training import fit, training_rows
from fedqsar.prepared import PreparedSet
from fedqsar.progress import Progress

Predictions = dict[tuple[str, str], np.ndarray]  # (partner, model_kind) -> float32 (n_test, n_tasks)
FEDERATION_DIR = "federation"


@dataclass
class EvaluationRun:
    """Everything the stages share: data, folds, settings, and what they produced."""

    prepared: dict[str, PreparedSet]
    folders: dict[str, Path]
    out: Path
    model_cfg: ModelConfig
    train_cfg: TrainConfig
    fed_cfg: FederationConfig
    eval_cfg: EvalConfig
    progress: Progress
    test_rows: dict[str, np.ndarray] = field(default_factory=dict)
    predictions: Predictions = field(default_factory=dict)
    timings: list[tuple[str, str, float]] = field(default_factory=list)
    local_models: dict[str, MultitaskModel] = field(default_factory=dict)
    tuned: dict[tuple[str, str], TunedConfigs] = field(default_factory=dict)  # (kind, partner | "all")

    def configs_for(self, kind: str, partner: str = "all") -> tuple[ModelConfig, TrainConfig, FederationConfig]:
        """The settings of one model kind: what a tuning search chose for it, else the run's own."""
        tuned = self.tuned.get((kind, partner))
        if tuned is None:
            return self.model_cfg, self.train_cfg, self.fed_cfg
        return tuned.model, tuned.train, replace(tuned.federation, personalisation=self.fed_cfg.personalisation)


def train_local(run: EvaluationRun) -> None:
    """Local-only model per partner (kept for the federated partners' personalisation)."""
    for done, (name, prepared) in enumerate(run.prepared.items()):
        run.progress("local", done, len(run.prepared), name)
        started = time.perf_counter()
        model_cfg, train_cfg, _ = run.configs_for("local", name)
        heads = {name: HeadSpec.from_tasks(prepared.tasks)}
        model = MultitaskModel(prepared.n_bits, model_cfg, heads, len(prepared.descriptor_names))
        fit(model, name, prepared, train_cfg)
        run.local_models[name] = model
        run.predictions[(name, "local")] = predict(model, name, ModelInputs.of(prepared).rows(run.test_rows[name]))
        run.timings.append(("local", name, time.perf_counter() - started))


def train_federated(run: EvaluationRun) -> None:
    """Flower simulation; each partner's selected round, and its personalised model when asked for."""
    wants_personalised = "personalised" in run.eval_cfg.model_kinds
    if wants_personalised and not run.fed_cfg.personalisation.enabled:
        raise ConfigError(
            "model kind 'personalised' needs federation.personalisation.enabled = true",
            "enable personalisation or drop 'personalised' from evaluation.model_kinds",
        )
    _, _, fed_cfg = run.configs_for("federated")
    run.progress("federated", 0, fed_cfg.rounds, f"up to {fed_cfg.rounds} rounds")
    started = time.perf_counter()
    names = sorted(run.prepared)
    run.predictions.update(federated_predictions(run, names, run.out / FEDERATION_DIR, fed_cfg))
    run.timings.append(("federated", "all", time.perf_counter() - started))


def federated_predictions(
    run: EvaluationRun, names: list[str], federation_out: Path, fed_cfg: FederationConfig, suffix: str = ""
) -> Predictions:
    """Federate the partners ``names`` into ``federation_out``; test-fold predictions of their models.

    Keys are ``(partner, "federated" + suffix)`` and, when personalised models are evaluated,
    ``(partner, "personalised" + suffix)``. Partners reuse their local models (``run.local_models``)
    for personalisation instead of refitting them.
    """
    from fedqsar.federation.personalised import LOCAL_DIR, save_local_model
    from fedqsar.federation.simulation import PARTNERS_DIR, run_simulation
    from fedqsar.model.io import load_model
    from fedqsar.model.personalise import load_selection

    wants_personalised = "personalised" in run.eval_cfg.model_kinds
    if not wants_personalised and fed_cfg.personalisation.enabled:
        fed_cfg = replace(fed_cfg, personalisation=replace(fed_cfg.personalisation, enabled=False))
    for name in names:
        if name in run.local_models:
            folder = federation_out / PARTNERS_DIR / name / LOCAL_DIR
            save_local_model(
                folder, run.local_models[name], name, run.prepared[name], *run.configs_for("local", name)[:2]
            )
    model_cfg, train_cfg, _ = run.configs_for("federated")

    def rounds(stage: str, done: int, total: int | None = None, detail: str = "") -> None:
        run.progress("federated" + suffix, done, total, f"round {done}/{total}")

    federated = run_simulation(
        {name: run.folders[name] for name in names},
        model_cfg,
        train_cfg,
        fed_cfg,
        federation_out,
        progress=rounds,
    )
    out: Predictions = {}
    for name in names:
        X_test = ModelInputs.of(run.prepared[name]).rows(
            run.test_rows[name]
        )  # fingerprints (+ descriptors, structures)
        saved = load_model(federated.selected_models.get(name, federated.partner_models[name]))
        out[(name, "federated" + suffix)] = predict(saved.model, saved.partner, X_test)
        if wants_personalised:
            selection = load_selection(federated.personalised_models[name])
            out[(name, "personalised" + suffix)] = selection.predict(X_test)
    return out


def train_pooled(run: EvaluationRun) -> None:
    """The upper bound: one model over all partners' data (the same Trainer)."""
    run.progress("pooled", 0, 1, "all partners")
    started = time.perf_counter()
    result = fit_pooled(run.prepared, *run.configs_for("pooled")[:2])
    for name, prepared in run.prepared.items():
        run.predictions[(name, "pooled")] = predict(
            result.model, name, ModelInputs.of(prepared).rows(run.test_rows[name])
        )
    run.timings.append(("pooled", "all", time.perf_counter() - started))


def train_rf(run: EvaluationRun) -> None:
    """Random-forest peer per task on the same training folds."""
    for done, (name, prepared) in enumerate(run.prepared.items()):
        run.progress("rf", done, len(run.prepared), name)
        started = time.perf_counter()
        train_rows = training_rows(prepared.folds, run.train_cfg)
        run.predictions[(name, "rf")] = random_forest_predictions(
            prepared, train_rows, run.test_rows[name], run.eval_cfg.rf
        )
        run.timings.append(("rf", name, time.perf_counter() - started))


#: model kind -> the stage that produces it ("personalised" comes out of the federated stage).
STAGES: Mapping[str, Callable[[EvaluationRun], None]] = {
    "local": train_local,
    "federated": train_federated,
    "pooled": train_pooled,
    "rf": train_rf,
}
assert set(STAGES) | {"personalised"} == set(MODEL_KINDS), "evaluation.kinds.MODEL_KINDS must name every stage's kind"


def stage_order(model_kinds: tuple[str, ...]) -> list[str]:
    """Stages to run for ``model_kinds``, local first (federated partners reuse local models)."""
    wanted = set(model_kinds) | ({"federated"} if "personalised" in model_kinds else set())
    return [stage for stage in STAGES if stage in wanted]
