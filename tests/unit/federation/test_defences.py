"""Each bit-privacy defence does what it claims, measured with the audit's attacks.

Federated averaging is replayed by hand with the one ``Trainer`` (what the server's FedAvg
computes from the partners' trunks), so that each defence's effect on the global trunks a
key-holding partner receives is visible without a Flower run; the real runs are in
``test_simulation_*``.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from flwr.common import ndarrays_to_parameters, parameters_to_ndarrays
from flwr.supercore.differential_privacy import add_gaussian_noise_to_params, compute_clip_model_update

from fedqsar.errors import FederationError
from fedqsar.evaluation.privacy_bits import bit_recovery_summary, bit_recovery_table, used_bits
from fedqsar.federation.defences import (
    DEFENCES,
    MPNN_INPUT_PROJECTION,
    BitPrivacyConfig,
    NoDefence,
    PrivateInput,
    RowNoise,
    TrunkLayout,
    build_defence,
    check_model_for_defence,
    noise_untouched_rows,
    trunk_layout,
)
from fedqsar.federation.partner import PartnerPaths, PartnerRuntime
from fedqsar.federation.server_app import initial_trunk
from fedqsar.model.config import ModelConfig, TrainConfig
from fedqsar.model.network import DESCRIPTOR_WEIGHTS, INPUT_LAYER_NAMES, HeadSpec, MultitaskModel
from fedqsar.model.training import Trainer, training_rows

N_BITS = 4096
MODEL = ModelConfig(hidden_sizes=(16, 8), dropout=0.0)
TRAIN = TrainConfig(batch_size=32, lr=1e-2)


@pytest.fixture(scope="module")
def partners(make_prepared):
    return {name: make_prepared(seed=i + 1, n_bits=N_BITS) for i, name in enumerate("ABC")}


def _used(partners) -> dict[str, np.ndarray]:
    return {n: used_bits(p.X[training_rows(p.folds, TRAIN)], N_BITS) for n, p in partners.items()}


def replay_fedavg(partners, rounds: int, before_send=None, after_average=None) -> list[dict[str, np.ndarray]]:
    """Global trunks (initial first) of ``rounds`` FedAvg rounds of one local epoch each."""
    trainers = {}
    for name, prepared in partners.items():
        model = MultitaskModel(N_BITS, MODEL, {name: HeadSpec.from_tasks(prepared.tasks)})
        trainers[name] = Trainer(model, {name: prepared}, TRAIN)
    trunks = [initial_trunk(N_BITS, MODEL)]
    for _ in range(rounds):
        received = trunks[-1]
        sent, weights = [], []
        for name, trainer in trainers.items():
            trainer.model.load_trunk_state(received)
            trainer.train_epochs(1)
            trunk = trainer.model.trunk_state()
            if before_send is not None:
                touched = np.unique(partners[name].X[trainer.train_rows].indices)
                trunk = before_send(trunk, received, touched)
            sent.append(trunk)
            weights.append(len(trainer.train_rows))
        w = np.asarray(weights, dtype=np.float64) / sum(weights)
        average = {
            k: sum(wi * s[k].astype(np.float64) for wi, s in zip(w, sent, strict=True)).astype(np.float32)
            for k in received
        }
        trunks.append(after_average(average, received) if after_average is not None else average)
    return trunks


def _union_auc(table, attack: str, pair: str | None = None) -> float:
    rows = table[(table["attack"] == attack) & (table["target"] == "union")]
    if pair is not None:
        rows = rows[rows["pair"] == pair]
    return float(rows["auc"].median())


def test_without_a_defence_two_consecutive_trunks_reveal_every_partners_bits(partners) -> None:
    table = bit_recovery_table(replay_fedavg(partners, 1), _used(partners))
    assert _union_auc(table, "change_norm", "0-1") > 0.99
    others = table[(table["attack"] == "change_norm") & table["target"].str.startswith("others:")]
    assert (others["auc"] > 0.99).all()  # each partner recovers its competitors' bits


def test_deterministic_decay_of_every_row_is_subtracted_by_the_attacker(partners) -> None:
    def decay_all(average, received):  # "dense regularisation": every row shrinks, used or not
        return {k: v - 0.01 * received[k] if k == "input.weight" else v for k, v in average.items()}

    table = bit_recovery_table(replay_fedavg(partners, 1, after_average=decay_all), _used(partners))
    assert _union_auc(table, "decay_residual", "0-1") > 0.99


def test_row_noise_hides_one_pair_but_not_a_direction_kept_over_rounds(partners) -> None:
    defence = RowNoise(BitPrivacyConfig(defence="row_noise"), trunk_layout(MODEL), rng=np.random.default_rng(0))
    table = bit_recovery_table(replay_fedavg(partners, 3, before_send=defence.before_send), _used(partners))
    for pair in ("0-1", "1-2", "2-3"):
        assert 0.35 < _union_auc(table, "change_norm", pair) < 0.65
        assert 0.35 < _union_auc(table, "decay_residual", pair) < 0.65
    assert _union_auc(table, "consistency") > 0.75  # the documented limit of this defence


def test_noise_on_untouched_rows_has_the_touched_rows_rms_change() -> None:
    rng = np.random.default_rng(1)
    received = rng.normal(size=(2000, 16)).astype(np.float32)
    trained = received.copy()
    touched = np.arange(0, 2000, 2)
    trained[touched] += rng.normal(0, 0.01, size=(len(touched), 16)).astype(np.float32)
    sent = noise_untouched_rows(trained, received, touched, 1.0, rng)
    assert np.array_equal(sent[touched], trained[touched])  # the partner's own update is untouched
    untouched = np.setdiff1d(np.arange(2000), touched)
    rms_touched = np.sqrt(np.mean((trained[touched] - received[touched]) ** 2))
    rms_untouched = np.sqrt(np.mean((sent[untouched] - received[untouched]) ** 2))
    assert rms_untouched == pytest.approx(rms_touched, rel=0.05)


def test_central_dp_noise_calibrated_to_the_update_hides_the_rows(partners) -> None:
    """Flower's fixed clipping (per partner) + server Gaussian noise, as ``GuardedStrategy`` applies them."""
    clip, noise = 0.05, 1.0

    def clip_update(trunk, received, touched):
        names = list(received)
        new = [trunk[k].copy() for k in names]
        compute_clip_model_update(new, [received[k] for k in names], clip)
        return dict(zip(names, new, strict=True))

    def server_noise(average, received):
        names = list(average)
        noisy = add_gaussian_noise_to_params(ndarrays_to_parameters([average[k] for k in names]), noise, clip, 3)
        return dict(zip(names, parameters_to_ndarrays(noisy), strict=True))

    trunks = replay_fedavg(partners, 2, before_send=clip_update, after_average=server_noise)
    summary = bit_recovery_summary(bit_recovery_table(trunks, _used(partners)))
    assert summary["bit_auc"] < 0.6


def test_private_input_federates_no_per_bit_tensor_and_keeps_each_partners_first_layer(
    partners, tmp_path: Path
) -> None:
    names = build_defence(BitPrivacyConfig(), MODEL).private_names()
    assert names[: len(INPUT_LAYER_NAMES)] == INPUT_LAYER_NAMES  # the default defence (+ descriptor weights)
    prepared = partners["A"]
    folder = tmp_path / "A"
    prepared.save(folder)
    paths = PartnerPaths("A", folder, tmp_path / "state")
    runtime = PartnerRuntime(paths, MODEL, TRAIN, private_names=names)
    shared = runtime.trunk_state()
    assert set(shared).isdisjoint(names) and all(v.shape[0] != N_BITS for v in shared.values())
    runtime.load_trunk({k: v + 1.0 for k, v in shared.items()})
    runtime.train(1, 1)
    own_layer = runtime.model.trunk.input.weight.detach().clone()
    runtime.save_private_state(1)
    restored = PartnerRuntime(paths, MODEL, TRAIN, before_round=2, private_names=names)
    assert torch.equal(restored.model.trunk.input.weight, own_layer)  # the private layer survives the round
    fresh = MultitaskModel(N_BITS, MODEL, {"A": HeadSpec.from_tasks(prepared.tasks)}).trunk.input.weight
    assert not torch.equal(own_layer, fresh)  # and it trained


def test_private_input_refuses_a_network_with_nothing_above_the_first_layer() -> None:
    with pytest.raises(FederationError, match="private_input.*no layer above it") as info:
        check_model_for_defence(ModelConfig(hidden_sizes=(64,)), BitPrivacyConfig())
    assert "hidden_sizes = [512, 256]" in info.value.fix
    check_model_for_defence(ModelConfig(hidden_sizes=(64,)), BitPrivacyConfig(defence="none"))


def test_each_defence_says_which_trunk_layouts_it_runs_on() -> None:
    ecfp = trunk_layout(replace(MODEL, descriptors=False))
    assert ecfp.first_layer == INPUT_LAYER_NAMES and ecfp.per_bit_table in ecfp.first_layer
    assert trunk_layout(replace(MODEL, descriptors=True)).first_layer == (*INPUT_LAYER_NAMES, DESCRIPTOR_WEIGHTS)
    dense = TrunkLayout(first_layer=("message.W_i.weight",), per_bit_table=None)  # a trunk with no per-bit rows
    reason, fix = RowNoise.refusal(dense, MODEL) or ("", "")
    assert "no per-bit rows" in reason and '"none"' in fix
    assert PrivateInput.refusal(dense, MODEL) is None and NoDefence.refusal(dense, MODEL) is None
    assert PrivateInput.refusal(TrunkLayout(first_layer=(), per_bit_table=None), MODEL) is not None
    assert all(DEFENCES[name].refusal(ecfp, MODEL) is None for name in DEFENCES)


def test_the_message_passing_trunk_keeps_its_input_projection_and_refuses_row_noise() -> None:
    """TRUNK_LAYOUTS["mpnn"]: W_i stays private under private_input (any depth), row_noise is refused."""
    mpnn = ModelConfig(trunk="mpnn", hidden_sizes=(16,), mpnn_hidden=8, mpnn_depth=2)
    assert build_defence(BitPrivacyConfig(), mpnn).private_names() == (MPNN_INPUT_PROJECTION,)
    model = MultitaskModel(N_BITS, mpnn, {"A": HeadSpec(1, 0)}, 3)
    assert MPNN_INPUT_PROJECTION in model.trunk_state()  # the name is chemprop's, checked here
    assert trunk_layout(mpnn).per_bit_table is None
    with pytest.raises(FederationError, match="mpnn trunk has no per-bit rows") as info:
        check_model_for_defence(mpnn, BitPrivacyConfig(defence="row_noise"))
    assert 'defence = "private_input"' in info.value.fix and '"none"' in info.value.fix
    check_model_for_defence(mpnn, BitPrivacyConfig(defence="none"))


def test_the_descriptor_weights_are_part_of_the_private_first_layer(tmp_path: Path, partners) -> None:
    """With a descriptor block the ECFP first layer includes ``descriptor_input.weight``; without one it has none."""
    cfg = replace(MODEL, descriptors=True)
    names = build_defence(BitPrivacyConfig(), cfg).private_names()
    assert DESCRIPTOR_WEIGHTS in names
    with_block = MultitaskModel(N_BITS, cfg, {"A": HeadSpec(1, 0)}, 5).trunk_state(exclude=names)
    assert set(with_block) == {"hidden.0.weight", "hidden.0.bias"}  # nothing of the first layer is federated
    folder = tmp_path / "A"
    partners["A"].save(folder)  # no descriptor block: the partner has no descriptor weights to keep
    runtime = PartnerRuntime(PartnerPaths("A", folder, tmp_path / "state"), cfg, TRAIN, private_names=names)
    assert runtime.private_names == INPUT_LAYER_NAMES
    runtime.save_private_state(1)  # keeps only what it has
