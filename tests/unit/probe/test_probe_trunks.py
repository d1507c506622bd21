"""The probe on what a consortium publishes: a trunk without its first layer (private_input) or a whole one."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from fedqsar.errors import TrunkStateError
from fedqsar.model.config import ModelConfig, TrainConfig
from fedqsar.model.network import DESCRIPTOR_WEIGHTS, INPUT_LAYER_NAMES, HeadSpec, MultitaskModel
from fedqsar.model.personalise import PersonalisationConfig
from fedqsar.model.trunk_file import read_trunk, write_trunk
from fedqsar.prep.keys import generate_key
from fedqsar.prepared import PreparedSet
from fedqsar.probe import ProbeConfig, run_probe
from fedqsar.probe.run import _consortium_model

from .synthetic import N_BITS, partner_set

MODEL = ModelConfig(hidden_sizes=(32, 16), init_seed=5)
N_DESCRIPTORS = 3
TRAIN = TrainConfig(epochs=3, batch_size=64, early_stopping_patience=2)
FAST = ProbeConfig(train=TRAIN, personalisation=PersonalisationConfig(head_epochs=2, full_epochs=2))


def _with_descriptors(prepared: PreparedSet) -> PreparedSet:
    """``prepared`` with a seeded dense descriptor block of ``N_DESCRIPTORS`` columns."""
    block = np.random.default_rng(7).normal(size=(prepared.n_compounds, N_DESCRIPTORS)).astype(np.float32)
    manifest = {**prepared.manifest, "descriptors": [f"d{i}" for i in range(N_DESCRIPTORS)]}
    return replace(prepared, descriptors=block, manifest=manifest)


def _published(
    folder: Path, key_id: str, partner_tensors: tuple[str, ...], defence: str, n_descriptors: int = 0
) -> dict[str, np.ndarray]:
    """A consortium trunk (the seeded network's trunk, shifted so it differs from the start) without ``partner_tensors``."""
    model = MultitaskModel(N_BITS, MODEL, {"_": HeadSpec(1, 0)}, n_descriptors)
    state = {name: value + 0.25 for name, value in model.trunk_state(exclude=partner_tensors).items()}
    write_trunk(
        folder,
        state,
        model_cfg=MODEL,
        train_cfg=TRAIN,
        personalisation={},
        n_bits=N_BITS,
        prep_hash="hash-A",
        key_id=key_id,
        partner_tensors=partner_tensors,
        defence=defence,
    )
    return state


def test_a_candidate_starts_its_own_first_layer_as_a_member_does(tmp_path: Path) -> None:
    key = generate_key()
    published = _published(tmp_path / "trunk", key.key_id, INPUT_LAYER_NAMES, "private_input")
    trunk = read_trunk(tmp_path / "trunk")
    assert trunk.partner_tensors == INPUT_LAYER_NAMES and trunk.defence == "private_input"
    candidate = partner_set(seed=4, n_rows=120, key_id=key.key_id)
    model = _consortium_model(trunk, "candidate", candidate)
    member = MultitaskModel(N_BITS, MODEL, {"member": HeadSpec.from_tasks(candidate.tasks)}).trunk_state()
    state = model.trunk_state()
    assert all(np.array_equal(state[name], member[name]) for name in INPUT_LAYER_NAMES)  # from init_seed
    assert all(np.array_equal(state[name], published[name]) for name in published)  # the consortium's layers


OWN_WITH_DESCRIPTORS = (*INPUT_LAYER_NAMES, DESCRIPTOR_WEIGHTS)


@pytest.mark.parametrize(
    ("partner_tensors", "defence", "n_descriptors", "trained"),
    [
        (INPUT_LAYER_NAMES, "private_input", 0, ["head", *INPUT_LAYER_NAMES]),
        (OWN_WITH_DESCRIPTORS, "private_input", N_DESCRIPTORS, ["head", *OWN_WITH_DESCRIPTORS]),
        ((), "none", 0, ["head"]),
        ((), "none", N_DESCRIPTORS, ["head"]),
    ],
)
def test_probe_runs_on_either_published_trunk(
    tmp_path: Path, partner_tensors: tuple[str, ...], defence: str, n_descriptors: int, trained: list[str]
) -> None:
    key = generate_key()
    _published(tmp_path / "trunk", key.key_id, partner_tensors, defence, n_descriptors)
    candidate = partner_set(seed=4, n_rows=160, key_id=key.key_id)
    folder = (_with_descriptors(candidate) if n_descriptors else candidate).save(tmp_path / "candidate")
    result = run_probe(tmp_path / "trunk", folder, key, tmp_path / "out", FAST)
    record = json.loads((tmp_path / "out" / "probe.json").read_text(encoding="utf-8"))
    assert record["trunk"]["defence"] == defence and record["trunk"]["partner_tensors"] == list(partner_tensors)
    assert record["stages"]["head_on_trunk"]["trained"] == trained
    assert result.verdict.code in ("help", "not_help", "cannot_tell") and len(result.summary)


def test_a_trunk_missing_tensors_it_does_not_name_as_the_partners_is_refused(tmp_path: Path) -> None:
    key = generate_key()
    _published(tmp_path / "trunk", key.key_id, INPUT_LAYER_NAMES, "private_input")
    record_file = tmp_path / "trunk" / "consortium_trunk.json"
    record = json.loads(record_file.read_text(encoding="utf-8"))
    record["partner_tensors"] = []  # the first layer is absent and nobody is said to own it
    record_file.write_text(json.dumps(record), encoding="utf-8")
    folder = partner_set(seed=4, n_rows=120, key_id=key.key_id).save(tmp_path / "candidate")
    with pytest.raises(TrunkStateError, match="missing"):
        run_probe(tmp_path / "trunk", folder, key, tmp_path / "out", FAST)
    assert not (tmp_path / "out" / "probe.json").exists()
