"""The publishable consortium trunk: ``consortium_trunk.safetensors`` + ``consortium_trunk.json``.

At the end of a federated run the server writes the final global trunk as one artefact a
consortium can hand to a *candidate* member (``fedqsar probe``): the trunk arrays only — no
head, no partner's private state, nothing a member did not already receive every round —
and, in the JSON, what the candidate needs to use it and to check that its own PreparedSet
fits: the prep hash and consortium key id every member prepared with, the fingerprint width,
the network shape (``ModelConfig``), the consortium's training and personalisation settings,
and the sha256 of the weights file (checked on every read). No pickle anywhere.

The file holds what was federated, nothing more. Under the bit-privacy defence
``private_input`` (the default, ``federation.defences``) every partner keeps its own first
trunk layer, so the file holds the layers above it; the record names the run's ``defence``
and, in ``partner_tensors``, the trunk tensors each partner owns and the file lacks. A
candidate builds those the way a federating partner starts them — from the network seeded
by ``model_config.init_seed`` — and trains them itself (``fedqsar probe``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import load_file, save_file

from fedqsar.config import from_dict, to_dict
from fedqsar.errors import (
    ConfigError,
    CorruptArtefactError,
    IncompatiblePartnersError,
    KeyMismatchError,
    ModelFileError,
)
from fedqsar.hashing import sha256_file
from fedqsar.integrity import check_sha256, load_json_object, read_artefact
from fedqsar.model.config import ModelConfig, TrainConfig
from fedqsar.prep.manifest import Manifest

TRUNK_DIR = "trunk"
WEIGHTS_FILE = "consortium_trunk.safetensors"
RECORD_FILE = "consortium_trunk.json"
FORMAT = "fedqsar-consortium-trunk"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class ConsortiumTrunk:
    """A published consortium trunk, read and verified.

    Attributes
    ----------
    state
        Trunk arrays (float32), names and order of ``MultitaskModel.trunk_state()``.
    model_cfg
        Network shape the trunk belongs to.
    train_cfg
        The consortium's training settings (the candidate's default budget).
    personalisation
        The consortium's ``PersonalisationConfig`` as a plain dict (fine-tuning budget).
    n_bits, prep_hash, key_id
        What the candidate's PreparedSet must match.
    partner_tensors
        Trunk tensors not in ``state``: each partner's own (its first layer under
        ``private_input``), built from ``model_cfg.init_seed`` and trained by whoever uses the trunk.
    defence
        The run's bit-privacy defence (``FederationConfig.bit_privacy.defence``).
    record
        The whole JSON record (provenance: rounds, number of partners, hashes, creation time).
    folder
        Where it was read from.
    """

    state: dict[str, np.ndarray]
    model_cfg: ModelConfig
    train_cfg: TrainConfig
    personalisation: dict[str, Any]
    n_bits: int
    prep_hash: str
    key_id: str
    partner_tensors: tuple[str, ...] = ()
    defence: str = "none"
    record: dict[str, Any] = field(default_factory=dict)
    folder: Path = Path(".")


def write_trunk(
    folder: Path,
    state: Mapping[str, np.ndarray],
    *,
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    personalisation: Mapping[str, Any],
    n_bits: int,
    prep_hash: str,
    key_id: str,
    partner_tensors: Sequence[str] = (),
    defence: str = "none",
    provenance: Mapping[str, Any] | None = None,
) -> Path:
    """Write the trunk artefact into ``folder`` (created); returns the JSON record's path.

    ``state`` is the federated trunk; ``partner_tensors`` names the trunk tensors each partner
    keeps as its own (not in ``state``), ``defence`` the run's bit-privacy defence.

    The weights file is written first and its sha256 goes into the JSON, written last: a
    record always names complete weights.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {name: np.ascontiguousarray(value, dtype=np.float32) for name, value in state.items()}
    weights = folder / WEIGHTS_FILE
    save_file(tensors, str(weights), metadata={"format": FORMAT, "order": json.dumps(list(tensors))})
    record = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "weights": WEIGHTS_FILE,
        "weights_sha256": sha256_file(weights),
        "prep_hash": str(prep_hash),
        "key_id": str(key_id),
        "n_bits": int(n_bits),
        "model_config": to_dict(model_cfg),
        "train_config": to_dict(train_cfg),
        "personalisation_config": dict(personalisation),
        "arrays": {name: list(value.shape) for name, value in tensors.items()},
        "defence": str(defence),
        "partner_tensors": list(partner_tensors),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        **dict(provenance or {}),
    }
    path = folder / RECORD_FILE
    path.write_text(json.dumps(record, indent=2, sort_keys=True, default=str), encoding="utf-8")
    return path


def record_path(path: Path) -> Path:
    """The JSON record for ``path``: the record itself, its weights file, or a folder holding it."""
    path = Path(path)
    if path.is_dir():
        for candidate in (path / RECORD_FILE, path / TRUNK_DIR / RECORD_FILE):
            if candidate.is_file():
                return candidate
        return path / RECORD_FILE
    if path.name == WEIGHTS_FILE:
        return path.with_name(RECORD_FILE)
    return path


def read_trunk(path: Path) -> ConsortiumTrunk:
    """Read and verify a trunk artefact (the JSON, its weights file, or their folder).

    Raises
    ------
    CorruptArtefactError
        A file is missing, truncated or not a trunk record.
    ChecksumError
        The weights' sha256 differs from the one the record holds (the file was altered).
    ModelFileError
        The record is of another format version, or the arrays do not match its shapes.
    """
    record_file = record_path(path)
    fix = "ask the consortium for its trunk folder (`fedqsar federate` writes RUN/trunk/) and pass --trunk to it"
    record = read_artefact(record_file, load_json_object, "consortium trunk record", fix)
    if record.get("format") != FORMAT:
        raise ModelFileError(f"{record_file} is not a fedqsar consortium trunk record", fix)
    if int(record.get("format_version", -1)) != FORMAT_VERSION:
        raise ModelFileError(
            f"{record_file} has trunk format {record.get('format_version')}, this fedqsar reads {FORMAT_VERSION}",
            "ask the consortium for a trunk written by the same fedqsar version",
        )
    weights = record_file.with_name(str(record.get("weights", WEIGHTS_FILE)))
    check_sha256(weights, record.get("weights_sha256"), "fetch the trunk folder again from the consortium")
    state = read_artefact(weights, lambda p: load_file(str(p)), "consortium trunk weights", fix)
    try:
        model_cfg = from_dict(ModelConfig, record["model_config"], where=f"{record_file.name} model_config")
        train_cfg = from_dict(TrainConfig, record.get("train_config", {}), where=f"{record_file.name} train_config")
    except (KeyError, ConfigError) as exc:
        raise ModelFileError(f"cannot read the settings in {record_file}: {exc}", fix) from exc
    shapes = {name: tuple(shape) for name, shape in record.get("arrays", {}).items()}
    found = {name: tuple(value.shape) for name, value in state.items()}
    if shapes != found:
        raise CorruptArtefactError(weights, f"the arrays in {weights} ({found}) differ from the record ({shapes})", fix)
    partner_tensors = tuple(str(name) for name in record.get("partner_tensors", ()))
    if set(partner_tensors) & set(state):
        raise ModelFileError(f"{record_file} names arrays it holds as partner-owned: {partner_tensors}", fix)
    return ConsortiumTrunk(
        state={name: np.asarray(value, dtype=np.float32) for name, value in state.items()},
        model_cfg=model_cfg,
        train_cfg=train_cfg,
        personalisation=dict(record.get("personalisation_config") or {}),
        n_bits=int(record["n_bits"]),
        prep_hash=str(record["prep_hash"]),
        key_id=str(record["key_id"]),
        partner_tensors=partner_tensors,
        defence=str(record.get("defence", "none")),
        record=record,
        folder=record_file.parent,
    )


def check_fits(trunk: ConsortiumTrunk, manifest: Mapping[str, Any], n_bits: int, where: str) -> None:
    """Refuse a PreparedSet that was not prepared like the consortium's members.

    Raises
    ------
    KeyMismatchError
        The PreparedSet was prepared with another consortium key.
    IncompatiblePartnersError
        Its prep hash or fingerprint width differs (each named with both values and the fix).
    """
    fix = (
        "re-run `fedqsar prepare` on your data with the consortium's key file (--key) and its prep config "
        "(--config, the consortium's prep_config.toml); the fold scheme may differ, nothing else"
    )
    recorded = Manifest.from_dict(manifest)
    if recorded.key_id != trunk.key_id:
        raise KeyMismatchError(
            f"{where} cannot use the consortium trunk {trunk.folder}: key id {recorded.key_id!r} != the "
            f"consortium's {trunk.key_id!r}",
            fix,
        )
    problems = []
    if recorded.prep_hash != trunk.prep_hash:
        problems.append(f"prep hash {recorded.prep_hash!r} != the consortium's {trunk.prep_hash!r}")
    if int(n_bits) != trunk.n_bits:
        problems.append(f"{n_bits} fingerprint bits != the consortium's {trunk.n_bits}")
    if problems:
        raise IncompatiblePartnersError(
            f"{where} cannot use the consortium trunk {trunk.folder}: " + "; ".join(problems), fix
        )
