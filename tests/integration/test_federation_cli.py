"""End to end on real shared data: four ADMET partners (Biogen, AstraZeneca, ChEMBL literature,
...) prepared with one consortium key, then ``fedqsar federate --partners A/ B/ C/ D/ --out RUN/``
with SecAgg+ on (the default), in Flower's simulation engine."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fedqsar.cli.main import app
from fedqsar.datasets.scenarios import build_scenario
from fedqsar.ledger import verify
from fedqsar.model.io import load_model
from fedqsar.model.network import DESCRIPTOR_WEIGHTS, INPUT_LAYER_NAMES
from fedqsar.model.trunk_file import read_trunk
from fedqsar.prep.config import FingerprintConfig, PrepConfig
from fedqsar.prep.keys import ConsortiumKey
from fedqsar.prep.pipeline import prepare

pytestmark = pytest.mark.integration
KEY = ConsortiumKey(hashlib.sha256(b"fedqsar federation integration test").digest())


@pytest.fixture(scope="module")
def real_partners(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("admet")
    raw = build_scenario("admet", root / "raw", shared_data, max_compounds=150)
    config = PrepConfig(fingerprint=FingerprintConfig(n_bits=1024))
    folders = {}
    for name, path in raw.items():
        folders[name] = root / "prepared" / name
        prepare(path, folders[name], KEY, config, n_jobs=1)
    return folders


def test_federate_four_real_partners_with_secagg(real_partners: dict[str, Path], tmp_path: Path) -> None:
    assert len(real_partners) == 4
    config = tmp_path / "fed.toml"
    config.write_text(  # train pinned: personalisation trains each partner's local model with it
        "[model]\nhidden_sizes = [32, 16]\n[train]\nepochs = 25\nbatch_size = 64\nearly_stopping_patience = 5\n"
        "[federation]\nrounds = 2\n"
    )
    folders = [str(p) for p in real_partners.values()]
    result = CliRunner().invoke(
        app, ["federate", "--partners", *folders, "--out", str(tmp_path / "run"), "--config", str(config), "--quiet"]
    )
    assert result.exit_code == 0, result.output
    assert "SecAgg+" in result.output
    out = tmp_path / "run"
    assert verify(out / "ledger.sqlite").complete
    for name in real_partners:
        saved = load_model(out / "partners" / name / "model")
        assert saved.partner == name and saved.model.n_bits == 1024
    # the published trunk under the default private_input: no first layer (the descriptor weights are part of it)
    trunk = read_trunk(out / "trunk")
    own = (*INPUT_LAYER_NAMES, DESCRIPTOR_WEIGHTS)
    assert saved.model.n_descriptors > 0 and trunk.partner_tensors == own and not set(trunk.state) & set(own)
    assert set(trunk.state) | set(own) == set(saved.model.trunk_state())
    assert "[INFO]" not in result.output and "DEBUG" not in result.output  # Flower's log stays out of stdout


def test_incompatible_partner_is_refused_by_name(real_partners: dict[str, Path], tmp_path: Path) -> None:
    import json
    import shutil

    odd = tmp_path / "odd"
    shutil.copytree(next(iter(real_partners.values())), odd)
    manifest = json.loads((odd / "manifest.json").read_text())
    manifest["key_id"] = "ffffffffffffffff"
    (odd / "manifest.json").write_text(json.dumps(manifest))
    folders = [str(p) for p in list(real_partners.values())[:3]] + [str(odd)]
    result = CliRunner().invoke(app, ["federate", "--partners", *folders, "--out", str(tmp_path / "run"), "--quiet"])
    assert result.exit_code != 0
    assert "key_id" in result.output and "'odd'" in result.output
