"""One real Flower simulation without SecAgg+ (FedProx, DP on), 4 partners, 2 rounds, with
faults injected inside the partners' nodes: round 1: B sends NaN, C a renamed array, D an
absurdly large update; round 2: C a wrongly shaped array, D dies. Every bad update is rejected
with a logged reason and each round completes with the rest (min_partners=1)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from fedqsar.federation.audit import read_records, wire_recorder
from fedqsar.federation.config import DPConfig, FederationConfig, SecAggConfig
from fedqsar.federation.payload import SIGNAL_IMPROVING
from fedqsar.federation.simulation import run_simulation
from fedqsar.model.config import ModelConfig, TrainConfig
from fedqsar.model.io import load_model
from fedqsar.model.network import INPUT_LAYER_NAMES

MODEL = ModelConfig(hidden_sizes=(32, 16), dropout=0.0)
TRAIN = TrainConfig(epochs=25, batch_size=64, lr=1e-2, early_stopping_patience=5)
FED = FederationConfig(
    rounds=2,
    strategy="fedprox",
    proximal_mu=0.1,
    min_partners=1,
    max_update_norm=1000.0,
    secagg=SecAggConfig(enabled=False),
    dp=DPConfig(enabled=True, clipping_norm=50.0, noise_multiplier=0.3),
)
FAULTS = {("1", 1): "nan", ("1", 2): "rename", ("1", 3): "absurd", ("2", 2): "reshape", ("2", 3): "die"}


def inject_faults(faults: dict):
    """A client mod (inside SecAgg+ position) corrupting replies as ``faults[(round, partition)]`` says."""

    def corrupt(msg, context, call_next):
        fault = faults.get((msg.metadata.group_id, int(context.node_config.get("partition-id", -1))))
        if msg.metadata.message_type != "train" or fault is None:
            return call_next(msg, context)
        if fault == "die":
            raise RuntimeError("simulated partner crash")
        reply = call_next(msg, context)
        record = reply.content.array_records["fitres.parameters"]
        name = next(iter(record.keys()))
        import numpy as np
        from flwr.app import Array

        value = record[name].numpy().copy()
        if fault == "nan":
            value.flat[0] = np.nan
            record[name] = Array(value)
        elif fault == "absurd":
            record[name] = Array(value * 1e6)
        elif fault == "reshape":
            record[name] = Array(value[:-1])
        elif fault == "rename":
            del record[name]
            record[name + "_renamed"] = Array(value)
        return reply

    return corrupt


@pytest.fixture(scope="module")
def plain_run(partners4: dict[str, Path], tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("plain")
    run = run_simulation(
        partners4,
        MODEL,
        TRAIN,
        FED,
        root / "run",
        outer_mods=[wire_recorder(root / "wire")],
        inner_mods=[inject_faults(FAULTS)],
        num_cpus=2,
    )
    return run, root


def test_bad_updates_are_rejected_with_reasons(plain_run) -> None:
    run, _ = plain_run
    rejected = run.summary["rejected_updates"]
    assert sorted(r for r, _, _ in rejected) == [1, 1, 1, 2]
    texts = " | ".join(reason for _, _, reason in rejected)
    for expected in ("NaN or Inf", "unexpected ['hidden.0.weight_renamed']", "exceeds the bound", "has shape"):
        assert expected in texts
    log = (run.out / "flower.log").read_text()
    assert log.count("rejected:") == 4


def test_rounds_complete_with_the_rest(plain_run) -> None:
    run, _ = plain_run
    assert run.summary["participants"] == {"1": ["A"], "2": ["A", "B"]}


def test_dp_reports_epsilon(plain_run) -> None:
    run, _ = plain_run
    epsilon = run.summary["dp_epsilon"]
    assert run.summary["dp_delta"] == 1e-5 and epsilon is not None and math.isfinite(epsilon) and epsilon > 0


def test_wire_audit_plain(plain_run) -> None:
    run, root = plain_run
    records = read_records(root / "wire")
    saved = load_model(run.partner_models["A"])
    # the federated trunk's arrays (the trunk above the private first layer) and the one-float
    # convergence signal, nothing else; no array has a row per fingerprint bit
    shared = saved.model.trunk_state(exclude=INPUT_LAYER_NAMES)
    expected = {k: list(v.shape) for k, v in shared.items()} | {SIGNAL_IMPROVING: [1]}
    assert all(shape[0] != saved.model.n_bits for shape in expected.values())
    trains = [r for r in records if r["incoming_type"] == "train" and r["node"] == "partition-0"]
    assert len(trains) == 2
    for entry in trains:
        content = entry["records"]
        assert set(content) == {"fitres.parameters", "fitres.num_examples", "fitres.metrics", "fitres.status"}
        assert {k: v["shape"] for k, v in content["fitres.parameters"]["entries"].items()} == expected
        assert set(content["fitres.num_examples"]["entries"]) == {"num_examples"}
        assert content["fitres.metrics"]["entries"] == {}
    for entry in records:
        if entry["incoming_type"] == "evaluate":
            assert entry.get("records", {}) == {}
        elif entry["incoming_type"] == "train" and not entry["has_error"]:
            assert set(entry["records"]) == {
                "fitres.parameters",
                "fitres.num_examples",
                "fitres.metrics",
                "fitres.status",
            }


def test_partners_trained_with_private_heads(plain_run) -> None:
    run, _ = plain_run
    heads = {p: load_model(f).model.heads[p].state_dict() for p, f in run.partner_models.items()}
    assert set(heads) == {"A", "B", "C", "D"}
    assert (run.out / "partners" / "D" / "private_round_0001.safetensors").is_file()
    assert not (run.out / "partners" / "D" / "private_round_0002.safetensors").is_file()  # died in round 2
