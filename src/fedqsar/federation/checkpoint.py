"""Global trunk checkpoints, one per round: ``round_NNNN.safetensors`` + ``round_NNNN.json``.

The JSON is written last (atomically, by rename) and is what marks a checkpoint complete, so
a server killed while writing leaves at most an orphan ``.safetensors`` that resume ignores.
Resuming picks the highest complete round; the rounds after it run, none twice.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import load_file, save_file

from fedqsar.errors import FederationError
from fedqsar.ledger import hash_arrays

_NAME = re.compile(r"^round_(\d{4,})\.json$")


@dataclass(frozen=True)
class Checkpoint:
    """A completed round's global trunk and its record."""

    round: int
    trunk: dict[str, np.ndarray]
    meta: dict[str, Any]


def trunk_sha256(state: Mapping[str, np.ndarray]) -> str:
    """The ledger's ``hash_arrays`` of a trunk as float32 (same hash in checkpoints and ledger)."""
    return hash_arrays({name: np.asarray(value, dtype=np.float32) for name, value in state.items()})


def save_checkpoint(folder: Path, round_number: int, trunk: Mapping[str, np.ndarray], meta: Mapping[str, Any]) -> Path:
    """Write round ``round_number``'s trunk; returns the JSON path (the completion marker)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"round_{round_number:04d}"
    tensors = {name: np.ascontiguousarray(value, dtype=np.float32) for name, value in trunk.items()}
    tmp = folder / f".{stem}.safetensors.tmp"
    save_file(tensors, str(tmp), metadata={"order": json.dumps(list(tensors))})
    os.replace(tmp, folder / f"{stem}.safetensors")
    record = {"round": round_number, "trunk_sha256": trunk_sha256(tensors), **meta}
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
    """Read one checkpoint, verifying its hash.

    Raises
    ------
    FederationError
        If a file is missing or the trunk's hash differs from the recorded one.
    """
    folder = Path(folder)
    stem = f"round_{round_number:04d}"
    try:
        meta = json.loads((folder / f"{stem}.json").read_text(encoding="utf-8"))
        raw = load_file(str(folder / f"{stem}.safetensors"))
    except (OSError, ValueError) as exc:
        raise FederationError(
            f"checkpoint {folder / stem} is unreadable: {exc}",
            "delete that round's files to resume from the round before",
        ) from exc
    order = json.loads(_metadata(folder / f"{stem}.safetensors").get("order", "[]")) or sorted(raw)
    trunk = {name: raw[name] for name in order}
    if trunk_sha256(trunk) != meta.get("trunk_sha256"):
        raise FederationError(
            f"checkpoint {folder / stem} does not match its recorded sha256",
            "delete that round's files to resume from the round before",
        )
    return Checkpoint(round_number, trunk, meta)


def latest_checkpoint(folder: Path) -> Checkpoint | None:
    """The highest complete round's checkpoint, or None when there is none."""
    rounds = completed_rounds(folder)
    return load_checkpoint(folder, rounds[-1]) if rounds else None


def _metadata(path: Path) -> dict[str, str]:
    from safetensors import safe_open

    with safe_open(str(path), framework="numpy") as handle:
        return dict(handle.metadata() or {})
