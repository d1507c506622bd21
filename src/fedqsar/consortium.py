"""Evaluate a consortium on the user's own PreparedSets: the protocol, trust tables, run folder.

``evaluate_consortium`` is what ``fedqsar evaluate`` runs (and what ``fedqsar demo`` runs after
dealing and preparing its public scenario). Into one run folder it writes

* ``consortium.json``: partner -> PreparedSet folder, sizes, accounting, prep hash;
* ``federation/`` and ``evaluation/``: the protocol's outputs (``evaluation.protocol``):
  local, federated, personalised, pooled and random-forest models on each partner's test
  fold, predictions per model kind, metrics, uplift with intervals, ledgers;
* ``trust/``: conformal coverage and applicability-domain tables of each partner's federated
  model on its test fold (calibrated on its validation fold);

so that ``fedqsar report RUN`` renders every section.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from fedqsar.errors import ConfigError
from fedqsar.evaluation.config import EvalConfig
from fedqsar.evaluation.overlap import scheme_of
from fedqsar.evaluation.protocol import ProtocolResult, run_protocol
from fedqsar.federation.config import FederationConfig
from fedqsar.federation.partner import selected_model
from fedqsar.federation.simulation import PARTNERS_DIR
from fedqsar.model.config import ModelConfig, TrainConfig
from fedqsar.prepared import PreparedSet
from fedqsar.progress import printing
from fedqsar.trust import TrustConfig, report_tables, write_report_tables
from fedqsar.trust.model_adapter import fit_trust_for_saved_model, model_functions
from fedqsar.trust.store import load_trust

Say = Callable[[str], None]
CONSORTIUM_FILE = "consortium.json"


@dataclass(frozen=True)
class EvaluateConfig:
    """Every setting of a consortium evaluation (written to ``RUN/evaluation/config.toml``).

    The same budget for every model kind: local and pooled train up to ``train.epochs``
    epochs with early stopping, federation runs up to ``federation.rounds`` rounds until no
    partner improves for ``federation.patience`` rounds; every choice on validation folds.
    """

    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    federation: FederationConfig = field(default_factory=FederationConfig)
    evaluation: EvalConfig = field(default_factory=EvalConfig)
    trust: TrustConfig = field(default_factory=TrustConfig)


@dataclass
class EvaluateResult:
    """Where the evaluation wrote its outputs."""

    run_dir: Path
    protocol: ProtocolResult
    partners: dict[str, Path]


def evaluate_consortium(
    partners: Mapping[str, Path], config: EvaluateConfig, run_dir: Path, say: Say | None = None
) -> EvaluateResult:
    """Run the evaluation protocol and the trust tables on ``partners`` into ``run_dir``.

    Parameters
    ----------
    partners
        Partner name -> PreparedSet folder (prepared with the same settings and key).

    Raises
    ------
    ConfigError
        ``run_dir`` already holds a finished evaluation, or the settings have no test fold.
    IncompatiblePartnersError
        The PreparedSets were prepared with different settings or keys.
    """
    say = say or (lambda message: None)
    run_dir = Path(run_dir)
    folders = {name: Path(folder) for name, folder in sorted(partners.items())}
    say("training local, federated (Flower simulation), personalised, pooled and random-forest models")
    protocol = run_protocol(
        folders,
        config.model,
        config.train,
        config.federation,
        config.evaluation,
        run_dir,
        progress=printing(say),
    )
    folders = protocol.folders or folders
    write_consortium(run_dir, {name: PreparedSet.load(folder) for name, folder in folders.items()}, folders)
    say("fitting trust artefacts (conformal, applicability domain) on each partner's federated model")
    trust_tables(run_dir, folders, config.trust)
    return EvaluateResult(run_dir, protocol, folders)


def write_consortium(run_dir: Path, prepared: Mapping[str, PreparedSet], folders: Mapping[str, Path]) -> Path:
    """``consortium.json``: partner -> PreparedSet folder (relative to ``run_dir`` when inside), sizes, accounting."""

    def where(folder: Path) -> str:
        folder = Path(folder).resolve()
        return str(folder.relative_to(run_dir.resolve())) if folder.is_relative_to(run_dir.resolve()) else str(folder)

    summary = {
        name: {
            "prepared": where(folders[name]),
            "n_compounds": p.n_compounds,
            "n_tasks": p.n_tasks,
            "accounting": p.accounting,
            "prep_hash": p.manifest.prep_hash,
            "fold_scheme": scheme_of(p),
        }
        for name, p in sorted(prepared.items())
    }
    path = Path(run_dir) / CONSORTIUM_FILE
    path.write_text(json.dumps(summary, indent=2, default=str), encoding="utf-8")
    return path


def trust_tables(run_dir: Path, folders: Mapping[str, Path], config: TrustConfig) -> None:
    """Per partner: trust artefacts on its federated model, coverage/domain tables on its test fold."""
    from fedqsar.model.io import load_model

    coverage, domain = [], []
    for name, folder in sorted(folders.items()):
        model_folder = selected_model(Path(run_dir) / "federation" / PARTNERS_DIR / name)
        prepared = PreparedSet.load(folder)
        fit_trust_for_saved_model(model_folder, prepared, config)
        saved = load_model(model_folder)
        predict, embed = model_functions(saved.model, saved.partner)
        if saved.train_cfg.test_fold is None:
            raise ConfigError(f"model {model_folder} has no test fold to measure trust on", "set train.test_fold")
        test_rows = prepared.rows_in([saved.train_cfg.test_fold])
        cov, dom = report_tables(load_trust(model_folder), predict, prepared, test_rows, name, embed=embed)
        coverage.append(cov)
        domain.append(dom)
    write_report_tables(Path(run_dir), pd.concat(coverage, ignore_index=True), pd.concat(domain, ignore_index=True))
