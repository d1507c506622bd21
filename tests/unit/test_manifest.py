"""The one partner-compatibility validator (``fedqsar.compatibility``) on real manifests."""

from __future__ import annotations

import json

import pytest

from fedqsar import compatibility
from fedqsar.compatibility import check_manifests, differences, profile
from fedqsar.config import from_dict
from fedqsar.errors import IncompatiblePartnersError
from fedqsar.prep.config import PrepConfig
from fedqsar.prep.manifest import build_manifest


def _manifest(config: PrepConfig, key_id: str = "k1") -> dict:
    return {"format_version": 1, **build_manifest(config, key_id, {"compounds": 3}, "long")}


def _diff(left: dict, right: dict) -> list[compatibility.Difference]:
    return differences(profile(left), profile(right), left, right)


def test_identical_settings_have_no_blocking_difference() -> None:
    assert not [d for d in _diff(_manifest(PrepConfig()), _manifest(PrepConfig())) if d.blocks]


def test_config_difference_names_the_setting() -> None:
    other = from_dict(PrepConfig, {"fingerprint": {"n_bits": 2048}})
    found = _diff(_manifest(PrepConfig()), _manifest(other))
    fields = {d.field for d in found if d.blocks}
    assert {"prep_hash", "prep_config.fingerprint.n_bits", "n_bits"} <= fields
    assert any("32768" in d.describe() and "2048" in d.describe() for d in found)


def test_key_difference_blocks() -> None:
    found = _diff(_manifest(PrepConfig(), "k1"), _manifest(PrepConfig(), "k2"))
    assert [d.field for d in found if d.blocks] == ["key_id"]


def test_version_difference_is_only_a_warning() -> None:
    left, right = _manifest(PrepConfig()), _manifest(PrepConfig())
    right["versions"] = {**right["versions"], "rdkit": "2020.09.1"}
    found = _diff(left, right)
    assert [d.field for d in found] == ["versions.rdkit"] and not any(d.blocks for d in found)


def test_a_non_blocking_section_rule_lets_partners_combine(monkeypatch: pytest.MonkeyPatch) -> None:
    """The table decides: a section whose rule does not block only warns, and the prep hash,
    which it changes, then does not block either."""
    left = _manifest(PrepConfig())
    right = _manifest(from_dict(PrepConfig, {"values": {"max_replicate_spread": 3.0}}))
    with pytest.raises(IncompatiblePartnersError, match="prep_config.values.max_replicate_spread"):
        check_manifests({"A": left, "B": right})
    rules = tuple(
        compatibility.Rule(r.field, False) if r.field == "prep_config.values" else r for r in compatibility.RULES
    )
    monkeypatch.setattr(compatibility, "RULES", rules)
    check_manifests({"A": left, "B": right})  # no error
    found = _diff(left, right)
    assert {d.field for d in found} == {"prep_config.values.max_replicate_spread", "prep_hash"}
    assert not any(d.blocks for d in found)


def test_the_fold_scheme_is_each_partners_choice_but_the_fold_count_is_shared() -> None:
    left = _manifest(PrepConfig())
    right = _manifest(from_dict(PrepConfig, {"folds": {"scheme": "time", "time_values": "ordinal", "test_share": 0.3}}))
    assert left["prep_hash"] == right["prep_hash"]
    check_manifests({"A": left, "B": right})  # no error
    found = _diff(left, right)
    assert {d.field for d in found} == {
        "prep_config.folds.scheme",
        "prep_config.folds.time_values",
        "prep_config.folds.test_share",
    }
    assert not any(d.blocks for d in found)
    ten = _manifest(from_dict(PrepConfig, {"folds": {"scheme": "time", "n_folds": 10}}))
    blocking = [d for d in _diff(left, ten) if d.blocks]
    assert {d.field for d in blocking} == {"prep_config.folds.n_folds", "prep_hash"}
    with pytest.raises(IncompatiblePartnersError, match="prep_config.folds.n_folds"):
        check_manifests({"A": left, "B": ten})


def test_the_profile_shows_the_fold_scheme_but_no_file_path() -> None:
    folds = {"scheme": "split_file", "split_file": "/home/me/secret/split.json"}
    shown = profile(_manifest(from_dict(PrepConfig, {"folds": folds})))
    assert '"split_file"' in shown["fold_choice"] and "secret" not in json.dumps(shown)


def test_legacy_time_fold_sets_whose_hash_held_the_scheme_still_combine() -> None:
    """A PreparedSet from before the scheme left the hash: only the fold choice explains its prep hash."""
    left = _manifest(PrepConfig())
    right = _manifest(from_dict(PrepConfig, {"folds": {"scheme": "time"}}))
    right["prep_hash"] = "an older hash that still held folds.scheme"
    found = _diff(left, right)
    assert {d.field for d in found} == {"prep_config.folds.scheme", "prep_hash"} and not any(d.blocks for d in found)


def test_a_prep_hash_that_no_section_explains_blocks() -> None:
    left, right = _manifest(PrepConfig()), _manifest(PrepConfig())
    right["prep_hash"] = "edited"
    assert [d.field for d in _diff(left, right) if d.blocks] == ["prep_hash"]


def test_handshake_extras_are_not_compared() -> None:
    base = profile(_manifest(PrepConfig()))
    assert differences({**base, "partner": "A", "num_examples": 5}, {**base, "partner": "B", "num_examples": 9}) == []
