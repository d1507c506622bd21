"""``fedqsar audit privacy RUN``: what a federated run lets a competitor learn, measured.

Reads a finished run folder (``fedqsar evaluate --out RUN``: the federation in
``RUN/federation/``; or ``fedqsar federate --out RUN``: the federation in ``RUN/``) and the
partners' PreparedSets (``RUN/consortium.json``, or given), and writes ``RUN/privacy/``:

* ``bits.csv``: bit recovery from the global trunks every partner received, the initial
  trunk first (``privacy_bits``: attack, pair, target, auc, n_positive, n_negative);
* ``membership.csv``: loss-threshold membership inference per partner and model kind
  (``local``, ``federated``, ``personalised``) against the test fold and against the
  matched hold-out (``privacy_membership``), and the membership AUC of the domain columns
  a partner's predictions carry, raw and as ``predict --share`` writes them;
* ``summary.csv`` (key, value): the defence and DP settings, epsilon from Flower's RDP
  accountant when DP was on, the headline bit-recovery AUC, mean membership AUC per model
  kind and reference, the median round time.

The audit holds every partner's data, so it runs where the simulation ran (a consortium's
own evaluation); no partner can run it on the others' data, which is the point.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fedqsar.config import load_toml
from fedqsar.errors import ConfigError
from fedqsar.evaluation.privacy_bits import bit_recovery_summary, bit_recovery_table, used_bits
from fedqsar.evaluation.privacy_membership import MEMBERSHIP_COLUMNS, Predictor, loss_attack, score_attack
from fedqsar.federation.checkpoint import completed_rounds, load_checkpoint
from fedqsar.federation.config import FederationConfig
from fedqsar.federation.defences import build_defence
from fedqsar.federation.personalised import LOCAL_DIR, PERSONALISED_DIR
from fedqsar.federation.server_app import CHECKPOINTS, SUMMARY_FILE, initial_trunk
from fedqsar.model.config import ModelConfig, TrainConfig
from fedqsar.model.training import training_rows
from fedqsar.prepared import PreparedSet

PRIVACY_DIR = "privacy"
PARTNERS_DIR = "partners"


@dataclass
class PrivacyAudit:
    """The audit of one run (also written under ``RUN/privacy/``)."""

    run_dir: Path
    bits: pd.DataFrame
    membership: pd.DataFrame
    summary: dict[str, Any] = field(default_factory=dict)


def federation_dir(run_dir: Path) -> Path:
    """The folder holding the run's checkpoints: ``RUN/federation`` (evaluate) or ``RUN`` (federate).

    Raises
    ------
    ConfigError
        If neither holds global-trunk checkpoints.
    """
    for folder in (Path(run_dir) / "federation", Path(run_dir)):
        if completed_rounds(folder / CHECKPOINTS):
            return folder
    raise ConfigError(
        f"{run_dir} holds no federated run (no checkpoints/ in it or in its federation/ folder)",
        "give the folder written by `fedqsar evaluate --out RUN` or `fedqsar federate --out RUN`",
    )


def run_partners(run_dir: Path, partners: Mapping[str, Path] | None = None) -> dict[str, Path]:
    """partner -> PreparedSet folder: ``partners`` when given, else ``RUN/consortium.json``.

    Raises
    ------
    ConfigError
        If neither names the partners.
    """
    if partners:
        return {name: Path(folder) for name, folder in sorted(partners.items())}
    path = Path(run_dir) / "consortium.json"
    if not path.is_file():
        raise ConfigError(
            f"{run_dir} has no consortium.json naming the partners' PreparedSets",
            "pass them: fedqsar audit privacy RUN --partners A/ B/ C/",
        )
    summary = json.loads(path.read_text(encoding="utf-8"))
    return {
        name: (
            Path(run_dir) / entry["prepared"] if not Path(entry["prepared"]).is_absolute() else Path(entry["prepared"])
        )
        for name, entry in sorted(summary.items())
    }


class GlobalTrunks(Sequence[dict[str, np.ndarray]]):
    """The trunks a partner received, read lazily: the initial trunk, then every checkpoint in round order."""

    def __init__(self, folder: Path, initial: dict[str, np.ndarray]) -> None:
        self.folder, self.initial = Path(folder), initial
        self.rounds = completed_rounds(self.folder / CHECKPOINTS)
        self._load = functools.lru_cache(maxsize=2)(self._read)

    def _read(self, round_number: int) -> dict[str, np.ndarray]:
        return load_checkpoint(self.folder / CHECKPOINTS, round_number).trunk

    def __len__(self) -> int:
        return 1 + len(self.rounds)

    def __getitem__(self, index: int) -> dict[str, np.ndarray]:  # type: ignore[override]
        if index < 0:
            index += len(self)
        return self.initial if index == 0 else self._load(self.rounds[index - 1])


def _predictors(state_dir: Path, partner: str) -> dict[str, Predictor]:
    from fedqsar.federation.partner import selected_model
    from fedqsar.model.io import load_model
    from fedqsar.model.personalise import is_selection_folder, load_selection
    from fedqsar.model.predict import predict

    def of_model(folder: Path) -> Predictor:
        saved = load_model(folder)
        return lambda X: predict(saved.model, saved.partner, X)

    out: dict[str, Predictor] = {}
    if (state_dir / LOCAL_DIR / "config.json").is_file():
        out["local"] = of_model(state_dir / LOCAL_DIR)
    federated = selected_model(state_dir)
    if (federated / "config.json").is_file():
        out["federated"] = of_model(federated)
    if is_selection_folder(state_dir / PERSONALISED_DIR):
        out["personalised"] = load_selection(state_dir / PERSONALISED_DIR).predict
    return out


def _oracle_attack(state_dir: Path, prepared: PreparedSet, cfg: TrainConfig, partner: str) -> pd.DataFrame:
    """Membership AUC of the domain columns of the federated model's predictions, raw and shared."""
    from fedqsar.federation.partner import selected_model
    from fedqsar.trust.calibrate import domain_scores
    from fedqsar.trust.share import shared_domain_columns
    from fedqsar.trust.store import has_trust, load_trust

    folder = selected_model(state_dir)
    if not has_trust(folder):
        return pd.DataFrame()
    artefacts = load_trust(folder)
    scores = {
        "nearest_similarity": lambda X: domain_scores(artefacts, X).nearest_similarity,
        "nearest_similarity_shared": lambda X: shared_domain_columns(artefacts, X)["nearest_similarity"].to_numpy(),
    }
    return score_attack(scores, prepared, cfg, partner, "federated")


def _summary(fed_dir: Path, fed_cfg: FederationConfig, bits: pd.DataFrame, membership: pd.DataFrame) -> dict[str, Any]:
    server = (
        json.loads((fed_dir / SUMMARY_FILE).read_text(encoding="utf-8")) if (fed_dir / SUMMARY_FILE).is_file() else {}
    )
    seconds = [float(v) for v in (server.get("round_seconds") or {}).values()]
    losses = membership[membership["score"] == "loss"] if len(membership) else membership
    by_kind = {
        f"membership_auc_{kind}_{reference}": float(group["auc"].mean())
        for (kind, reference), group in (losses.groupby(["model_kind", "reference"]) if len(losses) else [])
    }
    oracle = membership[membership["score"] != "loss"] if len(membership) else membership
    by_oracle = {
        f"oracle_auc_{score}_{reference}": float(group["auc"].mean())
        for (score, reference), group in (oracle.groupby(["score", "reference"]) if len(oracle) else [])
    }
    return {
        "defence": fed_cfg.bit_privacy.defence,
        "secagg": fed_cfg.secagg.enabled,
        "dp": fed_cfg.dp.enabled,
        "dp_noise_multiplier": fed_cfg.dp.noise_multiplier if fed_cfg.dp.enabled else None,
        "dp_clipping_norm": fed_cfg.dp.clipping_norm if fed_cfg.dp.enabled else None,
        "dp_epsilon": server.get("dp_epsilon"),
        "dp_delta": server.get("dp_delta"),
        "rounds": server.get("rounds"),
        "median_round_seconds": float(np.median(seconds)) if seconds else None,
        **bit_recovery_summary(bits),
        **by_kind,
        **by_oracle,
    }


def audit_privacy(run_dir: Path, partners: Mapping[str, Path] | None = None) -> PrivacyAudit:
    """Audit a finished run (see module docstring); nothing is written (``write_audit`` does).

    Raises
    ------
    ConfigError
        No federated run in ``run_dir``, or no way to find the partners' PreparedSets.
    """
    run_dir = Path(run_dir)
    fed_dir = federation_dir(run_dir)
    fed_cfg = load_toml(FederationConfig, fed_dir / "federation.toml")
    model_cfg = load_toml(ModelConfig, fed_dir / "model.toml")
    train_cfg = load_toml(TrainConfig, fed_dir / "train.toml")
    prepared = {name: PreparedSet.load(folder) for name, folder in run_partners(run_dir, partners).items()}
    n_bits = next(iter(prepared.values())).n_bits
    used = {name: used_bits(p.X[training_rows(p.folds, train_cfg)], n_bits) for name, p in prepared.items()}
    defence = build_defence(fed_cfg.bit_privacy, model_cfg)
    private = defence.private_names()
    n_descriptors = len(next(iter(prepared.values())).descriptor_names)
    trunks = GlobalTrunks(fed_dir, initial_trunk(n_bits, model_cfg, n_descriptors, private))
    bits = bit_recovery_table(trunks, used, defence.layout.per_bit_table)
    parts = []
    for name, p in prepared.items():
        state_dir = fed_dir / PARTNERS_DIR / name
        parts.append(loss_attack(_predictors(state_dir, name), p, train_cfg, name))
        parts.append(_oracle_attack(state_dir, p, train_cfg, name))
    parts = [part for part in parts if len(part)]
    membership = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    return PrivacyAudit(run_dir, bits, membership, _summary(fed_dir, fed_cfg, bits, membership))


def write_audit(audit: PrivacyAudit) -> dict[str, Path]:
    """Write ``RUN/privacy/{bits.csv, membership.csv, summary.csv}``; returns name -> path."""
    folder = audit.run_dir / PRIVACY_DIR
    folder.mkdir(parents=True, exist_ok=True)
    files = {name: folder / f"{name}.csv" for name in ("bits", "membership", "summary")}
    audit.bits.to_csv(files["bits"], index=False)
    membership = audit.membership if len(audit.membership) else pd.DataFrame(columns=list(MEMBERSHIP_COLUMNS))
    membership.to_csv(files["membership"], index=False)
    summary = pd.DataFrame(
        {"key": list(audit.summary), "value": ["" if v is None else v for v in audit.summary.values()]}
    )
    summary.to_csv(files["summary"], index=False)
    return files
