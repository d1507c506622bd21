"""Configuration machinery: frozen dataclasses <-> dicts <-> TOML, and a stable hash.

Each stage defines its own frozen dataclass next to its code (``fedqsar.prep.config``,
``fedqsar.model.config``, ...). This module only knows how to turn any such dataclass
into plain data, back again, onto disk and into a hash that is identical on every
machine for the same settings.
"""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import tomli_w

from fedqsar.errors import ConfigError
from fedqsar.hashing import hash_json

T = TypeVar("T")
NONE_AS = "fedqsar_none_as"  # field metadata key: how a meaningful None is written to TOML/JSON


def to_dict(config: Any) -> dict[str, Any]:
    """Turn a (nested) dataclass into plain JSON/TOML-compatible data.

    Tuples become lists, nested dataclasses become tables, ``None`` values are dropped
    (TOML has no null) unless the field declares how None is written
    (``field(metadata={NONE_AS: value})``; the dataclass maps that value back to None),
    enum-like strings stay strings.
    """
    if not dataclasses.is_dataclass(config):
        raise ConfigError(f"{config!r} is not a configuration dataclass", "pass a config object")
    out: dict[str, Any] = {}
    for field in dataclasses.fields(config):
        value = _plain(getattr(config, field.name))
        if value is None and NONE_AS in field.metadata:
            value = field.metadata[NONE_AS]
        if value is not None:
            out[field.name] = value
    return out


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_dict(value)
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def from_dict(cls: type[T], data: dict[str, Any], *, where: str = "config") -> T:
    """Build dataclass ``cls`` from plain data, checking names and nested tables.

    Raises
    ------
    ConfigError
        On an unknown key (naming the valid ones) or a value of the wrong kind.
    """
    if not isinstance(data, dict):
        raise ConfigError(f"{where} must be a table, got {type(data).__name__}", "write it as a TOML table")
    spec = cls
    if not (isinstance(spec, type) and dataclasses.is_dataclass(spec)):
        raise ConfigError(f"{cls!r} is not a configuration dataclass", "pass a config class")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(spec)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(
            f"unknown key(s) {unknown} in {where}",
            f"valid keys are {sorted(names)}; check spelling",
        )
    kwargs = {name: _typed(hints[name], value, f"{where}.{name}") for name, value in data.items()}
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"invalid {where}: {exc}", "fix the value named above") from exc


def _typed(hint: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        non_none = [a for a in args if a is not type(None)]
        if value is None:
            return None
        return _typed(non_none[0], value, where) if len(non_none) == 1 else value
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return from_dict(hint, value, where=where)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where} must be a list, got {value!r}", "write it as [a, b, ...]")
        inner = args[0] if args else Any
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_typed(inner, v, where) for v in value)
        if args and len(args) == len(value):
            return tuple(_typed(a, v, where) for a, v in zip(args, value, strict=True))
        return tuple(value)
    if origin is dict:
        return dict(value)
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint in (int, float, str, bool) and not isinstance(value, hint):
        raise ConfigError(
            f"{where} must be {hint.__name__}, got {type(value).__name__} {value!r}",
            f"give a {hint.__name__}",
        )
    return value


def config_hash(config: Any) -> str:
    """Stable sha256 hex digest of a config's canonical JSON (:func:`fedqsar.hashing.hash_json`)."""
    return hash_json(to_dict(config))


def save_toml(config: Any, path: Path) -> None:
    """Write ``config`` as TOML to ``path`` (parents created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(tomli_w.dumps(to_dict(config)), encoding="utf-8")


def load_toml(cls: type[T], path: Path) -> T:
    """Read ``cls`` from a TOML file; missing keys keep their defaults.

    Raises
    ------
    ConfigError
        If the file is missing, is not valid TOML, or has unknown/mistyped keys.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist", "check the path or omit --config to use defaults")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"config file {path} is not valid TOML: {exc}", "fix the syntax at the position named"
        ) from exc
    return from_dict(cls, data, where=path.name)
