"""``fedqsar probe``: a candidate measures, locally, what a published consortium trunk gives it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from fedqsar.cli.main import app
from fedqsar.ledger import read_entries
from fedqsar.model.network import INPUT_LAYER_NAMES
from fedqsar.model.trunk_file import RECORD_FILE, WEIGHTS_FILE, read_trunk
from fedqsar.prep.keys import generate_key, save_key
from fedqsar.prepared import PreparedSet

from .synthetic import partner_set

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[3]
CONFIG = """
[model]
hidden_sizes = [32, 16]
[train]
epochs = 6
batch_size = 64
early_stopping_patience = 3
[federation]
rounds = 3
min_partners = 3
[federation.personalisation]
head_epochs = 4
full_epochs = 3
"""


@pytest.fixture(scope="module")
def consortium(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Three partners federate (``fedqsar federate``); a fourth, the candidate, has not joined."""
    root = tmp_path_factory.mktemp("consortium")
    key = generate_key()
    save_key(key, root / "consortium.key")
    sets = {
        name: partner_set(seed=i + 1, n_rows=240, key_id=key.key_id).save(root / "sets" / name)
        for i, name in enumerate(("alpha", "beta", "gamma", "candidate"))
    }
    (root / "fed.toml").write_text(CONFIG, encoding="utf-8")
    members = [str(sets[n]) for n in ("alpha", "beta", "gamma")]
    run = root / "run"
    args = ["federate", "--partners", *members, "--out", str(run), "--config", str(root / "fed.toml"), "--no-secagg"]
    result = CliRunner().invoke(app, [*args, "--quiet"])
    assert result.exit_code == 0, result.output
    return {"root": root, "trunk": run / "trunk", "key": root / "consortium.key", "candidate": sets["candidate"]}


def _probe(trunk: Path, data: Path, key: Path, out: Path) -> object:
    return CliRunner().invoke(
        app, ["probe", "--trunk", str(trunk), "--data", str(data), "--key", str(key), "--out", str(out)]
    )


def test_federate_publishes_a_trunk_with_its_checks(consortium: dict[str, Path]) -> None:
    trunk = read_trunk(consortium["trunk"])
    record = json.loads((consortium["trunk"] / RECORD_FILE).read_text(encoding="utf-8"))
    assert record["prep_hash"] == "hash-A" and record["n_partners"] == 3 and len(record["weights_sha256"]) == 64
    assert set(trunk.state) == set(record["arrays"]) and trunk.model_cfg.hidden_sizes == (32, 16)
    # the default defence (private_input): each member's first layer stays with it, only the layers above travel
    assert record["defence"] == "private_input" and trunk.partner_tensors == INPUT_LAYER_NAMES
    assert set(trunk.state) == {"hidden.0.weight", "hidden.0.bias"}
    assert not list(consortium["trunk"].glob("*.pkl")) and not list(consortium["trunk"].glob("*.pt"))
    kinds = [entry.kind for entry in read_entries(consortium["trunk"].parent / "ledger.sqlite")]
    assert kinds.index("published_trunk") < kinds.index("run_end")


def test_probe_on_a_tiny_consortium(consortium: dict[str, Path]) -> None:
    out = consortium["root"] / "probe"
    result = _probe(consortium["trunk"], consortium["candidate"], consortium["key"], out)
    assert result.exit_code == 0, result.output
    assert "verdict:" in result.output
    assert "joining is expected" in result.output or "cannot tell whether joining" in result.output
    summary = pd.read_csv(out / "probe_summary.csv")
    assert set(summary["comparison"]) == {"joined_vs_local", "fine_tuned_vs_local", "head_on_trunk_vs_local"}
    assert set(summary["metric"]) == {"auc_pr", "rmse"}
    assert summary[["ci_low", "ci_high"]].notna().all().all()  # intervals for every row (compounds: < 5 tasks)
    tasks = pd.read_csv(out / "probe_tasks.csv")
    assert set(tasks["task"]) == {"t0", "t1", "t2", "t3"}
    assert {"local", "head_on_trunk", "fine_tuned", "joined", "delta", "ci_low", "ci_high"} <= set(tasks.columns)
    record = json.loads((out / "probe.json").read_text(encoding="utf-8"))
    prepared = PreparedSet.load(consortium["candidate"])
    assert record["fold"]["validation_fold"] == 3 and record["fold"]["n_validation"] == int((prepared.folds == 3).sum())
    assert record["fold"]["test_fold_read"] is False
    assert record["verdict"]["code"] in ("help", "not_help", "cannot_tell")
    assert record["trunk"]["defence"] == "private_input"
    # (a) trained the candidate's own first layer with its head (the published layers frozen)
    assert record["stages"]["head_on_trunk"]["trained"] == ["head", *INPUT_LAYER_NAMES]
    assert record["stages"]["head_on_trunk"]["epochs_run"] >= 1
    html = (out / "probe.html").read_text(encoding="utf-8")
    assert "Should we join?" in html and "data:image/svg+xml;base64," in html
    assert "http://" not in html and "https://" not in html and "<script" not in html


def test_the_report_shows_a_probe_folder(consortium: dict[str, Path], tmp_path: Path) -> None:
    from fedqsar.report.sections_valuation import probe_section, read_probe

    out = consortium["root"] / "probe"
    if not (out / "probe.json").is_file():
        assert _probe(consortium["trunk"], consortium["candidate"], consortium["key"], out).exit_code == 0
    section = probe_section((read_probe(out),))
    assert section.id == "probe" and "Candidate candidate" in section.paragraphs[0] and section.figures


def test_probe_refuses_a_trunk_of_other_settings_or_key(consortium: dict[str, Path], tmp_path: Path) -> None:
    other_hash = partner_set(seed=9, n_rows=120, key_id="x", prep_hash="hash-B").save(tmp_path / "other_settings")
    manifest = json.loads((consortium["candidate"] / "manifest.json").read_text(encoding="utf-8"))
    fixed = json.loads((other_hash / "manifest.json").read_text(encoding="utf-8"))
    fixed["key_id"] = manifest["key_id"]
    (other_hash / "manifest.json").write_text(json.dumps(fixed), encoding="utf-8")
    result = _probe(consortium["trunk"], other_hash, consortium["key"], tmp_path / "p1")
    assert result.exit_code != 0
    assert "prep hash 'hash-B' != the consortium's 'hash-A'" in result.output
    assert "re-run `fedqsar prepare`" in result.output and not (tmp_path / "p1" / "probe.json").exists()
    other_key = generate_key()
    save_key(other_key, tmp_path / "other.key")
    keyed = partner_set(seed=9, n_rows=120, key_id=other_key.key_id).save(tmp_path / "other_key")
    result = _probe(consortium["trunk"], keyed, tmp_path / "other.key", tmp_path / "p2")
    assert result.exit_code != 0 and "key id" in result.output and other_key.key_id in result.output


def test_probe_refuses_altered_trunk_weights(consortium: dict[str, Path], tmp_path: Path) -> None:
    altered = tmp_path / "trunk"
    altered.mkdir()
    (altered / RECORD_FILE).write_bytes((consortium["trunk"] / RECORD_FILE).read_bytes())
    data = bytearray((consortium["trunk"] / WEIGHTS_FILE).read_bytes())
    data[-5] ^= 0xFF
    (altered / WEIGHTS_FILE).write_bytes(bytes(data))
    result = _probe(altered, consortium["candidate"], consortium["key"], tmp_path / "p")
    assert result.exit_code != 0 and "sha256" in result.output and "fetch the trunk folder again" in result.output


NO_NETWORK = r"""
import socket, sys
def refuse(event, args):
    if event == "socket.__new__" and len(args) > 1 and args[1] in (socket.AF_INET, socket.AF_INET6):
        raise PermissionError(f"network refused by the test: {event}")
    if event in ("socket.connect", "socket.bind", "socket.getaddrinfo", "socket.gethostbyname", "socket.sendto"):
        raise PermissionError(f"network refused by the test: {event} {args!r}")
sys.addaudithook(refuse)
socket_ok = True
try:
    socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    socket_ok = False
except PermissionError:
    pass
assert socket_ok, "the audit hook did not block a socket"
from fedqsar.cli.main import app
from fedqsar.ledger import read_entries
sys.argv = ["fedqsar", *sys.argv[1:]]
app()
"""


def test_probe_opens_no_network_connection(consortium: dict[str, Path], tmp_path: Path) -> None:
    """The real CLI in a fresh interpreter where creating an internet socket (or resolving a name) raises."""
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    args = ["probe", "--trunk", str(consortium["trunk"]), "--data", str(consortium["candidate"])]
    args += ["--key", str(consortium["key"]), "--out", str(tmp_path / "offline")]
    done = subprocess.run(
        [sys.executable, "-c", NO_NETWORK, *args], capture_output=True, text=True, env=env, timeout=900, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "network refused" not in done.stdout + done.stderr
    assert (tmp_path / "offline" / "probe.json").is_file() and "verdict:" in done.stdout
