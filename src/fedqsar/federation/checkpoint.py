"""Global trunk checkpoints, one per round: ``round_NNNN.safetensors`` + ``round_NNNN.json``.

The JSON is written last (atomically, by rename) and is what marks a checkpoint complete, so
a server killed while writing leaves at most an orphan ``.safetensors`` that resume ignores.
Resuming picks the highest complete round; the rounds after it run, none twice.

The JSON records the sha256 of the ``.safetensors`` file (``file_sha256``) and of the trunk
arrays (``trunk_sha256``, the ledger's hash); :func:`load_checkpoint` checks both, so a
truncated or replaced checkpoint is refused with a typed error naming it. A strategy with
its own state (FedAdam's moments) stores it beside the trunk in
``round_NNNN.server.safetensors`` (``server_state_sha256``), so a resumed run continues it
exactly.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import load_file, save_file

from fedqsar.errors import ChecksumError
from fedqsar.hashing import sha256_file
from fedqsar.integrity import check_sha256, load_json_object, read_artefact
from fedqsar.ledger import hash_arrays

_NAME = re.compile(r"^round_(\d{4,})\.json$")
SERVER_STATE_SUFFIX = ".server.safetensors"


@dataclass(frozen=True)
class Checkpoint:
    """A completed round's global trunk, its record and the strategy's own state (may be empty)."""

    round: int
    trunk: dict[str, np.ndarray]
    meta: dict[str, Any]
    server_state: dict[str, np.ndarray] = field(default_factory=dict)


def trunk_sha256(state: Mapping[str, np.ndarray]) -> str:
    """The ledger's ``hash_arrays`` of a trunk as float32 (same hash in checkpoints and ledger)."""
    return hash_arrays({name: np.asarray(value, dtype=np.float32) for name, value in state.items()})


def _write_arrays(path: Path, arrays: Mapping[str, np.ndarray]) -> str:
    """Write arrays (in order) atomically; returns the file's sha256."""
    tmp = path.with_name(f".{path.name}.tmp")
    save_file(dict(arrays), str(tmp), metadata={"order": json.dumps(list(arrays))})
    os.replace(tmp, path)
    return sha256_file(path)


def save_checkpoint(
    folder: Path,
    round_number: int,
    trunk: Mapping[str, np.ndarray],
    meta: Mapping[str, Any],
    server_state: Mapping[str, np.ndarray] | None = None,
) -> Path:
    """Write round ``round_number``'s trunk (and strategy state); returns the JSON path (the completion marker)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"round_{round_number:04d}"
    tensors = {name: np.ascontiguousarray(value, dtype=np.float32) for name, value in trunk.items()}
    record: dict[str, Any] = {
        "round": round_number,
        "trunk_sha256": trunk_sha256(tensors),
        "file_sha256": _write_arrays(folder / f"{stem}.safetensors", tensors),
        **meta,
    }
    if server_state:
        state = {name: np.ascontiguousarray(value) for name, value in server_state.items()}
        record["server_state_sha256"] = _write_arrays(folder / f"{stem}{SERVER_STATE_SUFFIX}", state)
    tmp_json = folder / f".{stem}.json.tmp"
    tmp_json.write_text(json.dumps(record, indent=2, sort_keys=True), encoding="utf-8")
    os.replace(tmp_json, folder / f"{stem}.json")
    return folder / f"{stem}.json"


def completed_rounds(folder: Path) -> list[int]:
    """Round numbers with a complete checkpoint in ``folder``, ascending."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(int(m.group(1)) for p in folder.iterdir() if (m := _NAME.match(p.name)))


def load_checkpoint(folder: Path, round_number: int) -> Checkpoint:
    """Read one checkpoint, verifying its files' and its trunk's sha256.

    Raises
    ------
    CorruptArtefactError
        If a file is missing, truncated or malformed.
    ChecksumError
        If a weights file or the trunk differs from the recorded sha256.
    """
    folder = Path(folder)
    stem = f"round_{round_number:04d}"
    weights = folder / f"{stem}.safetensors"
    fix = (
        f"delete {stem}.json, {stem}.safetensors (and {stem}{SERVER_STATE_SUFFIX}) in {folder} to resume from "
        "the round before, or start the run again in a new --out folder"
    )
    meta = read_artefact(folder / f"{stem}.json", load_json_object, "checkpoint record", fix)
    check_sha256(weights, meta.get("file_sha256"), fix)
    trunk = read_artefact(weights, _read_arrays, "checkpoint", fix)
    if trunk_sha256(trunk) != meta.get("trunk_sha256"):
        raise ChecksumError(f"checkpoint {weights} does not match its recorded trunk sha256", fix)
    server_state: dict[str, np.ndarray] = {}
    if meta.get("server_state_sha256"):
        state_file = folder / f"{stem}{SERVER_STATE_SUFFIX}"
        check_sha256(state_file, meta["server_state_sha256"], fix)
        server_state = read_artefact(state_file, _read_arrays, "checkpoint server state", fix)
    return Checkpoint(round_number, trunk, meta, server_state)


def _read_arrays(path: Path) -> dict[str, np.ndarray]:
    """Arrays of a safetensors file in the order they were written."""
    from safetensors import safe_open

    with safe_open(str(path), framework="numpy") as handle:
        order = json.loads((handle.metadata() or {}).get("order", "[]"))
    raw = load_file(str(path))
    return {name: raw[name] for name in (order or sorted(raw))}


def latest_checkpoint(folder: Path) -> Checkpoint | None:
    """The highest complete round's checkpoint, or None when there is none."""
    rounds = completed_rounds(folder)
    return load_checkpoint(folder, rounds[-1]) if rounds else None
