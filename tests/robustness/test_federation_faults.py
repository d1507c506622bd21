"""Probes of ``fedqsar federate`` under faults, run as a user runs it (its own process):

* after SIGKILL (and after SIGTERM) of ``fedqsar federate`` no process it started survives -
  Ray's DashboardAgent and RuntimeEnvAgent used to live on as orphans - and Ray's dashboard is
  never started (only its minimal API server, which Ray needs);
* after a SIGTERM and a resume, every partner's ``history.csv`` holds each round once and
  ``server.json`` keeps the timings and participants of every round;
* a partner prepared with another consortium key, whose prep hash is the same (the hash does
  not include the key), is refused by federation, evaluation and ``manifest-diff`` alike, with
  the one compatibility error.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pandas as pd
import pytest

from fedqsar.errors import EXIT_CODES, IncompatiblePartnersError
from fedqsar.prepared import read_manifest

from .conftest import Consortium, no_traceback, run_cli

pytestmark = pytest.mark.slow
SMALL = "[model]\nhidden_sizes = [32, 16]\n[train]\nepochs = 25\nbatch_size = 64\nearly_stopping_patience = 5\n[federation]\nrounds = {rounds}\n"


def _marked(marker: str) -> list[int]:
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


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _survivors(marker: str, seconds: float = 20.0) -> list[str]:
    deadline = time.monotonic() + seconds
    while _marked(marker) and time.monotonic() < deadline:
        time.sleep(0.25)
    return [_cmdline(pid)[:120] for pid in _marked(marker)]


def _start(consortium: Consortium, out: Path, rounds: int, marker: str, verb: str = "federate") -> subprocess.Popen:
    config = out.parent / f"{out.name}.toml"
    config.write_text(SMALL.format(rounds=rounds), encoding="utf-8")
    partners = [str(p) for p in consortium.partners.values()]
    command = [verb, "--partners", *partners, "--out", str(out), "--config", str(config), "--no-secagg"]
    command += ["--kinds", "federated"] if verb == "evaluate" else ["-q"]
    return subprocess.Popen(
        [sys.executable, "-m", "fedqsar", *command],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "FEDQSAR_TEST_MARK": marker},
    )


def _wait_for_round(process: subprocess.Popen, out: Path, round_number: int, timeout: float = 600) -> None:
    name = f"round_{round_number:04d}.json"
    markers = (out / "checkpoints" / name, out / "federation" / "checkpoints" / name)  # federate, evaluate
    deadline = time.monotonic() + timeout
    while not any(marker.is_file() for marker in markers):
        assert process.poll() is None, process.communicate()[1][-3000:]
        assert time.monotonic() < deadline, "the federation did not reach the round in time"
        time.sleep(0.1)


@pytest.mark.parametrize(
    ("verb", "signum"), [("federate", signal.SIGKILL), ("federate", signal.SIGTERM), ("evaluate", signal.SIGKILL)]
)
def test_no_process_survives_a_killed_command(consortium: Consortium, tmp_path: Path, verb: str, signum: int) -> None:
    marker = uuid.uuid4().hex
    process = _start(consortium, tmp_path / "run", 200, marker, verb)
    try:
        _wait_for_round(process, tmp_path / "run", 1)
        running = [_cmdline(pid) for pid in _marked(marker)]
        assert any("raylet" in line for line in running)  # Ray is up: there is something to leave behind
        dashboards = [line for line in running if "dashboard/dashboard.py" in line]
        assert all("--minimal" in line and "--disable-frontend" in line for line in dashboards)
        process.send_signal(signum)
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()
    assert _survivors(marker) == []


def test_a_resumed_run_after_sigterm_has_every_round_once(consortium: Consortium, tmp_path: Path) -> None:
    out, marker = tmp_path / "run", uuid.uuid4().hex
    process = _start(consortium, out, 6, marker)
    try:
        _wait_for_round(process, out, 2)
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()
    assert _survivors(marker) == []
    done = sorted(int(p.stem.split("_")[1]) for p in (out / "checkpoints").glob("round_*.json"))
    assert 2 <= done[-1] < 6, done  # stopped in the middle of the run

    resumed = _start(consortium, out, 6, marker)
    stdout, stderr = resumed.communicate(timeout=900)
    assert resumed.returncode == 0, stderr[-3000:]
    assert "Traceback" not in stdout + stderr
    summary = json.loads((out / "server.json").read_text(encoding="utf-8"))
    assert sorted(summary["round_seconds"], key=int) == [str(r) for r in range(1, 7)]
    assert all(sorted(summary["participants"][str(r)]) == ["A", "B"] for r in range(1, 7))
    for partner in ("A", "B"):
        history = pd.read_csv(out / "partners" / partner / "history.csv")
        assert not history.duplicated(["round", "partner", "metric"]).any()
        assert sorted(history[history.metric == "train_loss"]["round"]) == list(range(1, 7))
    combined = pd.read_csv(out / "history.csv")
    assert not combined.duplicated(["round", "partner", "metric"]).any()


def test_a_differently_keyed_partner_is_refused_everywhere(consortium: Consortium, tmp_path: Path) -> None:
    same, other = consortium.partners["A"], consortium.other_keyed
    assert read_manifest(same)["prep_hash"] == read_manifest(other)["prep_hash"]  # the hash does not see the key
    diff = run_cli("manifest-diff", str(same), str(other))
    assert diff.returncode == 1 and "BLOCKING: key_id" in no_traceback(diff)

    result = run_cli("federate", "--partners", str(same), str(other), "--out", str(tmp_path / "run"), "--no-secagg")
    assert result.returncode == EXIT_CODES["compatibility"], result.stderr
    assert "key_id" in no_traceback(result) and "fix:" in result.stderr
    assert not (tmp_path / "run" / "flower.log").exists()

    from fedqsar.evaluation.config import EvalConfig
    from fedqsar.evaluation.protocol import run_protocol
    from fedqsar.federation.config import FederationConfig, SecAggConfig
    from fedqsar.model.config import ModelConfig, TrainConfig

    with pytest.raises(IncompatiblePartnersError, match="key_id"):
        run_protocol(
            {"A": same, "B": other},
            ModelConfig(hidden_sizes=(16,)),
            TrainConfig(epochs=1),
            FederationConfig(rounds=1, secagg=SecAggConfig(enabled=False)),
            EvalConfig(model_kinds=("local", "pooled")),
            tmp_path / "evaluation-run",
        )
    assert not (tmp_path / "evaluation-run" / "evaluation").exists()
