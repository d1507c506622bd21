"""Fast unit tests: update validation, manifest guard, checkpoints, strategy guard, DP accounting."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from flwr.common import Code, FitRes, Status, ndarrays_to_parameters, parameters_to_ndarrays

from fedqsar.errors import (
    ChecksumError,
    CompatibilityError,
    FederationError,
    IncompatiblePartnersError,
    MalformedUpdateError,
)
from fedqsar.federation.checkpoint import completed_rounds, latest_checkpoint, load_checkpoint, save_checkpoint
from fedqsar.federation.config import DPConfig, FederationConfig, SecAggConfig
from fedqsar.federation.guards import check_compatible, handshake_summary
from fedqsar.federation.payload import TrunkSpec, check_update, fit_reply_content, read_fit_reply
from fedqsar.federation.strategy import DPAccountant, build_strategy

TRUNK = {"input.weight": np.ones((8, 4), np.float32), "input.bias": np.zeros(4, np.float32)}
SPEC = TrunkSpec.of(TRUNK)


def test_fit_reply_round_trip_holds_only_trunk_and_count() -> None:
    content = fit_reply_content(TRUNK, 17)
    assert set(content.keys()) == {"fitres.parameters", "fitres.num_examples", "fitres.metrics", "fitres.status"}
    state, count = read_fit_reply(content, SPEC)
    assert count == 17 and all(np.array_equal(state[k], TRUNK[k]) for k in TRUNK)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: {**s, "input.weight": np.full((8, 4), np.nan, np.float32)}, "NaN or Inf"),
        (lambda s: {**s, "input.bias": np.array([np.inf, 0, 0, 0], np.float32)}, "NaN or Inf"),
        (lambda s: {**s, "input.weight": np.ones((7, 4), np.float32)}, "has shape"),
        (
            lambda s: {"input.weight": s["input.weight"], "extra": s["input.bias"]},
            "missing \\['input.bias'\\], unexpected \\['extra'\\]",
        ),
        (lambda s: {k: v * 1e6 for k, v in s.items()}, "exceeds the bound"),
    ],
)
def test_malformed_updates_are_named(change, message) -> None:
    with pytest.raises(MalformedUpdateError, match=message):
        check_update(change(TRUNK), SPEC, reference=TRUNK, max_update_norm=100.0)


def test_bad_example_count_is_refused() -> None:
    content = fit_reply_content(TRUNK, 1)
    content.metric_records["fitres.num_examples"]["num_examples"] = 0
    with pytest.raises(MalformedUpdateError, match="example count"):
        read_fit_reply(content, SPEC)


def _summary(prep_hash="h1", key_id="k1", n_bits=1024, radius=3) -> dict:
    manifest = {
        "prep_hash": prep_hash,
        "key_id": key_id,
        "format_version": 1,
        "fingerprint": {"n_bits": n_bits, "radius": radius},
        "prep_config": {"fingerprint": {"radius": radius}},
    }
    return handshake_summary(manifest, n_bits)


def test_guard_accepts_identical_settings() -> None:
    check_compatible({"A": _summary(), "B": _summary(), "C": _summary()})


@pytest.mark.parametrize(
    ("other", "named"),
    [
        (dict(prep_hash="h2"), "prep_hash: 'h1' != 'h2'"),
        (dict(key_id="k2"), "key_id: 'k1' != 'k2'"),
        (dict(n_bits=2048), "n_bits: 1024 != 2048"),
        (dict(radius=2), "fingerprint"),
    ],
)
def test_guard_names_the_difference(other, named) -> None:
    with pytest.raises(IncompatiblePartnersError, match="'A' and 'C'") as info:
        check_compatible({"A": _summary(), "B": _summary(), "C": _summary(**other)})
    assert named in info.value.what and isinstance(info.value, CompatibilityError) and info.value.exit_code == 3


def test_checkpoints_resume_from_latest_complete_round(tmp_path: Path) -> None:
    for r in (1, 2):
        save_checkpoint(tmp_path, r, {k: v + r for k, v in TRUNK.items()}, {"config_hash": "c"})
    (tmp_path / "round_0003.safetensors").write_bytes(b"half-written")  # no JSON marker: ignored
    assert completed_rounds(tmp_path) == [1, 2]
    latest = latest_checkpoint(tmp_path)
    assert latest is not None and latest.round == 2 and list(latest.trunk) == list(TRUNK)
    assert np.array_equal(latest.trunk["input.weight"], TRUNK["input.weight"] + 2)


def test_tampered_checkpoint_is_refused(tmp_path: Path) -> None:
    save_checkpoint(tmp_path, 1, TRUNK, {})
    save_checkpoint(tmp_path / "other", 1, {k: v * 2 for k, v in TRUNK.items()}, {})
    (tmp_path / "round_0001.safetensors").write_bytes((tmp_path / "other" / "round_0001.safetensors").read_bytes())
    with pytest.raises(ChecksumError, match="round_0001.safetensors was changed") as info:
        load_checkpoint(tmp_path, 1)
    assert "delete round_0001.json" in info.value.fix and info.value.exit_code == 4


class _Proxy:
    def __init__(self, node_id: int) -> None:
        self.node_id = node_id
        self.cid = str(node_id)


def _results(arrays_list, counts):
    return [
        (_Proxy(i), FitRes(Status(Code.OK, ""), ndarrays_to_parameters(a), n, {}))
        for i, (a, n) in enumerate(zip(arrays_list, counts, strict=True))
    ]


def test_strategy_weights_by_examples_and_refuses_below_minimum() -> None:
    cfg = FederationConfig(strategy="fedavg", min_partners=2, secagg=SecAggConfig(enabled=False))
    strategy = build_strategy(cfg, SPEC.to_list(TRUNK), SPEC, 3, {})
    a = [np.zeros((8, 4), np.float32), np.zeros(4, np.float32)]
    b = [np.ones((8, 4), np.float32) * 4, np.ones(4, np.float32) * 4]
    aggregated, _ = strategy.aggregate_fit(1, _results([a, b], [3, 1]), [])
    assert np.allclose(parameters_to_ndarrays(aggregated)[0], 1.0)  # (0*3 + 4*1) / 4
    assert strategy.last_participants == [0, 1]
    refused, _ = strategy.aggregate_fit(2, _results([a], [3]), [RuntimeError("died")])
    assert refused is None and "min_partners=2" in strategy.rejections[0][1]


def test_strategy_refuses_non_finite_aggregate() -> None:
    strategy = build_strategy(FederationConfig(min_partners=1), SPEC.to_list(TRUNK), SPEC, 3, {})
    bad = [np.full((8, 4), np.nan, np.float32), np.zeros(4, np.float32)]
    aggregated, _ = strategy.aggregate_fit(1, _results([bad], [5]), [])
    assert aggregated is None and "NaN" in strategy.rejections[0][1]


def test_dp_noise_and_epsilon_grow_with_rounds() -> None:
    cfg = FederationConfig(min_partners=1, dp=DPConfig(enabled=True, clipping_norm=1.0, noise_multiplier=1.0))
    strategy = build_strategy(cfg, SPEC.to_list(TRUNK), SPEC, 4, {})
    zeros = [np.zeros((8, 4), np.float32), np.zeros(4, np.float32)]
    first, _ = strategy.aggregate_fit(1, _results([zeros] * 4, [1] * 4), [])
    assert np.std(parameters_to_ndarrays(first)[0]) > 0.05  # noise std = 1.0 * 1.0 / 4
    eps1 = strategy.privacy.epsilon
    strategy.aggregate_fit(2, _results([zeros] * 4, [1] * 4), [])
    assert 0 < eps1 < strategy.privacy.epsilon
    accountant = DPAccountant(DPConfig(enabled=True, noise_multiplier=1.0, delta=1e-5), 4)
    assert accountant.epsilon == 0.0


@pytest.mark.parametrize(
    ("strategy", "extra", "state_names"),
    [
        ("fedadam", {"server_lr": 0.1}, ["m_t/0000", "m_t/0001", "v_t/0000", "v_t/0001"]),
        ("fedavgm", {"server_lr": 3.0, "server_momentum": 0.9}, ["momentum_vector/0000", "momentum_vector/0001"]),
    ],
)
def test_server_optimiser_and_dp_state_survive_a_checkpoint(
    tmp_path: Path, strategy: str, extra: dict, state_names: list[str]
) -> None:
    """A strategy resumed from a checkpoint continues bit for bit: server moments/momentum, refusals, DP releases."""
    cfg = FederationConfig(strategy=strategy, min_partners=2, secagg=SecAggConfig(enabled=False), **extra)
    updates = [
        [[np.full((8, 4), float(i + r), np.float32), np.full(4, float(r - i), np.float32)] for i in range(3)]
        for r in range(4)
    ]

    def run(strategy, rounds, start):
        for r in rounds:
            aggregated, _ = strategy.aggregate_fit(r, _results(updates[r], [1, 2, 3]), [])
            start = parameters_to_ndarrays(aggregated)
            strategy.use_global(start)
        return start

    straight = build_strategy(cfg, SPEC.to_list(TRUNK), SPEC, 3, {})
    expected = run(straight, range(4), SPEC.to_list(TRUNK))
    first = build_strategy(cfg, SPEC.to_list(TRUNK), SPEC, 3, {})
    halfway = run(first, range(2), SPEC.to_list(TRUNK))
    first.rejections.append((1, "a refusal"))
    save_checkpoint(tmp_path, 2, SPEC.to_dict(halfway), {"refused_rounds": first.rejections}, first.server_state())
    checkpoint = load_checkpoint(tmp_path, 2)
    assert sorted(checkpoint.server_state) == state_names
    resumed = build_strategy(cfg, list(checkpoint.trunk.values()), SPEC, 3, {})
    resumed.resume_from(checkpoint.server_state, checkpoint.meta)
    assert resumed.rejections == [(1, "a refusal")]
    assert all(np.array_equal(a, b) for a, b in zip(run(resumed, range(2, 4), None), expected, strict=True))
    dp = FederationConfig(min_partners=1, dp=DPConfig(enabled=True, clipping_norm=1.0, noise_multiplier=1.0))
    accounted = build_strategy(dp, SPEC.to_list(TRUNK), SPEC, 4, {})
    accounted.resume_from({}, {"dp_releases": 3})
    assert accounted.privacy.releases == 3 and accounted.privacy.epsilon > 0


def test_float16_wire_halves_bytes_and_reads_back_as_float32() -> None:
    big = {"input.weight": np.random.default_rng(0).normal(size=(512, 64)).astype(np.float32)}

    def wire_bytes(dtype: str) -> int:
        return sum(len(a.data) for a in fit_reply_content(big, 3, dtype).array_records["fitres.parameters"].values())

    assert wire_bytes("float16") < 0.51 * wire_bytes("float32")
    state, _ = read_fit_reply(fit_reply_content(big, 3, "float16"), TrunkSpec.of(big))
    assert np.allclose(state["input.weight"], big["input.weight"], atol=2e-3)
    assert all(v.dtype == np.float32 for v in state.values())


def test_float16_wire_needs_secagg_off() -> None:
    with pytest.raises(ValueError, match="secagg"):
        FederationConfig(wire_dtype="float16")
    FederationConfig(wire_dtype="float16", secagg=SecAggConfig(enabled=False))


def test_a_finished_run_folder_is_not_restarted(tmp_path: Path) -> None:
    from fedqsar.federation.simulation import refuse_finished
    from fedqsar.ledger import Ledger

    refuse_finished(tmp_path)  # empty folder: fine
    ledger = Ledger(tmp_path / "ledger.sqlite")
    ledger.append("run_start", {"config_hash": "c"})
    refuse_finished(tmp_path)  # interrupted run: resumable
    ledger.append("run_end", {})
    with pytest.raises(FederationError, match="already finished"):
        refuse_finished(tmp_path)


def test_a_replaced_server_state_file_is_refused(tmp_path: Path) -> None:
    """The server optimiser's state is sha256-checked like the trunk: a swapped file stops the resume."""
    state = {"momentum_vector/0000": np.full((8, 4), 0.5, np.float32)}
    save_checkpoint(tmp_path, 1, TRUNK, {"config_hash": "c"}, state)
    assert np.array_equal(
        load_checkpoint(tmp_path, 1).server_state["momentum_vector/0000"], state["momentum_vector/0000"]
    )
    save_checkpoint(
        tmp_path / "other", 1, TRUNK, {"config_hash": "c"}, {"momentum_vector/0000": np.zeros((8, 4), np.float32)}
    )
    (tmp_path / "round_0001.server.safetensors").write_bytes(
        (tmp_path / "other" / "round_0001.server.safetensors").read_bytes()
    )
    with pytest.raises(ChecksumError, match="round_0001.server.safetensors"):
        load_checkpoint(tmp_path, 1)
    save_checkpoint(tmp_path, 2, TRUNK, {})
    assert load_checkpoint(tmp_path, 2).server_state == {}  # FedAvg: nothing to carry
