"""A server killed mid-round (SIGKILL of the whole simulation process, after the partners
trained round 3 but before it was aggregated) and restarted: the run resumes from the round-2
checkpoint, round 3 runs again from the partners' state before it, and no round is counted
twice - not in checkpoints, not in the ledger, not in a partner's training or history - while
``server.json`` keeps every round. The resumed run ends with exactly (bit for bit, tolerance 0)
the trunk and heads of an uninterrupted run with the same seed, and nothing the killed run
started (Ray's servers, agents, workers) survives it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
from safetensors.torch import load_file

from fedqsar.federation.checkpoint import completed_rounds, load_checkpoint
from fedqsar.federation.config import FederationConfig
from fedqsar.federation.simulation import run_simulation
from fedqsar.ledger import read_entries, verify
from fedqsar.model.config import ModelConfig, TrainConfig
from fedqsar.model.io import load_model

MODEL = ModelConfig(hidden_sizes=(32, 16), dropout=0.1)
TRAIN = TrainConfig(epochs=25, batch_size=64, lr=1e-2, early_stopping_patience=5)
# SecAgg+ on (default): its stochastic rounding must be reproducible too; the default FedAvgM with server momentum:
# its momentum must continue from the checkpoint
FED = FederationConfig(rounds=4, server_momentum=0.5)

KILLED_RUN = """
import json, os, signal, sys
from pathlib import Path
from fedqsar.federation.config import FederationConfig
from fedqsar.federation.simulation import run_simulation
from fedqsar.model.config import ModelConfig, TrainConfig

def die_in_round_3(rnd, arrays, counts):
    if rnd == 3:
        os.kill(os.getpid(), signal.SIGKILL)

partners = {k: Path(v) for k, v in json.loads(sys.argv[1]).items()}
run_simulation(partners, ModelConfig(hidden_sizes=(32, 16), dropout=0.1), TrainConfig(epochs=25, batch_size=64, lr=1e-2, early_stopping_patience=5),
               FederationConfig(rounds=4, server_momentum=0.5), Path(sys.argv[2]), observer=die_in_round_3, num_cpus=2)
"""


def marked_processes(marker: str) -> list[int]:
    """Processes whose environment carries ``FEDQSAR_TEST_MARK=marker`` (everything the test's child started)."""
    needle = f"FEDQSAR_TEST_MARK={marker}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if needle in Path(f"/proc/{entry}/environ").read_bytes().split(b"\0"):
                    found.append(int(entry))
            except OSError:
                continue
    return found


def survivors_after(marker: str, seconds: float = 20.0) -> list[str]:
    """Command lines of marked processes still alive after ``seconds`` (the sentinel needs a moment)."""
    deadline = time.monotonic() + seconds
    while marked_processes(marker) and time.monotonic() < deadline:
        time.sleep(0.25)
    lines = []
    for pid in marked_processes(marker):
        try:
            lines.append(Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:120])
        except OSError:
            continue
    return lines


def _history_keys(out: Path, partner: str) -> pd.DataFrame:
    return pd.read_csv(out / "partners" / partner / "history.csv")


def test_server_killed_and_restarted_resumes_exactly(partners4: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "run"
    marker = uuid.uuid4().hex
    server = subprocess.Popen(
        [sys.executable, "-c", KILLED_RUN, json.dumps({k: str(v) for k, v in partners4.items()}), str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env={**os.environ, "FEDQSAR_TEST_MARK": marker},
    )
    _, stderr = server.communicate(timeout=600)
    assert server.returncode == -signal.SIGKILL, stderr[-2000:]
    assert survivors_after(marker) == []  # Ray's agents and workers died with the killed server
    assert completed_rounds(out / "checkpoints") == [1, 2]
    assert all((out / "partners" / p / "private_round_0003.safetensors").is_file() for p in "ABCD")  # trained round 3

    run = run_simulation(partners4, MODEL, TRAIN, FED, out, num_cpus=2)

    assert completed_rounds(out / "checkpoints") == [1, 2, 3, 4]
    summary = json.loads((out / "server.json").read_text())
    assert sorted(summary["round_seconds"]) == ["1", "2", "3", "4"]  # rounds 1-2 (killed run) kept
    assert {r: sorted(p) for r, p in summary["participants"].items()} == {str(r): list("ABCD") for r in range(1, 5)}
    entries = read_entries(out / "ledger.sqlite")
    assert [e.payload["round"] for e in entries if e.kind == "round"] == [1, 2, 3, 4]
    assert [e.payload["from_round"] for e in entries if e.kind == "resume"] == [3]
    assert verify(out / "ledger.sqlite").complete
    for partner in "ABCD":
        history = _history_keys(out, partner)
        assert not history.duplicated(["round", "partner", "metric"]).any()  # round 3 once, not twice
        assert sorted(history[history.metric == "train_loss"]["round"]) == [1, 2, 3, 4]
    assert sorted(run.history.groupby("partner")["round"].apply(lambda r: sorted(set(r))).sum()) == sorted(
        [1, 2, 3, 4] * 4
    )

    straight = run_simulation(partners4, MODEL, TRAIN, FED, tmp_path / "straight", num_cpus=2)
    for partner in "ABCD":  # round 3 was not trained twice: the same epoch and batch position as uninterrupted
        resumed_state, straight_state = (
            load_file(str(o / "partners" / partner / "private_round_0004.safetensors"))
            for o in (out, tmp_path / "straight")
        )
        for key in ("trainer.epoch", "trainer.cursor"):
            assert int(resumed_state[key]) == int(straight_state[key])
    assert "momentum_vector/0000" in load_checkpoint(out / "checkpoints", 2).server_state  # resumed from it
    assert straight.summary["final_trunk_sha256"] == run.summary["final_trunk_sha256"]
    for r in (1, 2, 3, 4):
        resumed, uninterrupted = (load_checkpoint(o / "checkpoints", r).trunk for o in (out, tmp_path / "straight"))
        assert all(np.array_equal(resumed[k], uninterrupted[k]) for k in resumed)  # bit for bit, every round
    for partner in "ABCD":
        a, b = (
            load_model(folder).model.state_dict()
            for folder in (run.partner_models[partner], straight.partner_models[partner])
        )
        assert all(bool((a[k] == b[k]).all()) for k in a)  # the private heads too
