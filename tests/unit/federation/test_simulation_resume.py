"""A server killed mid-round (SIGKILL of the whole simulation process, after the partners
trained round 3 but before it was aggregated) and restarted: the run resumes from the round-2
checkpoint, round 3 runs again from the partners' state before it, and no round is counted
twice - not in checkpoints, not in the ledger, not in a partner's training."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from safetensors.torch import load_file

from fedqsar.federation.checkpoint import completed_rounds
from fedqsar.federation.config import FederationConfig
from fedqsar.federation.simulation import run_simulation
from fedqsar.ledger import read_entries, verify
from fedqsar.model.config import ModelConfig, TrainConfig

MODEL = ModelConfig(hidden_sizes=(32,), dropout=0.0)
TRAIN = TrainConfig(batch_size=64, lr=1e-2)
FED = FederationConfig(rounds=4)  # SecAgg+ on (default)

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
run_simulation(partners, ModelConfig(hidden_sizes=(32,), dropout=0.0), TrainConfig(batch_size=64, lr=1e-2),
               FederationConfig(rounds=4), Path(sys.argv[2]), observer=die_in_round_3, num_cpus=2)
"""


def _kill_session(session_id: int) -> None:
    """Kill what the killed server left behind: every process of its session (its Ray workers)."""
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.getsid(int(entry)) == session_id:
                    os.kill(int(entry), signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                continue


def test_server_killed_and_restarted_resumes_without_double_counting(
    partners4: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "run"
    server = subprocess.Popen(
        [sys.executable, "-c", KILLED_RUN, json.dumps({k: str(v) for k, v in partners4.items()}), str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        _, stderr = server.communicate(timeout=600)
    finally:
        _kill_session(server.pid)
    assert server.returncode == -signal.SIGKILL, stderr[-2000:]
    assert completed_rounds(out / "checkpoints") == [1, 2]
    assert all((out / "partners" / p / "private_round_0003.safetensors").is_file() for p in "ABCD")  # trained round 3

    run = run_simulation(partners4, MODEL, TRAIN, FED, out, num_cpus=2)

    assert completed_rounds(out / "checkpoints") == [1, 2, 3, 4]
    assert sorted(run.summary["round_seconds"]) == ["3", "4"]
    entries = read_entries(out / "ledger.sqlite")
    assert [e.payload["round"] for e in entries if e.kind == "round"] == [1, 2, 3, 4]
    assert [e.payload["from_round"] for e in entries if e.kind == "resume"] == [3]
    assert verify(out / "ledger.sqlite").complete
    losses = run.history[run.history.metric == "train_loss"]
    assert sorted(losses.groupby("partner")["round"].apply(list).sum()) == sorted([1, 2, 3, 4] * 4)
    for partner in "ABCD":
        state = load_file(str(out / "partners" / partner / "private_round_0004.safetensors"))
        assert int(state["trainer.epoch"]) == 4  # 4 rounds x 1 local epoch: round 3 was not trained twice
