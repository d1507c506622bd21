"""Save and load a trained model: ``model.safetensors`` + ``config.json`` + ``tasks.parquet``.

No pickle anywhere. ``config.json`` carries the network shape, the training settings, the
heads, the partner the model was trained for, and the PreparedSet's identity: its prep hash,
the sha256 of its manifest, the consortium key id and the prep config itself, so that
``predict`` standardises and fingerprints new structures exactly as ``prepare`` did.

``config.json`` is written last and records the sha256 of ``model.safetensors`` and
``tasks.parquet`` (``files``); :func:`load_model` checks both before reading them, so
weights overwritten after training (even with a file of the same size) are refused with a
:class:`~fedqsar.errors.ChecksumError` instead of predicting nonsense.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from safetensors.torch import load_file, save_file

from fedqsar.config import from_dict, to_dict
from fedqsar.errors import ConfigError, CorruptArtefactError, ModelFileError
from fedqsar.filemodes import private_folder, seal
from fedqsar.hashing import hash_json, sha256_file
from fedqsar.integrity import check_sha256, load_json_object, read_artefact
from fedqsar.model.config import ModelConfig, TrainConfig
from fedqsar.model.network import HeadSpec, MultitaskModel
from fedqsar.prep.config import PrepConfig
from fedqsar.prep.manifest import Manifest
from fedqsar.prepared import TaskColumns, in_column_order

FORMAT_VERSION = 1
WEIGHTS_FILE, CONFIG_FILE, TASKS_FILE = "model.safetensors", "config.json", "tasks.parquet"


@dataclass
class SavedModel(TaskColumns):
    """A loaded model folder.

    Attributes
    ----------
    model
        The network (every head it was saved with), in eval mode.
    model_cfg, train_cfg
        The configurations it was built and trained with.
    tasks
        Task table of ``partner``'s head (``tasks_sorted``: in output-column order).
    partner
        The head the tasks belong to.
    prep_hash, manifest_hash, key_id
        Identity of the PreparedSet it was trained on (key id None when not recorded).
    prep_config
        That PreparedSet's prep config as recorded (``prep_settings()`` parses it).
    folder
        Where it was loaded from.
    """

    model: MultitaskModel
    model_cfg: ModelConfig
    train_cfg: TrainConfig
    tasks: pd.DataFrame
    partner: str
    prep_hash: str
    manifest_hash: str
    key_id: str | None
    prep_config: dict[str, Any]
    folder: Path

    def prep_settings(self) -> PrepConfig:
        """The ``PrepConfig`` of the data the model was trained on: how to prepare new structures.

        The one parser of a saved model's prep config (predict, explain, score).

        Raises
        ------
        ModelFileError
            When the model records no prep config, or one that is not a valid PrepConfig.
        """
        if not self.prep_config:
            raise ModelFileError(
                f"model {self.folder} does not record the preparation settings of its training data",
                "re-train it with `fedqsar train --data PREPARED` on a folder written by `fedqsar prepare`",
            )
        try:
            return from_dict(PrepConfig, self.prep_config, where="config.json prep_config")
        except ConfigError as exc:
            raise ModelFileError(f"model {self.folder} has an unreadable prep config: {exc.what}", exc.fix) from exc


def save_model(
    folder: Path,
    model: MultitaskModel,
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    tasks_df: pd.DataFrame,
    prep_manifest: Mapping[str, Any],
    partner: str | None = None,
) -> Path:
    """Write ``model`` (all heads) into ``folder`` (created); returns ``folder``.

    Parameters
    ----------
    prep_manifest
        The PreparedSet's ``Manifest`` (or its dict).
    partner
        Head the tasks table belongs to; default: the model's only head.
    """
    partner = _default_partner(model, partner)
    folder = private_folder(Path(folder))  # weights fitted on the partner's data: 0700 / 0600 (filemodes)
    tensors = {name: tensor.detach().contiguous().clone() for name, tensor in model.state_dict().items()}
    save_file(
        tensors, str(folder / WEIGHTS_FILE), metadata={"format": "fedqsar-model", "format_version": str(FORMAT_VERSION)}
    )
    in_column_order(tasks_df).to_parquet(folder / TASKS_FILE, index=False)
    recorded = Manifest.from_dict(prep_manifest)
    config = {
        "format_version": FORMAT_VERSION,
        "n_bits": model.n_bits,
        "n_descriptors": model.n_descriptors,
        "partner": partner,
        "heads": {name: list(spec.column_kinds) for name, spec in model.head_specs.items()},
        "head_endpoints": {name: list(spec.column_endpoints) for name, spec in model.head_specs.items()},
        "model_config": to_dict(model_cfg),
        "train_config": to_dict(train_cfg),
        "prep_hash": recorded.prep_hash,
        "manifest_hash": hash_json(prep_manifest),
        "key_id": recorded.key_id or None,
        "prep_config": dict(recorded.prep_config),
        "files": {name: sha256_file(folder / name) for name in (WEIGHTS_FILE, TASKS_FILE)},
    }
    tmp = folder / f".{CONFIG_FILE}.tmp"
    tmp.write_text(json.dumps(config, indent=2, sort_keys=True, default=str), encoding="utf-8")
    tmp.replace(folder / CONFIG_FILE)
    return seal(folder)


def _default_partner(model: MultitaskModel, partner: str | None) -> str:
    if partner is not None:
        if partner not in model.heads:
            raise ModelFileError(f"the model has no head {partner!r}", f"use one of {sorted(model.heads)}")
        return partner
    if len(model.heads) != 1:
        raise ModelFileError(f"the model has heads {sorted(model.heads)}", "name the partner whose tasks are saved")
    return next(iter(model.heads))


def load_model(folder: Path) -> SavedModel:
    """Read a folder written by :func:`save_model`.

    Raises
    ------
    ModelFileError
        If a file is missing, or the weights do not fit the stored configuration.
    ChecksumError
        If ``model.safetensors`` or ``tasks.parquet`` differs from the sha256 recorded at saving.
    CorruptArtefactError
        If a file is truncated or malformed.
    """
    folder = Path(folder)
    fix = "point --model at a folder written by `fedqsar train` (or re-train the model)"
    missing = [name for name in (WEIGHTS_FILE, CONFIG_FILE, TASKS_FILE) if not (folder / name).is_file()]
    if missing:
        raise ModelFileError(f"model folder {folder} lacks {missing}", fix)
    config = read_artefact(folder / CONFIG_FILE, load_json_object, "model config", fix)
    if int(config.get("format_version", -1)) != FORMAT_VERSION:
        raise ModelFileError(
            f"model format {config.get('format_version')} is not {FORMAT_VERSION}",
            "re-train with this version of fedqsar",
        )
    files = config.get("files")
    recorded: dict[str, Any] = files if isinstance(files, dict) else {}
    altered = "the model folder was altered after it was saved: restore it from a backup, or re-train the model"
    for name in (WEIGHTS_FILE, TASKS_FILE):
        check_sha256(folder / name, recorded.get(name), altered)
    try:
        n_bits = int(config["n_bits"])
        n_descriptors = int(config.get("n_descriptors", 0))
        model_cfg = from_dict(ModelConfig, config["model_config"], where="config.json model_config")
        train_cfg = from_dict(TrainConfig, config["train_config"], where="config.json train_config")
        endpoints = config.get("head_endpoints", {})
        heads = {
            name: HeadSpec.from_tasks(pd.DataFrame({"kind": kinds, "endpoint": endpoints.get(name, [""] * len(kinds))}))
            for name, kinds in config["heads"].items()
        }
    except (ValueError, KeyError, TypeError, AttributeError, ConfigError) as exc:
        raise CorruptArtefactError(
            folder / CONFIG_FILE, f"model config {folder / CONFIG_FILE} is malformed: {exc}", fix
        ) from exc
    tasks = read_artefact(folder / TASKS_FILE, pd.read_parquet, "model tasks table", fix)
    tensors = read_artefact(folder / WEIGHTS_FILE, lambda path: load_file(str(path)), "model weights", fix)
    model = MultitaskModel(n_bits, model_cfg, heads, n_descriptors)
    try:
        model.load_state_dict(tensors, strict=True)
    except RuntimeError as exc:
        raise CorruptArtefactError(
            folder / WEIGHTS_FILE, f"weights in {folder / WEIGHTS_FILE} do not fit its config.json: {exc}", fix
        ) from exc
    model.eval()
    return SavedModel(
        model=model,
        model_cfg=model_cfg,
        train_cfg=train_cfg,
        tasks=tasks,
        partner=str(config["partner"]),
        prep_hash=str(config["prep_hash"]),
        manifest_hash=str(config["manifest_hash"]),
        key_id=config.get("key_id"),
        prep_config=dict(config.get("prep_config") or {}),
        folder=folder,
    )
