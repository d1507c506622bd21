"""Probes: every corrupt or truncated artefact fedqsar wrote earlier - the PreparedSet's
X/Y/censor ``.npz`` and parquet tables and JSON, a model's safetensors weights, config and tasks,
its trust artefacts, a federation checkpoint, a partner's private state, the run ledger, a
config TOML, a key file - stops with a typed fedqsar error that names the file and the fix,
never a traceback (``zipfile.BadZipFile``, ``SafetensorError``, ...). Weights overwritten with
a file of the same size are caught by the sha256 recorded when they were written."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from fedqsar.errors import EXIT_CODES
from fedqsar.federation.checkpoint import save_checkpoint
from fedqsar.federation.server_app import initial_trunk
from fedqsar.model.config import ModelConfig

from .conftest import Consortium, no_traceback, run_cli

INTEGRITY, INPUT = EXIT_CODES["integrity"], EXIT_CODES["input"]


def truncate(path: Path) -> None:
    """Keep the first half of the file, as an interrupted copy or a full disk leaves it."""
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def overwrite_tail(path: Path) -> None:
    """Same size, different bytes at the end (the head's weights in a model file)."""
    data = bytearray(path.read_bytes())
    data[-64:] = bytes(255 - b for b in data[-64:])
    path.write_bytes(bytes(data))


def _copy(folder: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(folder, tmp_path / folder.name))


def _assert_names(result, code: int, *words: str) -> str:
    output = no_traceback(result)
    assert result.returncode == code, output[-2000:]
    for word in words:
        assert word in result.stderr, result.stderr
    assert "fix:" in result.stderr
    return output


@pytest.mark.parametrize(
    "name", ["X.npz", "Y.npz", "censor.npz", "compounds.parquet", "tasks.parquet", "manifest.json", "accounting.json"]
)
def test_a_damaged_prepared_set_file_is_named(consortium: Consortium, tmp_path: Path, name: str) -> None:
    prepared = _copy(consortium.partners["A"], tmp_path)
    truncate(prepared / name)
    result = run_cli("train", "--data", str(prepared), "--out", str(tmp_path / "model"), "--epochs", "1")
    _assert_names(result, INTEGRITY, str(prepared / name), "corrupt or truncated", "fedqsar prepare")


def test_federate_on_a_truncated_fingerprint_file_stops_before_flower(consortium: Consortium, tmp_path: Path) -> None:
    broken = _copy(consortium.partners["B"], tmp_path)
    truncate(broken / "X.npz")
    out = tmp_path / "run"
    result = run_cli("federate", "--partners", str(consortium.partners["A"]), str(broken), "--out", str(out))
    _assert_names(result, INTEGRITY, str(broken / "X.npz"))
    assert not (out / "flower.log").exists()  # refused before Ray and Flower were started


@pytest.mark.parametrize(
    ("name", "damage", "words"),
    [
        ("model.safetensors", truncate, ("model.safetensors", "sha256")),
        ("model.safetensors", overwrite_tail, ("model.safetensors", "was changed after it was written")),
        ("tasks.parquet", truncate, ("tasks.parquet", "sha256")),
        ("config.json", truncate, ("config.json", "corrupt or truncated")),
        ("trust/calibration.npz", truncate, ("calibration.npz", "corrupt or truncated")),
        ("trust/trust.json", truncate, ("trust.json", "corrupt or truncated")),
    ],
)
def test_a_damaged_model_file_is_named(consortium: Consortium, tmp_path: Path, name: str, damage, words) -> None:
    model = _copy(consortium.model, tmp_path)
    damage(model / name)
    new = tmp_path / "new.csv"
    new.write_text("smiles\nCCO\n", encoding="utf-8")
    result = run_cli(
        "predict",
        "--model",
        str(model),
        "--input",
        str(new),
        "--key",
        str(consortium.key_file),
        "--out",
        str(tmp_path / "p.csv"),
    )
    _assert_names(result, INTEGRITY, *words)
    assert not (tmp_path / "p.csv").exists()  # nothing predicted from damaged weights


def _started_run(consortium: Consortium, tmp_path: Path) -> Path:
    """A run folder as a killed federation leaves it: a round-1 checkpoint of the real trunk."""
    out = tmp_path / "run"
    model_cfg = ModelConfig(hidden_sizes=(16,))
    trunk = initial_trunk(2048, model_cfg)
    save_checkpoint(out / "checkpoints", 1, trunk, {"config_hash": "x", "participants": ["A", "B"]})
    return out


def test_resuming_from_a_truncated_checkpoint_is_refused_at_once(consortium: Consortium, tmp_path: Path) -> None:
    out = _started_run(consortium, tmp_path)
    truncate(out / "checkpoints" / "round_0001.safetensors")
    partners = [str(p) for p in consortium.partners.values()]
    result = run_cli("federate", "--partners", *partners, "--out", str(out), "--no-secagg", "--rounds", "2")
    _assert_names(result, INTEGRITY, "round_0001.safetensors", "delete round_0001.json")
    assert not (out / "flower.log").exists()  # seconds, not after Ray and Flower started


def test_resuming_with_a_damaged_private_state_is_refused_at_once(consortium: Consortium, tmp_path: Path) -> None:
    from safetensors.numpy import save_file

    from fedqsar.hashing import sha256_file

    out = _started_run(consortium, tmp_path)
    state = out / "partners" / "A" / "private_round_0001.safetensors"
    state.parent.mkdir(parents=True)
    save_file({"head.weight": np.ones((4, 4), np.float32)}, str(state))
    state.with_suffix(".json").write_text(f'{{"round": 1, "sha256": "{sha256_file(state)}"}}', encoding="utf-8")
    overwrite_tail(state)
    partners = [str(p) for p in consortium.partners.values()]
    result = run_cli("federate", "--partners", *partners, "--out", str(out), "--no-secagg", "--rounds", "2")
    _assert_names(result, INTEGRITY, "private_round_0001.safetensors")


def test_a_truncated_ledger_is_named(tmp_path: Path) -> None:
    from fedqsar.ledger import Ledger

    ledger = Ledger(tmp_path / "run" / "ledger.sqlite")
    for round_number in range(1, 40):
        ledger.append("round", {"round": round_number, "participants": ["A", "B"], "aggregate_hash": "0" * 64})
    truncate(tmp_path / "run" / "ledger.sqlite")
    result = run_cli("ledger", "verify", str(tmp_path / "run"))
    _assert_names(result, INTEGRITY, "ledger.sqlite")


def test_a_truncated_config_toml_is_named(consortium: Consortium, tmp_path: Path) -> None:
    config = tmp_path / "train.toml"
    config.write_text('epochs = 3\nlr = 0.001\nlr_schedule = "cos', encoding="utf-8")  # cut inside a string
    result = run_cli(
        "train", "--data", str(consortium.partners["A"]), "--out", str(tmp_path / "m"), "--train-config", str(config)
    )
    _assert_names(result, INPUT, str(config), "not valid TOML")


def test_a_truncated_federation_config_is_named(consortium: Consortium, tmp_path: Path) -> None:
    config = tmp_path / "fed.toml"
    config.write_text("[federation]\nrounds = 2\n[model\n", encoding="utf-8")
    partners = [str(p) for p in consortium.partners.values()]
    result = run_cli("federate", "--partners", *partners, "--out", str(tmp_path / "run"), "--config", str(config))
    _assert_names(result, INPUT, str(config))


def test_a_truncated_key_file_is_named(consortium: Consortium, tmp_path: Path) -> None:
    key = tmp_path / "consortium.key"
    shutil.copy(consortium.key_file, key)
    truncate(key)
    new = tmp_path / "new.csv"
    new.write_text("smiles\nCCO\n", encoding="utf-8")
    result = run_cli("predict", "--model", str(consortium.model), "--input", str(new), "--key", str(key))
    _assert_names(result, INPUT, str(key))
