"""One real Flower simulation with SecAgg+ on, 4 partners, 3 rounds, default bit privacy
(each partner's first layer private); partner D drops out of round 2 after key sharing. Shared
by: dropout tolerance, the strategy seeing only sums, the wire audit, what a key-holding
partner can recover of the others' bits, the privacy audit CLI, final models, local histories
and the ledger."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from fedqsar.cli.main import app
from fedqsar.evaluation.privacy_audit import audit_privacy
from fedqsar.federation.audit import read_records, wire_recorder
from fedqsar.federation.checkpoint import latest_checkpoint
from fedqsar.federation.config import FederationConfig, SecAggConfig
from fedqsar.federation.payload import NUM_EXAMPLES_KEY
from fedqsar.federation.server_app import initial_trunk
from fedqsar.federation.simulation import run_simulation
from fedqsar.ledger import verify
from fedqsar.model.config import ModelConfig, TrainConfig
from fedqsar.model.io import load_model
from fedqsar.model.training import training_rows
from fedqsar.prepared import PreparedSet

from .conftest import write_partners

MODEL = ModelConfig(hidden_sizes=(32, 16), dropout=0.0)
TRAIN = TrainConfig(epochs=25, batch_size=64, lr=1e-2, early_stopping_patience=5, membership_holdout=0.1)
N_BITS = 4096  # wide enough that some bits are set by no partner's training rows
SECAGG_KEYS = {"pk1", "pk2", "dsts", "ctxts", "masked_params", "nids", "shares"}
HANDSHAKE_KEYS = {
    "prep_hash",
    "key_id",
    "format_version",
    "fingerprint",
    "manifest_sha256",
    "n_bits",
    "n_descriptors",
    "partner",
    "num_examples",
    # settings only, for the compatibility validator: a hash per prep-config section, library versions
    "prep_config.standardize",
    "prep_config.fingerprint",
    "prep_config.descriptors",
    "prep_config.folds",
    "prep_config.values",
    "prep_config.tasks",
    "versions",
    "fold_choice",  # the partner's fold scheme (scaffold / time / its own split), never a path or column name
}


def crash_in_stage(partition: int, round_label: str, stage: str):
    """A client mod: the node of ``partition`` dies in ``stage`` of round ``round_label``."""

    def crash(msg, context, call_next):
        configs = msg.content.config_records.get("secaggplus_configs", {}) if msg.has_content() else {}
        if (
            int(context.node_config.get("partition-id", -1)) == partition
            and msg.metadata.group_id == round_label
            and configs.get("stage") == stage
        ):
            raise RuntimeError(f"simulated crash of partition {partition} in round {round_label}, stage {stage}")
        return call_next(msg, context)

    return crash


@pytest.fixture(scope="module")
def wide_partners(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_partners(tmp_path_factory.mktemp("prepared_wide"), n_bits=N_BITS)


@pytest.fixture(scope="module")
def secagg_run(wide_partners: dict[str, Path], tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("secagg")
    seen: list[tuple[int, list[list[np.ndarray]], list[int]]] = []
    run = run_simulation(
        wide_partners,
        MODEL,
        TRAIN,
        FederationConfig(rounds=3, min_partners=3, secagg=SecAggConfig(enabled=True)),
        root / "run",
        outer_mods=[wire_recorder(root / "wire"), crash_in_stage(3, "2", "collect_masked_vectors")],
        inner_mods=[wire_recorder(root / "plain")],
        observer=lambda rnd, arrays, counts: seen.append((rnd, arrays, counts)),
        num_cpus=2,
    )
    return run, seen, root


def test_round_completes_without_the_partner_that_died(secagg_run) -> None:
    run, _, _ = secagg_run
    assert run.summary["participants"] == {"1": ["A", "B", "C", "D"], "2": ["A", "B", "C"], "3": ["A", "B", "C", "D"]}
    assert run.summary["refused_rounds"] == []


def _plain_updates(root: Path, round_label: str) -> dict[str, tuple[list[np.ndarray], int]]:
    updates = {}
    for entry in read_records(root / "plain"):
        if entry["incoming_type"] == "train" and entry["group_id"] == round_label and "arrays" in entry:
            arrays = [v for k, v in entry["arrays"].items() if k.startswith("fitres.parameters::")]
            updates[entry["node"]] = (arrays, None)
    return updates


def test_strategy_only_ever_receives_the_aggregate(secagg_run) -> None:
    _, seen, root = secagg_run
    assert [rnd for rnd, _, _ in seen] == [1, 2, 3]
    for rnd, received, counts in seen[:2]:
        plain = _plain_updates(root, str(rnd))
        assert len(plain) == len(received) == len(counts)
        weights = np.asarray(counts, dtype=np.float64) / sum(counts)
        # the weighted mean of the individual (pre-mask) updates, as recorded inside each node
        mean = [
            sum(w * arrays[i].astype(np.float64) for w, (arrays, _) in zip(weights, plain.values(), strict=True))
            for i in range(len(received[0]))
        ]
        for result in received:
            assert all(np.allclose(r, m, atol=1e-4) for r, m in zip(result, mean, strict=True))
            for arrays, _ in plain.values():
                assert not all(np.allclose(r, a, atol=1e-4) for r, a in zip(result, arrays, strict=True))


def test_wire_audit_secagg(secagg_run) -> None:
    _, seen, root = secagg_run
    records = read_records(root / "wire")
    assert {r["node"] for r in records} == {"partition-0", "partition-1", "partition-2", "partition-3"}
    n_trunk = len(seen[0][1][0])
    stages = set()
    for entry in records:
        kind = entry["incoming_type"]
        content = entry.get("records", {})
        if kind == "query":
            assert set(content) == {"handshake"} and set(content["handshake"]["entries"]) == HANDSHAKE_KEYS
        elif kind == "evaluate":
            assert content == {}
        else:
            assert kind == "train"
            stages.add(entry["stage"])
            configs = content.pop("secaggplus_configs")
            assert set(configs["entries"]) <= SECAGG_KEYS
            if entry["stage"] == "collect_masked_vectors":
                assert (
                    configs["entries"]["masked_params"]["length"] == n_trunk + 2
                )  # + convergence signal + weight factor
                assert content["fitres.parameters"]["entries"] == {}  # plain arrays removed by SecAgg+
                assert set(content[NUM_EXAMPLES_KEY]["entries"]) == {"num_examples"}
                assert content["fitres.metrics"]["entries"] == {}
                assert set(content) == {"fitres.parameters", NUM_EXAMPLES_KEY, "fitres.metrics", "fitres.status"}
            else:
                assert content == {}
            assert "arrays" not in entry or all(v.size == 0 for v in entry["arrays"].values())
    assert stages == {"setup", "share_keys", "collect_masked_vectors", "unmask"}


def test_every_partner_holds_final_trunk_and_own_head(secagg_run) -> None:
    run, _, _ = secagg_run
    final = latest_checkpoint(run.out / "checkpoints")
    assert final is not None and final.round == 3
    for partner, folder in run.partner_models.items():
        saved = load_model(folder)
        assert saved.partner == partner and list(saved.model.heads) == [partner]
        trunk = saved.model.trunk_state()
        assert all(np.array_equal(trunk[k], final.trunk[k]) for k in final.trunk)


def test_history_is_local_and_complete(secagg_run) -> None:
    run, _, _ = secagg_run
    history = run.history
    losses = history[history.metric == "train_loss"]
    assert sorted(map(tuple, losses[["round", "partner"]].values.tolist())) == sorted(
        [(r, p) for r in (1, 2, 3) for p in "ABCD" if not (r == 2 and p == "D")]
    )
    final_val = history[(history["round"] == 3) & (history.metric == "val_auc_roc")]
    assert set(final_val.partner) == set("ABCD")
    assert (run.out / "history.csv").is_file()


def test_ledger_records_the_run(secagg_run) -> None:
    run, _, _ = secagg_run
    result = verify(run.out / "ledger.sqlite")
    assert result.complete
    kinds = [
        e.kind for e in __import__("fedqsar.ledger", fromlist=["read_entries"]).read_entries(run.out / "ledger.sqlite")
    ]
    assert kinds == ["run_start"] + ["partner"] * 4 + ["round"] * 3 + ["final_model", "published_trunk", "run_end"]


def test_no_partner_can_recover_the_union_of_the_others_bits(secagg_run, wide_partners) -> None:
    """What the server and a key-holding partner see: no per-bit value, and the audit's attacks learn nothing."""
    run, _, root = secagg_run
    for entry in read_records(root / "plain"):  # each update before masking: what the sum is made of
        for name, array in entry.get("arrays", {}).items():
            assert array.ndim == 0 or array.shape[0] != N_BITS, name
    final = latest_checkpoint(run.out / "checkpoints")
    assert final is not None and all(v.shape[0] != N_BITS for v in final.trunk.values())  # the global trunks
    audit = audit_privacy(run.out, wide_partners)
    union = audit.bits[audit.bits["target"] == "union"]
    assert (union["n_negative"] > 50).all() and (union["n_positive"] > 50).all()  # there are bits to recover
    assert audit.summary["bit_auc"] <= 0.6 and audit.summary["bit_auc_others"] <= 0.6
    # ... while each partner's own first layer did learn, from its own compounds' bits only
    start = initial_trunk(N_BITS, MODEL)["input.weight"]
    for name, folder in run.partner_models.items():
        prepared = PreparedSet.load(wide_partners[name])
        used = np.unique(prepared.X[training_rows(prepared.folds, TRAIN)].indices)
        trained = load_model(folder).model.trunk.input.weight.detach().numpy()
        moved = np.flatnonzero(np.abs(trained - start).max(axis=1) > 0)
        assert set(moved) <= set(used) and len(moved) > 0.5 * len(used)


def test_privacy_audit_cli_reports_bits_membership_and_writes_its_files(secagg_run, wide_partners) -> None:
    run, _, _ = secagg_run
    args = ["audit", "privacy", str(run.out)] + [a for f in wide_partners.values() for a in ("-p", str(f))]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "defence private_input; DP off; bit-recovery AUC 0.50" in result.output
    membership = pd.read_csv(run.out / "privacy" / "membership.csv")
    losses = membership[membership["score"] == "loss"]
    assert set(losses["model_kind"]) == {"local", "federated", "personalised"}
    assert set(losses["reference"]) == {"test_fold", "holdout"}
    assert losses["auc"].between(0, 1).all()
    summary = dict(pd.read_csv(run.out / "privacy" / "summary.csv").itertuples(index=False))
    assert float(summary["bit_auc"]) <= 0.6 and summary["defence"] == "private_input"
