"""One canonical-JSON hash: ledgers and hashes written before it stay verifiable.

The fixture ``tests/fixtures/ledger_1fa530a`` was written with the code of commit 1fa530a,
before ``fedqsar.hashing`` replaced six recipes (its README holds the scripts).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pytest

from fedqsar.compatibility import profile
from fedqsar.config import config_hash
from fedqsar.errors import LedgerIntegrityError
from fedqsar.federation.config import FederationConfig
from fedqsar.federation.guards import handshake_summary
from fedqsar.federation.server_app import ServerPlan
from fedqsar.hashing import canonical_json, hash_json, matches_recorded, sha256_file
from fedqsar.ledger import Ledger, read_entries, verify
from fedqsar.model.config import ModelConfig, TrainConfig
from fedqsar.prep.config import PrepConfig

FIXTURE = Path(__file__).parents[1] / "fixtures" / "ledger_1fa530a"
RECORD = json.loads((FIXTURE / "hashes.json").read_text(encoding="utf-8"))


def test_a_ledger_written_before_the_unified_hash_still_verifies(tmp_path: Path) -> None:
    run = tmp_path / "federation"
    shutil.copytree(FIXTURE, run)
    result = verify(run)
    assert result.n_entries == 5 and result.complete
    assert result.head_hash == json.loads((FIXTURE / "ledger.head").read_text(encoding="utf-8"))["hash"]
    partner = [e for e in read_entries(run / "ledger.sqlite") if e.kind == "partner"][0]
    assert partner.payload["partner"] == "Pharma-α"  # non-ASCII payloads are hashed as they were


def test_the_fixture_ledger_detects_an_edit(tmp_path: Path) -> None:
    run = tmp_path / "federation"
    shutil.copytree(FIXTURE, run)
    (run / "ledger.head").write_text('{"hash":"' + "1" * 64 + '","seq":5}\n', encoding="utf-8")
    with pytest.raises(LedgerIntegrityError):
        verify(run)


def test_config_and_manifest_hashes_are_the_bytes_recorded_before() -> None:
    manifest = RECORD["manifest"]
    assert hash_json(manifest) == RECORD["manifest_hash"] == RECORD["manifest_sha256"] == RECORD["ledger_hash_json"]
    assert PrepConfig().hash() == RECORD["prep_hash"]
    assert config_hash(ModelConfig()) == RECORD["config_hashes"]["model"]
    assert config_hash(TrainConfig()) == RECORD["config_hashes"]["train"]
    assert config_hash(FederationConfig()) == RECORD["config_hashes"]["federation"]
    assert profile(manifest) == RECORD["profile"]
    assert handshake_summary(manifest, 0)["manifest_sha256"] == RECORD["manifest_sha256"]


def test_a_checkpoint_hashed_by_the_earlier_server_recipe_is_still_resumable() -> None:
    plan = ServerPlan(FederationConfig(), ModelConfig(), TrainConfig(), Path("run"), 3)
    assert plan.config_hash() != RECORD["server_plan_config_hash"]  # the spaced recipe is gone ...
    assert plan.matches_checkpoint({"config_hash": RECORD["server_plan_config_hash"]})  # ... but still read
    assert plan.matches_checkpoint({"config_hash": plan.config_hash()})
    other = ServerPlan(FederationConfig(rounds=99), ModelConfig(), TrainConfig(), Path("run"), 3)
    assert not other.matches_checkpoint({"config_hash": RECORD["server_plan_config_hash"]})
    assert not plan.matches_checkpoint({})


def test_an_ascii_escaped_manifest_hash_still_matches_non_ascii_content() -> None:
    manifest = RECORD["manifest_non_ascii"]
    assert hash_json(manifest) != RECORD["manifest_hash_non_ascii"]  # today's bytes are UTF-8, not \\u escapes
    assert matches_recorded(RECORD["manifest_hash_non_ascii"], manifest)
    assert not matches_recorded(RECORD["manifest_hash_non_ascii"], RECORD["manifest"])


def test_canonical_json_sorts_compacts_and_converts() -> None:
    value = {"b": np.float32(0.5), "a": [np.int64(3), Path("x/y")], "c": {"β", "α"}, "d": np.arange(2)}
    assert canonical_json(value) == '{"a":[3,"x/y"],"b":0.5,"c":["α","β"],"d":[0,1]}'.encode()
    frozen = MappingProxyType({"b": 1, "a": MappingProxyType({"c": 2})})
    assert hash_json(frozen) == hash_json({"a": {"c": 2}, "b": 1})  # a read-only mapping hashes as its dict
    with pytest.raises(ValueError):
        canonical_json({"x": float("nan")})
    with pytest.raises(TypeError):
        canonical_json({"x": object()})


def test_ledger_payload_hashes_match_hash_json(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.sqlite")
    entry = ledger.append("note", {"value": np.int64(4), "name": "Pharma-α"})
    assert entry.payload == {"value": 4, "name": "Pharma-α"}
    assert hash_json(entry.payload) == hash_json({"name": "Pharma-α", "value": 4})


def test_sha256_file_is_the_sha256_of_the_bytes(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"abc")
    assert sha256_file(path) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
