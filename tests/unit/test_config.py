from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from fedqsar.config import config_hash, from_dict, load_toml, save_toml, to_dict
from fedqsar.errors import ConfigError
from fedqsar.prep.config import PrepConfig


@dataclass(frozen=True)
class Inner:
    size: int = 3
    rate: float = 0.5


@dataclass(frozen=True)
class Outer:
    name: str = "x"
    sizes: tuple[int, ...] = (1, 2)
    inner: Inner = field(default_factory=Inner)


def test_round_trip_through_toml(tmp_path: Path) -> None:
    config = Outer(name="y", sizes=(4, 5, 6), inner=Inner(size=7, rate=1.0))
    save_toml(config, tmp_path / "c.toml")
    assert load_toml(Outer, tmp_path / "c.toml") == config


def test_hash_is_stable_and_sensitive() -> None:
    assert config_hash(PrepConfig()) == config_hash(PrepConfig())
    assert PrepConfig().hash() == config_hash(PrepConfig())
    changed = from_dict(PrepConfig, {"fingerprint": {"radius": 2}})
    assert changed.hash() != PrepConfig().hash()


def test_unknown_key_names_valid_keys() -> None:
    with pytest.raises(ConfigError) as info:
        from_dict(Outer, {"nmae": "typo"})
    assert "nmae" in info.value.what and "name" in info.value.fix


def test_wrong_type_is_reported() -> None:
    with pytest.raises(ConfigError, match="inner.size must be int"):
        from_dict(Outer, {"inner": {"size": "three"}})


def test_int_accepted_for_float() -> None:
    assert from_dict(Inner, {"rate": 1}).rate == 1.0


def test_bad_toml_file_says_where(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("name = \n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_toml(Outer, bad)
    with pytest.raises(ConfigError, match="does not exist"):
        load_toml(Outer, tmp_path / "missing.toml")


def test_to_dict_is_plain() -> None:
    data = to_dict(Outer())
    assert data == {"name": "x", "sizes": [1, 2], "inner": {"size": 3, "rate": 0.5}}
