"""One real Flower simulation with the convergence settings: FedAvgM (server lr, momentum), equal weighting,
fixed local steps, head alignment and shared endpoint heads; 3 partners, 3 rounds, SecAgg+ off."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import numpy as np
import pytest

from fedqsar.federation.checkpoint import load_checkpoint
from fedqsar.federation.config import FederationConfig, SecAggConfig
from fedqsar.federation.simulation import run_simulation
from fedqsar.model.config import ModelConfig, TrainConfig
from fedqsar.model.io import load_model
from fedqsar.model.network import HeadSpec

from .conftest import synthetic_prepared

MODEL = ModelConfig(hidden_sizes=(16, 8), dropout=0.0, endpoint_heads="shared")  # two layers: private_input
TRAIN = TrainConfig(batch_size=32, lr=1e-2)
FED = FederationConfig(
    rounds=3,
    patience=0,
    strategy="fedavgm",
    server_lr=3.0,
    server_momentum=0.5,
    weighting="equal",
    local_steps=3,
    head_steps=2,
    min_partners=1,
    secagg=SecAggConfig(enabled=False),
)


def count_recorder(folder: Path):
    """A client mod writing, per reply, the example count it sends and the handshake's keys (one JSON file each)."""
    root = str(folder)

    def record(msg, context, call_next):
        reply = call_next(msg, context)
        entry = {"type": msg.metadata.message_type}
        if "fitres.num_examples" in reply.content.metric_records:
            entry["num_examples"] = reply.content.metric_records["fitres.num_examples"]["num_examples"]
        if "handshake" in reply.content.config_records:
            entry["handshake"] = sorted(reply.content.config_records["handshake"])
        Path(root).mkdir(parents=True, exist_ok=True)
        (Path(root) / f"{uuid.uuid4().hex}.json").write_text(json.dumps(entry))
        return reply

    return record


@pytest.fixture(scope="module")
def optimiser_run(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("server_optimiser")
    partners = {}
    for i, name in enumerate(("A", "B", "C")):
        prepared = synthetic_prepared(seed=i + 1)
        prepared.tasks = prepared.tasks.assign(endpoint="logD7.4")  # a shareable endpoint
        partners[name] = prepared.save(root / "prepared" / name)
    run = run_simulation(
        partners, MODEL, TRAIN, FED, root / "run", outer_mods=[count_recorder(root / "sent")], num_cpus=2
    )
    return run, root


def test_equal_weighting_sends_count_one_and_no_example_count_in_the_handshake(optimiser_run) -> None:
    _, root = optimiser_run
    sent = [json.loads(p.read_text()) for p in (root / "sent").iterdir()]
    counts = [entry["num_examples"] for entry in sent if "num_examples" in entry]
    assert counts == [1] * 9  # 3 partners x 3 rounds, each weighs 1
    handshakes = [entry["handshake"] for entry in sent if "handshake" in entry]
    assert len(handshakes) == 3 and all("num_examples" not in keys and "prep_hash" in keys for keys in handshakes)


def test_fixed_local_steps_and_head_alignment_continue_the_epoch(optimiser_run) -> None:
    run, _ = optimiser_run
    from safetensors.torch import load_file

    state = load_file(str(run.out / "partners" / "A" / "private_round_0003.safetensors"))
    n_train = 90  # 150 rows, folds 3 and 4 held out
    batches_per_epoch = int(np.ceil(n_train / TRAIN.batch_size))
    done = int(state["trainer.epoch"]) * batches_per_epoch + int(state["trainer.cursor"])
    assert done == 3 * FED.local_steps + 2 * FED.head_steps  # head alignment before rounds 2 and 3


def test_server_momentum_is_checkpointed_and_the_shared_heads_federate(optimiser_run) -> None:
    run, _ = optimiser_run
    last = load_checkpoint(run.out / "checkpoints", 3)
    assert set(last.server_state) == {f"momentum_vector/{i:04d}" for i in range(len(last.trunk))}
    assert "endpoint_head.weight" in last.trunk
    saved = load_model(run.partner_models["B"])
    head = saved.model.heads["B"]
    assert head.calibrated and head.linear is None  # every task of B reads the shared logD7.4 column
    assert np.array_equal(saved.model.trunk_state()["endpoint_head.weight"], last.trunk["endpoint_head.weight"])
    assert saved.model.head_specs["B"] == HeadSpec.from_tasks(saved.tasks)
