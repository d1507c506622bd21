"""A real Flower deployment on loopback: SuperLink with TLS and SuperNode authentication,
three authorised SuperNodes running fedqsar's ClientApp on their own PreparedSets, one
SuperNode with an unregistered key that must be refused, a 2-round federation with SecAgg+
through fedqsar's ServerApp, a verified ledger, and no process left behind.

The deployment uses the "warm" profile (``fedqsar.federation.deployment``): Flower's own
``flower-superlink`` and SuperNode code, with long-running executors and short polls.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from fedqsar.federation import deployment as dep
from fedqsar.federation.certs import create_all_node_keys, create_tls_certificates
from fedqsar.ledger import read_entries, verify
from fedqsar.prepared import TASK_COLUMNS, PreparedSet

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

PARTNERS = ("A", "B", "C")
N_BITS = 512
ROUNDS = 2
RUN_CONFIG_TOML = """
[federation]
rounds = 5          # the run config's num-server-rounds (2) must win
local_epochs = 1
min_partners = 3

[model]
hidden_sizes = [32, 16]

[train]
epochs = 1
batch_size = 64
"""


def _synthetic_prepared(seed: int, n_rows: int = 120) -> PreparedSet:
    """Two classification tasks and one regression task driven by shared 'active' bits."""
    rng = np.random.default_rng(seed)
    active = np.random.default_rng(7).choice(N_BITS, 20, replace=False)
    cols = np.concatenate([rng.choice(N_BITS, 25, replace=False) for _ in range(n_rows)])
    rows = np.repeat(np.arange(n_rows), 25)
    X = sp.csr_matrix((np.ones(rows.size, np.float32), (rows, cols)), shape=(n_rows, N_BITS))
    score = np.asarray(X[:, active].sum(axis=1)).ravel()
    dense = np.stack([(score > 0).astype(np.float32), (score > 1).astype(np.float32), score.astype(np.float32)], axis=1)
    r_idx, c_idx = np.nonzero(rng.random(dense.shape) < 0.9)
    Y = sp.csr_matrix((dense[r_idx, c_idx], (r_idx, c_idx)), shape=dense.shape)
    Y = sp.csr_matrix((Y.data, Y.indices, Y.indptr), shape=dense.shape)
    censor = sp.csr_matrix((np.zeros(Y.nnz, np.int8), Y.indices.copy(), Y.indptr.copy()), shape=dense.shape)
    tasks = pd.DataFrame(
        {
            "task_id": [0, 1, 2],
            "task_name": ["c0", "c1", "r0"],
            "assay_id": "a",
            "endpoint": "pXC50",
            "kind": ["classification", "classification", "regression"],
            "unit": "log",
            "threshold": [6.0, 7.0, np.nan],
            "training_weight": 1.0,
            "aggregation_weight": 1.0,
            "n_observed": 100,
            "n_positive": 50,
            "n_negative": 50,
            "n_censored": 0,
            "passes_quorum": True,
        }
    )[list(TASK_COLUMNS)]
    compounds = pd.DataFrame(
        {"row": range(n_rows), "compound_id": [f"p{seed}_{i}" for i in range(n_rows)], "fold": np.arange(n_rows) % 5}
    )
    manifest = {
        "prep_hash": "loopback-prep",
        "key_id": "00112233aabbccdd",
        "prep_config": {"fingerprint": {"n_bits": N_BITS, "radius": 2}},
        "fingerprint": {"n_bits": N_BITS, "radius": 2},
        "versions": {},
    }
    return PreparedSet(X, Y, censor, compounds, tasks, {"input_rows": n_rows}, manifest)


@pytest.fixture(scope="module")
def deployment_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """Start the deployment, try the rogue node, run the federation, then stop everything."""
    root = tmp_path_factory.mktemp("deploy")
    prepared = {name: _synthetic_prepared(i + 1).save(root / "prepared" / name) for i, name in enumerate(PARTNERS)}
    tls = create_tls_certificates(root / "tls")
    keys = create_all_node_keys([*PARTNERS, "rogue"], root / "keys")
    (root / "config.toml").write_text(RUN_CONFIG_TOML, encoding="utf-8")
    spec = dep.DeploymentSpec(
        root,
        tls,
        dep.free_port(),
        profile="warm",
        preload=("torch", "fedqsar.federation.client_app", "fedqsar.federation.server_app"),
    )
    nodes = [
        dep.NodeSpec(
            name,
            keys[name].private_key,
            keys[name].public_key,
            {"prepared": str(prepared[name]), "state-dir": str(root / "state" / name)},
            dep.free_port(),
        )
        for name in PARTNERS
    ]
    rogue = dep.NodeSpec(
        "rogue",
        keys["rogue"].private_key,
        keys["rogue"].public_key,
        {"prepared": str(prepared["A"]), "state-dir": str(root / "state" / "rogue")},
        dep.free_port(),
    )
    deployment = dep.LoopbackDeployment(spec)
    result: dict = {"root": root, "spec": spec, "tls": tls}
    try:
        deployment.start_federation(nodes)
        result["superlink_log_start"] = deployment.superlink.log_text() if deployment.superlink else ""
        result["tls_handshake"] = _tls_handshake_results(spec, tls.ca_cert)
        rogue_process = deployment.start_node(rogue)  # tries to join while the federation runs
        run_config = {
            "run-dir": str(root / "run"),
            "partners": len(PARTNERS),
            "num-server-rounds": ROUNDS,
            "config": str(root / "config.toml"),
        }
        result["outcome"] = deployment.run(dep.app_dir(), run_config, timeout=420)
        result["rogue_exit"] = rogue_process.wait_exit(90)
        result["rogue_log"] = rogue_process.log_text()
        result["superlink_log"] = deployment.superlink.log_text() if deployment.superlink else ""
        result["pids_before_close"] = deployment.processes.all_pids()
    finally:
        result["survivors"] = deployment.close()
    yield result


def _tls_handshake_results(spec: dep.DeploymentSpec, ca_cert: Path) -> dict[str, str]:
    """Handshake with our CA (must succeed) and with the system trust store (must fail)."""
    outcomes = {}
    for label, context in (
        ("our_ca", ssl.create_default_context(cafile=str(ca_cert))),
        ("system_ca", ssl.create_default_context()),
    ):
        try:
            with socket.create_connection((spec.host, spec.superlink_port), timeout=10) as raw:
                with context.wrap_socket(raw, server_hostname=spec.host) as tls_sock:
                    outcomes[label] = f"ok {tls_sock.version()}"
        except ssl.SSLCertVerificationError as exc:
            outcomes[label] = f"refused: {exc.verify_message}"
    return outcomes


def test_superlink_serves_tls_with_our_ca_only(deployment_run: dict) -> None:
    assert deployment_run["tls_handshake"]["our_ca"].startswith("ok TLS")
    assert deployment_run["tls_handshake"]["system_ca"].startswith("refused")
    assert "running on https://" in deployment_run["superlink_log_start"]


def test_unregistered_node_key_is_refused(deployment_run: dict) -> None:
    assert deployment_run["rogue_exit"] not in (None, 0)
    assert "Failed to activate SuperNode" in deployment_run["rogue_log"]
    assert "SuperNode ID:" not in deployment_run["rogue_log"]
    assert "No SuperNode found with the given public key" in deployment_run["superlink_log"]


def test_federation_runs_to_the_end_with_three_partners(deployment_run: dict) -> None:
    outcome = deployment_run["outcome"]
    assert outcome.returncode == 0, outcome.output[-3000:]
    root: Path = deployment_run["root"]
    result = verify(root / "run")
    assert result.complete
    assert result.kinds["round"] == ROUNDS
    assert result.kinds["partner"] == len(PARTNERS)
    entries = read_entries(result.path)
    partners = sorted(e.payload["partner"] for e in entries if e.kind == "partner")
    assert partners == sorted(PARTNERS)  # the rogue never took part
    rounds = [e.payload for e in entries if e.kind == "round"]
    assert [r["round"] for r in rounds] == list(range(1, ROUNDS + 1))
    assert len({r["aggregate_hash"] for r in rounds}) == ROUNDS  # the trunk changed every round
    final = next(e.payload for e in entries if e.kind == "final_model")
    assert final["model_hash"] == rounds[-1]["aggregate_hash"]
    for name in PARTNERS:  # every partner saved its final model in its own state folder
        assert any((root / "state" / name).rglob("*.safetensors")), name
    assert not (root / "state" / "rogue").exists()


def test_every_started_process_is_gone(deployment_run: dict) -> None:
    assert len(deployment_run["pids_before_close"]) >= 8  # link + its executor + 3 nodes + 3 executors
    assert deployment_run["survivors"] == []
    alive = [pid for pid in deployment_run["pids_before_close"] if dep.pid_alive(pid)]
    assert alive == []
