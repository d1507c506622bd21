"""Per-round overhead of a real Flower deployment: Flower's defaults beside fedqsar's warm profile.

Usage::

    .venv/bin/python bench/bench_deployment.py [--rounds 6] [--nodes 3] [--real]

Both profiles run in this process, one after the other, on 127.0.0.1 with TLS and SuperNode
authentication (``fedqsar.federation.deployment.LoopbackDeployment``):

``flower`` (baseline)
    Flower 1.42 defaults: a fresh ``flwr-clientapp`` process per message, 3 s idle polling on
    nodes and in the ServerApp, 1 s SuperExec polling.
``warm``
    ``--isolation process`` + ``fedqsar.federation.warm_exec``: long-running executors that
    fork pre-imported task processes, polling capped at 0.2 s.

Default workload: the probe app of ``tests/integration/deploy_app`` (plain averaging of a
4-float array, no training), so a round's duration *is* the framework overhead. Per-round
overhead = median gap between consecutive round ends, as logged by the ServerApp (round 1 is
left out: it includes the ServerApp's own start-up). ``--real`` also runs fedqsar's own apps
(2 rounds, SecAgg+, tiny model on synthetic PreparedSets) and reports the ServerApp's
measured round seconds.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from itertools import pairwise
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))

from fedqsar.federation import deployment as dep  # noqa: E402
from fedqsar.federation.certs import create_all_node_keys, create_tls_certificates  # noqa: E402

PROBE_APP = REPO / "tests" / "integration" / "deploy_app"
NAMES = "ABCDEFGH"


def _deploy(
    root: Path, profile: str, n_nodes: int, preload: tuple[str, ...], node_config: dict
) -> tuple[dep.LoopbackDeployment, float]:
    tls = create_tls_certificates(root / "tls")
    names = list(NAMES[:n_nodes])
    keys = create_all_node_keys(names, root / "keys")
    spec = dep.DeploymentSpec(root, tls, dep.free_port(), profile=profile, preload=preload)
    nodes = [
        dep.NodeSpec(n, keys[n].private_key, keys[n].public_key, node_config.get(n, {}), dep.free_port()) for n in names
    ]
    deployment = dep.LoopbackDeployment(spec)
    started = time.monotonic()
    deployment.start_federation(nodes)
    return deployment, time.monotonic() - started


def probe_profile(profile: str, rounds: int, n_nodes: int) -> dict:
    """Run the probe app; returns start-up, run and per-round seconds."""
    with tempfile.TemporaryDirectory(prefix=f"bench-deploy-{profile}-") as tmp:
        root = Path(tmp)
        deployment, startup = _deploy(root, profile, n_nodes, ("numpy",), {})
        try:
            result_file = root / "rounds.jsonl"
            outcome = deployment.run(
                PROBE_APP, {"num-server-rounds": rounds, "result-file": str(result_file)}, timeout=900
            )
            log = [json.loads(line) for line in result_file.read_text().splitlines()]
        finally:
            survivors = deployment.close()
    ends = [row["t"] for row in log]
    gaps = [b - a for a, b in pairwise(ends)]
    assert all(row["n_replies"] == n_nodes for row in log), log
    return {
        "profile": profile,
        "startup_s": startup,
        "run_s": outcome.seconds,
        "first_round_s": ends[0],
        "per_round_s": statistics.median(gaps),
        "per_round_all": gaps,
        "survivors": survivors,
    }


def real_profile(profile: str, n_nodes: int) -> dict:
    """fedqsar's apps, 2 rounds with SecAgg+; per-round seconds measured by the ServerApp."""
    from test_deployment_loopback import RUN_CONFIG_TOML, _synthetic_prepared

    with tempfile.TemporaryDirectory(prefix=f"bench-deploy-real-{profile}-") as tmp:
        root = Path(tmp)
        names = list(NAMES[:n_nodes])
        prepared = {n: _synthetic_prepared(i + 1).save(root / "prepared" / n) for i, n in enumerate(names)}
        (root / "config.toml").write_text(RUN_CONFIG_TOML)
        node_config = {n: {"prepared": str(prepared[n]), "state-dir": str(root / "state" / n)} for n in names}
        preload = ("torch", "fedqsar.federation.client_app", "fedqsar.federation.server_app")
        deployment, startup = _deploy(root, profile, n_nodes, preload, node_config)
        try:
            run_config = {
                "run-dir": str(root / "run"),
                "partners": n_nodes,
                "num-server-rounds": 2,
                "config": str(root / "config.toml"),
            }
            outcome = deployment.run(dep.app_dir(), run_config, timeout=1800)
            summary = json.loads((root / "run" / "server.json").read_text())
        finally:
            survivors = deployment.close()
    seconds = [float(v) for _, v in sorted(summary["round_seconds"].items(), key=lambda kv: int(kv[0]))]
    return {
        "profile": profile,
        "startup_s": startup,
        "run_s": outcome.seconds,
        "round_s": seconds,
        "survivors": survivors,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--real", action="store_true", help="also time fedqsar's apps (slow under the flower profile)")
    args = parser.parse_args()

    print(f"probe app, {args.nodes} SuperNodes, {args.rounds} rounds, TLS + node authentication, loopback")
    probe = {profile: probe_profile(profile, args.rounds, args.nodes) for profile in ("flower", "warm")}
    for row in probe.values():
        print(
            f"  {row['profile']:>6}: start-up {row['startup_s']:.1f} s, first round {row['first_round_s']:.1f} s, "
            f"per-round overhead (median of rounds 2..{args.rounds}) {row['per_round_s']:.2f} s "
            f"{[round(g, 2) for g in row['per_round_all']]}, whole run {row['run_s']:.1f} s, survivors {row['survivors']}"
        )
    ratio = probe["flower"]["per_round_s"] / probe["warm"]["per_round_s"]
    print(f"  per-round overhead: flower / warm = {ratio:.1f}x")
    if args.real:
        print(f"fedqsar apps (SecAgg+, 4 message stages per round), {args.nodes} partners, 2 rounds")
        real = {profile: real_profile(profile, args.nodes) for profile in ("flower", "warm")}
        for row in real.values():
            print(
                f"  {row['profile']:>6}: start-up {row['startup_s']:.1f} s, round seconds {[round(s, 1) for s in row['round_s']]}, "
                f"whole run {row['run_s']:.1f} s, survivors {row['survivors']}"
            )
        ratio = statistics.mean(real["flower"]["round_s"]) / statistics.mean(real["warm"]["round_s"])
        print(f"  mean round: flower / warm = {ratio:.1f}x")


if __name__ == "__main__":
    main()
