"""A partner's side of a round: its data, its private state folder, its local training.

Everything here stays on the partner's machine. The private state folder holds

* ``private_round_NNNN.safetensors``: ``Trainer.state_dict()`` (head, its optimiser
  moments, epoch) after round NNNN, plus the trunk tensors the run's bit-privacy defence
  keeps private (``private_trunk.<name>``: the partner's own first layer under
  ``private_input``, ``federation.defences``), and ``private_round_NNNN.json``, written after
  it, with its sha256 (the completion marker; checked before the state is loaded); the latest
  two are kept. A round the server re-runs after a restart starts again from the state
  *before* that round, so no round trains twice;
* ``history.csv``: round, partner, metric, value (local training loss, validation metrics);
  a re-run round's rows replace the earlier ones, so every (round, metric) is in it once;
* ``best_model/`` + ``best.json``: partner-local model selection, the counterpart of local
  early stopping: when ``TrainConfig.early_stopping_patience > 0`` the partner keeps the
  model (global trunk + own head) of the round with its lowest validation loss, measured
  on its own validation fold; nothing about it leaves the partner;
* ``model/``: the final model (final global trunk + own head), written when the run ends.

:func:`selected_model` says which of the two a partner should use.

Only ``trunk_state()`` (the trunk minus its private tensors) and the training example count
are handed to the ClientApp to send.
"""

from __future__ import annotations

import csv
import functools
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from safetensors.torch import load_file, save_file

from fedqsar.errors import CorruptArtefactError
from fedqsar.filemodes import private_folder
from fedqsar.hashing import sha256_file
from fedqsar.integrity import check_sha256, load_json_object, read_artefact
from fedqsar.model.config import ModelConfig, TrainConfig
from fedqsar.model.network import HeadSpec, MultitaskModel
from fedqsar.model.regularisers import ProximalPull
from fedqsar.model.training import Trainer
from fedqsar.prep.manifest import Manifest
from fedqsar.prepared import PreparedSet, read_manifest

PRIVATE_STATE = "private_round_{:04d}.safetensors"
HISTORY = "history.csv"
MODEL_DIR = "model"
BEST_DIR = "best_model"
BEST_FILE = "best.json"
HISTORY_COLUMNS = ("round", "partner", "metric", "value")
PRIVATE_TRUNK = "private_trunk."


@dataclass(frozen=True)
class PartnerPaths:
    """Where one partner's data and private state live (from node config)."""

    partner: str
    prepared: Path
    state_dir: Path


@functools.lru_cache(maxsize=8)
def _load_prepared(folder: str, mtime_ns: int) -> PreparedSet:
    return PreparedSet.load(Path(folder))


def load_prepared(folder: Path) -> PreparedSet:
    """The PreparedSet of ``folder``, cached per process while its manifest is unchanged."""
    return _load_prepared(str(folder), (Path(folder) / "manifest.json").stat().st_mtime_ns)


def manifest_and_bits(folder: Path) -> tuple[Manifest, int]:
    """Manifest and n_bits of a PreparedSet folder (for the handshake)."""
    return read_manifest(folder), load_prepared(folder).n_bits


class PartnerRuntime:
    """Model, trainer and private state of one partner for one message.

    Built fresh for every message from the PreparedSet and the private state folder, so a
    restarted node continues exactly where its state folder says. ``private_names`` are the
    trunk tensors that never leave the partner (``defences.Defence.private_names``): they
    are saved with the private state and left out of ``trunk_state`` / ``load_trunk``.
    """

    def __init__(
        self,
        paths: PartnerPaths,
        model_cfg: ModelConfig,
        train_cfg: TrainConfig,
        proximal_mu: float = 0.0,
        before_round: int | None = None,
        private_names: tuple[str, ...] = (),
    ) -> None:
        self.paths, self.model_cfg, self.train_cfg = paths, model_cfg, train_cfg
        self.prepared = load_prepared(paths.prepared)
        heads = {paths.partner: HeadSpec.from_tasks(self.prepared.tasks)}
        self.model = MultitaskModel(self.prepared.n_bits, model_cfg, heads, len(self.prepared.descriptor_names))
        own = self.model.trunk.state_dict()  # a layout's tensor this model lacks (no descriptors) has nothing to keep
        self.private_names = tuple(name for name in private_names if name in own)
        self.proximal = ProximalPull(proximal_mu) if proximal_mu > 0 else None
        hooks = [self.proximal] if self.proximal is not None else []
        self.trainer = Trainer(self.model, {paths.partner: self.prepared}, train_cfg, hooks=hooks)
        state_file = latest_private_state(paths.state_dir, before_round)
        if state_file is not None:
            self._restore(load_private_state(state_file))

    def _restore(self, state: dict[str, torch.Tensor]) -> None:
        private = {k[len(PRIVATE_TRUNK) :]: v for k, v in state.items() if k.startswith(PRIVATE_TRUNK)}
        self.trainer.load_state_dict({k: v for k, v in state.items() if not k.startswith(PRIVATE_TRUNK)})
        own = self.model.trunk.state_dict()
        with torch.no_grad():
            for name in self.private_names:
                if name in private:
                    own[name].copy_(private[name])

    @property
    def n_examples(self) -> int:
        return int(len(self.trainer.train_rows))

    def trunk_state(self) -> dict[str, np.ndarray]:
        """The trunk tensors that are federated (all but ``private_names``)."""
        return self.model.trunk_state(exclude=self.private_names)

    def load_trunk(self, trunk: dict[str, np.ndarray]) -> None:
        """Load the federated tensors; the private ones keep the partner's values."""
        self.model.load_trunk_state(trunk, exclude=self.private_names)
        if self.proximal is not None:
            self.proximal.set_anchor(trunk)

    def touched_bits(self) -> np.ndarray:
        """int64 fingerprint bits (first-layer rows) set by any of the partner's training rows."""
        return np.unique(self.prepared.X[self.trainer.train_rows].indices).astype(np.int64)

    def align_head(self, steps: int) -> None:
        """``steps`` head-only steps on the trunk just loaded (the trunk stays as received).

        A private head was trained against the partner's own trunk of the last round; after
        averaging, the global trunk differs, and the more so with a server learning rate
        above 1. Aligning the head first makes "global trunk + own head" a fitted model.
        """
        if steps > 0:
            self.trainer.train_steps(steps, head_only=True)

    def train(self, epochs: int, round_number: int, steps: int | None = None) -> None:
        """Train ``epochs`` epochs (or ``steps`` optimiser steps when given); records loss and seconds."""
        started = time.perf_counter()
        logs = self.trainer.train_steps(steps) if steps else self.trainer.train_epochs(epochs)
        self.append_history(
            round_number,
            {
                "train_loss": float(np.mean([log.train_loss for log in logs])),
                "train_seconds": time.perf_counter() - started,
            },
        )

    def record_validation(self, round_number: int, prefix: str = "val") -> None:
        """Validation loss and task-averaged metrics of the current model, into the history."""
        rows = self.trainer.validation_rows
        if len(rows) == 0:
            return
        started = time.perf_counter()
        values = {f"{prefix}_loss": self.trainer.loss(rows)}
        metrics = self.trainer.evaluate(rows)
        if len(metrics):
            means = metrics.dropna(subset=["value"]).groupby("metric")["value"].mean()
            values.update({f"{prefix}_{name}": float(v) for name, v in means.items()})
        values["validation_seconds"] = time.perf_counter() - started
        self.append_history(round_number, values)
        if prefix == "val":
            self._keep_if_best(round_number, values["val_loss"])

    @property
    def selects_best_round(self) -> bool:
        """Partner-local model selection is on (as ``fit``'s early stopping)."""
        return self.train_cfg.early_stopping_patience > 0

    def best_round(self) -> dict | None:
        """``{"round", "val_loss"}`` of the best model kept so far, or None."""
        path = self.paths.state_dir / BEST_FILE
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None

    def still_improving(self, last_validated_round: int, patience: int) -> bool:
        """True unless the best validation round is ``patience`` or more rounds behind ``last_validated_round``.

        This one bit (masked under SecAgg+) is all a partner says about its validation loss.
        Without partner-local selection (no ``best.json``) a partner always says True.
        """
        best = self.best_round()
        if patience <= 0 or best is None:
            return True
        return last_validated_round - int(best["round"]) < patience

    def _keep_if_best(self, round_number: int, val_loss: float) -> None:
        if not self.selects_best_round or not np.isfinite(val_loss):
            return
        best = self.best_round()
        if best is not None and best["round"] != round_number and best["val_loss"] <= val_loss:
            return
        self._save_model_to(self.paths.state_dir / BEST_DIR)
        (self.paths.state_dir / BEST_FILE).write_text(
            json.dumps({"round": int(round_number), "val_loss": float(val_loss)}), encoding="utf-8"
        )

    def save_private_state(self, round_number: int) -> None:
        """Write the private state after ``round_number`` (+ its sha256 marker); keep it and the one before."""
        folder = private_folder(self.paths.state_dir)  # the partner's own head, first layer, history: 0700
        name = PRIVATE_STATE.format(round_number)
        tmp = folder / f".{name}.tmp"
        state = dict(self.trainer.state_dict())
        own = self.model.trunk.state_dict()
        state.update({PRIVATE_TRUNK + name: own[name].detach().clone() for name in self.private_names})
        save_file({k: v.contiguous() for k, v in state.items()}, str(tmp))
        tmp.replace(folder / name)
        marker = (folder / name).with_suffix(".json")
        tmp_marker = folder / f".{marker.name}.tmp"
        tmp_marker.write_text(
            json.dumps({"round": int(round_number), "sha256": sha256_file(folder / name)}), encoding="utf-8"
        )
        tmp_marker.replace(marker)
        for other, path in _private_states(folder).items():
            if other > round_number or other < round_number - 1:
                path.with_suffix(".json").unlink(missing_ok=True)
                path.unlink(missing_ok=True)

    def append_history(self, round_number: int, values: dict[str, float]) -> None:
        """Record ``values`` for ``round_number``; rows of a re-run round replace the earlier ones."""
        path = private_folder(self.paths.state_dir) / HISTORY
        replaced = {(str(round_number), self.paths.partner, metric) for metric in values}
        rows = [row for row in _history_rows(path) if tuple(row[:3]) not in replaced]
        rows += [[str(round_number), self.paths.partner, metric, repr(float(v))] for metric, v in values.items()]
        tmp = path.with_name(f".{HISTORY}.tmp")
        with tmp.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(HISTORY_COLUMNS)
            writer.writerows(rows)
        tmp.replace(path)

    def save_final_model(self) -> Path:
        """Write ``model/``: the final global trunk + own head."""
        return self._save_model_to(self.paths.state_dir / MODEL_DIR)

    def _save_model_to(self, folder: Path) -> Path:
        from fedqsar.model.io import save_model

        folder.mkdir(parents=True, exist_ok=True)
        return save_model(
            folder,
            self.model,
            self.model_cfg,
            self.train_cfg,
            self.prepared.tasks,
            self.prepared.manifest,
            partner=self.paths.partner,
        )


def selected_model(state_dir: Path) -> Path:
    """The partner's model to use: its best validation round if it kept one, else the final model."""
    best = Path(state_dir) / BEST_DIR
    return best if (best / "config.json").is_file() else Path(state_dir) / MODEL_DIR


def read_history(state_dir: Path) -> pd.DataFrame:
    """A partner's local history (round, partner, metric, value), one row per (round, metric).

    Raises
    ------
    CorruptArtefactError
        If ``history.csv`` is not the table this module writes.
    """
    path = Path(state_dir) / HISTORY
    if not path.is_file():
        return pd.DataFrame(columns=list(HISTORY_COLUMNS))
    fix = f"delete {path}; the partner writes it again in the next run"
    history = read_artefact(path, pd.read_csv, "partner history", fix)
    if list(history.columns) != list(HISTORY_COLUMNS):
        raise CorruptArtefactError(path, f"partner history {path} has columns {list(history.columns)}", fix)
    return history


def _history_rows(path: Path) -> list[list[str]]:
    if not path.is_file():
        return []
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    return [row for row in rows[1:] if len(row) == len(HISTORY_COLUMNS)]


def _private_states(folder: Path) -> dict[int, Path]:
    """Round -> private state file, for the states whose sha256 marker was written (complete ones)."""
    out = {}
    for path in Path(folder).glob("private_round_*.safetensors"):
        try:
            round_number = int(path.stem.rsplit("_", 1)[1])
        except ValueError:
            continue
        if path.with_suffix(".json").is_file():
            out[round_number] = path
    return out


def latest_private_state(folder: Path, before_round: int | None = None) -> Path | None:
    """The newest complete private state file of a round < ``before_round`` (any round if None)."""
    states = {r: p for r, p in _private_states(folder).items() if before_round is None or r < before_round}
    return states[max(states)] if states else None


def load_private_state(path: Path) -> dict[str, torch.Tensor]:
    """A private state file, after checking it against the sha256 recorded beside it.

    Raises
    ------
    ChecksumError, CorruptArtefactError
        If the file or its marker was truncated or changed.
    """
    fix = "restore the partner's state folder from a backup, or start the run again in a new --out folder"
    marker = read_artefact(path.with_suffix(".json"), load_json_object, "private state record", fix)
    check_sha256(path, marker.get("sha256"), fix)
    return read_artefact(path, lambda p: load_file(str(p)), "private state", fix)
