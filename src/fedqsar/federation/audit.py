"""Wire audit: record what a partner's node actually sends, as a Flower client mod.

``wire_recorder(folder)`` returns a mod; put it outermost (``outer_mods``) to see exactly the
bytes that leave the node (after SecAgg+ masking), or innermost (``inner_mods``) to see the
update before masking. Each reply becomes ``folder/<node>/<n>.json`` (what records and keys it
holds, dtypes, shapes, byte counts) and, for array records, ``<n>.npz`` with the arrays.
"""

from __future__ import annotations

import itertools
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
from flwr.app import Context, Message, RecordDict
from flwr.clientapp.typing import ClientAppCallable, Mod
from flwr.common.secure_aggregation.secaggplus_constants import RECORD_KEY_CONFIGS

_COUNTER = itertools.count()


def describe_content(content: RecordDict) -> dict[str, Any]:
    """JSON description of a RecordDict: record kind, keys, dtypes/shapes or value types, bytes.

    Returns
    -------
    dict
        ``{"records": {name: {"kind": "array"|"metric"|"config", "entries": {key: ...}}},
        "payload_bytes": int}``; payload bytes count array data and bytes values.
    """
    records: dict[str, Any] = {}
    total = 0
    for name, arrays in content.array_records.items():
        array_entries: dict[str, dict[str, Any]] = {
            key: {"dtype": array.dtype, "shape": list(array.shape), "bytes": len(array.data)}
            for key, array in arrays.items()
        }
        total += sum(int(e["bytes"]) for e in array_entries.values())
        records[name] = {"kind": "array", "entries": array_entries}
    for name, metrics in content.metric_records.items():
        records[name] = {"kind": "metric", "entries": {k: _value_kind(v) for k, v in metrics.items()}}
    for name, configs in content.config_records.items():
        config_entries = {k: _value_kind(v) for k, v in configs.items()}
        total += sum(int(e.get("bytes", 0)) for e in config_entries.values())
        records[name] = {"kind": "config", "entries": config_entries}
    return {"records": records, "payload_bytes": int(total)}


def _value_kind(value: Any) -> dict[str, Any]:
    if isinstance(value, bytes):
        return {"type": "bytes", "bytes": len(value)}
    if isinstance(value, list):
        size = sum(len(v) for v in value if isinstance(v, bytes)) + 8 * sum(
            1 for v in value if not isinstance(v, bytes)
        )
        kinds = sorted({type(v).__name__ for v in value})
        return {"type": "list", "item_types": kinds, "length": len(value), "bytes": size}
    return {"type": type(value).__name__, "bytes": len(value) if isinstance(value, str) else 8}


def _secagg_stage(msg: Message) -> str | None:
    if msg.has_content() and RECORD_KEY_CONFIGS in msg.content.config_records:
        return str(msg.content.config_records[RECORD_KEY_CONFIGS].get("stage"))
    return None


def _node_label(context: Context) -> str:
    config = context.node_config
    if "partner" in config:
        return str(config["partner"])
    return f"partition-{config.get('partition-id', context.node_id)}"


def wire_recorder(folder: Path, keep_arrays: bool = True) -> Mod:
    """A client mod writing a description of every reply its node sends (see module docstring)."""
    root = str(folder)

    def record_replies(msg: Message, context: Context, call_next: ClientAppCallable) -> Message:
        stage = _secagg_stage(msg)  # read before SecAgg+ consumes it
        reply = call_next(msg, context)
        target = Path(root) / _node_label(context)
        target.mkdir(parents=True, exist_ok=True)
        stem = f"{os.getpid()}-{next(_COUNTER):05d}-{msg.metadata.message_id[:8]}"
        entry = {
            "incoming_type": msg.metadata.message_type,
            "group_id": msg.metadata.group_id,
            "stage": stage,
            "has_error": reply.has_error(),
        }
        if reply.has_content():
            entry.update(describe_content(reply.content))
            arrays = {
                f"{name}::{key}": array.numpy()
                for name, record in reply.content.array_records.items()
                for key, array in record.items()
            }
            if keep_arrays and arrays:
                np.savez(target / f"{stem}.npz", allow_pickle=False, **arrays)
        (target / f"{stem}.json").write_text(json.dumps(entry, sort_keys=True), encoding="utf-8")
        return reply

    return record_replies


def read_records(folder: Path) -> list[dict[str, Any]]:
    """Every recorded reply under ``folder`` (each with ``node`` and, if saved, ``arrays``)."""
    out = []
    for path in sorted(Path(folder).glob("*/*.json")):
        entry = json.loads(path.read_text(encoding="utf-8"))
        entry["node"] = path.parent.name
        npz = path.with_suffix(".npz")
        if npz.is_file():
            with np.load(npz) as data:
                entry["arrays"] = {k: data[k] for k in data.files}
        out.append(entry)
    return out
