"""The embedded default: a simulated consortium on real public data, end to end.

``run_demo`` does what four companies and a server would do, on one machine:

1. deal a public scenario to partners as raw tables (``datasets.scenarios``);
2. create one consortium key and let every partner ``prepare`` its own table with it;
3. evaluate local-only vs federated (Flower simulation, SecAgg+) vs pooled vs a random
   forest on each partner's keyed-scaffold test fold (``evaluation.protocol``);
4. fit each partner's trust artefacts on its federated model (validation fold) and measure
   coverage and error-by-similarity on its test fold (``trust``);
5. write the self-contained HTML report (``report``).

Every setting is in :class:`DemoConfig` and is written to ``RUN/config.toml``.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from fedqsar.config import save_toml
from fedqsar.consortium import EvaluateConfig, evaluate_consortium
from fedqsar.datasets.scenarios import build_scenario
from fedqsar.errors import ConfigError
from fedqsar.evaluation.config import EvalConfig
from fedqsar.evaluation.protocol import ProtocolResult
from fedqsar.federation.config import FederationConfig
from fedqsar.model.config import ModelConfig, TrainConfig
from fedqsar.prep.config import PrepConfig
from fedqsar.prep.keys import ConsortiumKey, generate_key, save_key
from fedqsar.prep.pipeline import PrepareResult, prepare
from fedqsar.progress import Progress
from fedqsar.report import write_report
from fedqsar.trust import TrustConfig

Say = Callable[[str], None]


@dataclass(frozen=True)
class DemoConfig:
    """Settings of the demo consortium run.

    Attributes
    ----------
    scenario
        ``"admet"`` (Biogen, AstraZeneca, ChEMBL literature, AqSolDB) or ``"potency"``.
    key_seed
        The demo's consortium key is derived from this seed so that a run (folds included)
        is reproducible; None draws a random key. A real consortium uses ``fedqsar keygen``.
    max_compounds
        Distinct structures kept per partner (keyed choice) so the run fits ~15 minutes
        on 2 cores; None keeps everything.
    model, train, federation
        Same budget for every model kind: local and pooled train up to ``train.epochs``
        epochs, federation ``rounds x local_epochs`` epochs; model selection on each
        partner's validation fold only (local early stopping; the federated partner keeps its
        best round). Batch 128 gives ~10 optimiser steps per epoch at ~1,000 training
        compounds (512 gave 2, and every model was under-trained). Hidden (256, 128): each
        partner's first layer stays private (``federation.defences``), the 256 x 128 layer
        above it is what SecAgg+ masks each round.
    """

    scenario: str = "admet"
    key_seed: int | None = 0
    max_compounds: int | None = 1500
    max_assays: int | None = None
    prep: PrepConfig = field(default_factory=PrepConfig)
    model: ModelConfig = field(default_factory=lambda: ModelConfig(hidden_sizes=(256, 128), dropout=0.2))
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(epochs=16, batch_size=128, early_stopping_patience=4)
    )
    federation: FederationConfig = field(default_factory=lambda: FederationConfig(rounds=16, local_epochs=1))
    evaluation: EvalConfig = field(default_factory=EvalConfig)
    trust: TrustConfig = field(default_factory=TrustConfig)

    def evaluate_config(self) -> EvaluateConfig:
        """The settings of the consortium evaluation the demo runs."""
        return EvaluateConfig(self.model, self.train, self.federation, self.evaluation, self.trust)


@dataclass
class DemoResult:
    """Where the demo wrote its outputs and how long each stage took."""

    run_dir: Path
    report: Path
    partners: dict[str, Path]
    protocol: ProtocolResult
    seconds: dict[str, float]


def run_demo(
    config: DemoConfig,
    run_dir: Path,
    data_dir: Path | None = None,
    n_jobs: int = -1,
    say: Say | None = None,
    progress: Progress | None = None,
    overwrite: bool = False,
) -> DemoResult:
    """Run the consortium end to end into ``run_dir`` and return where the report is.

    Parameters
    ----------
    data_dir
        Mirror of the public data (else env ``FEDQSAR_DATA``, else download).
    n_jobs
        Processes for standardisation (does not change results).
    say, progress
        Optional callbacks for stage messages and progress bars.
    overwrite
        Replace a previous demo run in ``run_dir`` (a folder holding anything else is
        never deleted).

    Raises
    ------
    ConfigError
        If ``run_dir`` holds a previous run and ``overwrite`` is false, or holds files
        that are not a demo run.
    """
    say = say or (lambda message: None)
    run_dir = _fresh_run_dir(Path(run_dir), overwrite)
    save_toml(config, run_dir / "config.toml")
    seconds: dict[str, float] = {}
    clock = time.perf_counter()
    say(f"dealing scenario {config.scenario!r} to partners")
    raw = build_scenario(
        config.scenario,
        run_dir / "raw",
        data_dir=data_dir,
        max_compounds=config.max_compounds,
        max_assays=config.max_assays,
    )
    seconds["scenario"] = time.perf_counter() - clock

    key = demo_key(config.key_seed)
    save_key(key, run_dir / "consortium.key", overwrite=True)
    clock = time.perf_counter()
    prepared = _prepare_partners(raw, run_dir / "prepared", key, config.prep, n_jobs, say, progress)
    seconds["prepare"] = time.perf_counter() - clock

    clock = time.perf_counter()
    folders = {name: result.out for name, result in prepared.items()}
    evaluation = evaluate_consortium(folders, config.evaluate_config(), run_dir, say)
    seconds["evaluate"] = time.perf_counter() - clock

    clock = time.perf_counter()
    report = write_report(run_dir)
    seconds["report"] = time.perf_counter() - clock
    (run_dir / "demo_timings.json").write_text(json.dumps(seconds, indent=2), encoding="utf-8")
    return DemoResult(run_dir, report, folders, evaluation.protocol, seconds)


def demo_key(seed: int | None) -> ConsortiumKey:
    """The demo consortium's key: derived from ``seed`` (reproducible runs), or random if None."""
    if seed is None:
        return generate_key()
    return ConsortiumKey(hashlib.sha256(f"fedqsar-demo-consortium-key/{seed}".encode()).digest())


def _fresh_run_dir(run_dir: Path, overwrite: bool) -> Path:
    """An empty ``run_dir``; a previous demo run there is removed only with ``overwrite``."""
    if run_dir.exists() and any(run_dir.iterdir()):
        if not (run_dir / "config.toml").is_file() or not (run_dir / "consortium.key").is_file():
            raise ConfigError(
                f"{run_dir} is not empty and does not look like a demo run",
                "choose another --out folder; fedqsar never deletes folders it did not write",
            )
        if not overwrite:
            raise ConfigError(
                f"{run_dir} holds a previous demo run", "pass --overwrite to replace it, or choose another --out folder"
            )
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    return run_dir


def _prepare_partners(
    raw: dict[str, Path],
    out: Path,
    key: ConsortiumKey,
    config: PrepConfig,
    n_jobs: int,
    say: Say,
    progress: Progress | None,
) -> dict[str, PrepareResult]:
    results = {}
    for name, table in sorted(raw.items()):
        say(f"partner {name}: preparing {table.name} locally")
        results[name] = prepare(table, out / name, key, config, n_jobs=n_jobs, progress=progress)
    return results


__all__ = ["DemoConfig", "DemoResult", "demo_key", "run_demo"]
