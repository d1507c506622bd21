from __future__ import annotations

from fedqsar.config import from_dict
from fedqsar.prep.config import PrepConfig
from fedqsar.prep.manifest import build_manifest, compare_manifests


def _manifest(config: PrepConfig, key_id: str = "k1") -> dict:
    return {"format_version": 1, **build_manifest(config, key_id, {"compounds": 3}, "long")}


def test_identical_settings_have_no_blocking_difference() -> None:
    differences = compare_manifests(_manifest(PrepConfig()), _manifest(PrepConfig()))
    assert not [d for d in differences if d.blocking]


def test_config_difference_names_the_setting() -> None:
    other = from_dict(PrepConfig, {"fingerprint": {"n_bits": 2048}})
    differences = compare_manifests(_manifest(PrepConfig()), _manifest(other))
    fields = {d.field for d in differences if d.blocking}
    assert {"prep_hash", "prep_config.fingerprint.n_bits"} <= fields
    assert any("32768" in d.describe() and "2048" in d.describe() for d in differences)


def test_key_difference_blocks() -> None:
    differences = compare_manifests(_manifest(PrepConfig(), "k1"), _manifest(PrepConfig(), "k2"))
    assert [d.field for d in differences if d.blocking] == ["key_id"]


def test_version_difference_is_only_a_warning() -> None:
    left, right = _manifest(PrepConfig()), _manifest(PrepConfig())
    right["versions"] = {**right["versions"], "rdkit": "2020.09.1"}
    differences = compare_manifests(left, right)
    assert differences and not any(d.blocking for d in differences)
