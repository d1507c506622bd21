"""The PreparedSet manifest: what settings produced it (``Manifest``, the one reader of its fields).

Whether two manifests may be combined is decided by ``fedqsar.compatibility`` (the one
validator: prep settings, consortium key id, format version block; library versions warn).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from fedqsar.config import from_dict, to_dict
from fedqsar.errors import PreparedSetError
from fedqsar.prep.config import PrepConfig
from fedqsar.versions import PREP_LIBRARIES, library_versions

CORE_FIELDS = ("prep_hash", "key_id", "prep_config", "versions", "counts")
REQUIRED_FIELDS = ("format_version", *CORE_FIELDS)


@dataclass(frozen=True, eq=True)
class Manifest(Mapping[str, Any]):
    """A PreparedSet's ``manifest.json`` as a typed, read-only object.

    The fields ``prepare`` always writes are attributes; everything else (written by ``prepare``
    after the core: fingerprint, fold record, descriptors, semantics; or by later stages:
    ``evaluation_folds`` from ``evaluation.sets``, ``evaluation_copy`` from ``evaluation.overlap``)
    lives in ``extra`` and is read through the properties below. ``to_dict()`` gives back the exact
    mapping it was built from, so ``manifest.json`` and every hash of it are unchanged; the class is
    a read-only ``Mapping`` of that dict so it can be handed to code that serialises a manifest.

    Attributes
    ----------
    prep_hash
        ``PrepConfig.hash()`` of the settings that produced the set.
    key_id
        Public id of the consortium key (16 hex).
    prep_config
        ``PrepConfig`` as a dict (``prep_settings()`` parses it).
    versions
        Library versions (name -> version).
    counts
        compounds, tasks, input_rows, observations, unique_input_smiles.
    format_version
        PreparedSet format version; None until the set is saved (``PreparedSet.save`` adds it).
    extra
        Every other top-level field, as written.
    """

    prep_hash: str = ""
    key_id: str = ""
    prep_config: Mapping[str, Any] = field(default_factory=dict)
    versions: Mapping[str, str] = field(default_factory=dict)
    counts: Mapping[str, int] = field(default_factory=dict)
    format_version: int | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Manifest:
        """Manifest of a mapping (a copy; missing core fields take their empty defaults)."""
        if isinstance(data, Manifest):
            return data
        plain: dict[str, Any] = copy.deepcopy(dict(data))
        version = plain.pop("format_version", None)
        core = {name: plain.pop(name) for name in CORE_FIELDS if name in plain}
        return cls(**core, format_version=None if version is None else int(version), extra=plain)

    @classmethod
    def parse(cls, data: Mapping[str, Any], where: str) -> Manifest:
        """Manifest of a ``manifest.json`` read from disk, checking the required fields.

        Raises
        ------
        PreparedSetError
            When a required field is missing or of the wrong type (names the fields).
        """
        missing = [name for name in REQUIRED_FIELDS if name not in data]
        wrong = [
            name for name in ("prep_config", "versions", "counts") if name in data and not isinstance(data[name], dict)
        ]
        wrong += [name for name in ("prep_hash", "key_id") if name in data and not isinstance(data[name], str)]
        wrong += [] if isinstance(data.get("format_version", 0), int) else ["format_version"]
        if missing or wrong:
            problems = ([f"lacks {missing}"] if missing else []) + ([f"has malformed {wrong}"] if wrong else [])
            raise PreparedSetError(
                f"{where} {' and '.join(problems)}",
                "re-run `fedqsar prepare` for this partner with this version of fedqsar (do not edit manifest.json)",
            )
        return cls.from_dict(data)

    def to_dict(self) -> dict[str, Any]:
        """The manifest as the dict ``manifest.json`` holds (a deep copy)."""
        return copy.deepcopy(self._plain())

    def with_extra(self, **fields: Any) -> Manifest:
        """A copy with top-level ``fields`` added to (or replacing those in) ``extra``."""
        return replace(self, extra={**self.extra, **copy.deepcopy(fields)})

    def saved(self, format_version: int) -> Manifest:
        """This manifest as saved: ``format_version`` set when it is not yet."""
        return self if self.format_version is not None else replace(self, format_version=format_version)

    # ------------------------------------------------------------------ fields of ``extra``
    @property
    def descriptors(self) -> tuple[str, ...]:
        """Names of the descriptor columns (() without descriptors)."""
        return tuple(str(name) for name in self.extra.get("descriptors") or ())

    @property
    def fingerprint(self) -> dict[str, Any]:
        """Fingerprint settings (the top-level record, else the prep config's section)."""
        return dict(self.extra.get("fingerprint") or self.prep_config.get("fingerprint") or {})

    @property
    def fold_scheme(self) -> str:
        """Scheme of the folds ``prepare`` assigned (older sets: scaffold)."""
        return str(self.extra.get("fold_scheme", "scaffold"))

    @property
    def fold_record(self) -> dict[str, Any]:
        """``prepare``'s fold record (scheme, time_values, fold_shares, warnings; {} when absent)."""
        return dict(self.extra.get("folds") or {})

    @property
    def n_folds(self) -> int | None:
        """``prep_config.folds.n_folds``, or None when not recorded."""
        folds = self.prep_config.get("folds") or {}
        return None if "n_folds" not in folds else int(folds["n_folds"])

    @property
    def semantics(self) -> dict[str, Any]:
        """How ``prepare`` read the endpoints (``PrepareResult.semantics``; {} when absent)."""
        return dict(self.extra.get("semantics") or {})

    @property
    def evaluation_folds(self) -> dict[str, Any]:
        """Folds an evaluation gave this copy (scheme, source, n_unassigned; {} when none)."""
        value = self.extra.get("evaluation_folds")
        return dict(value) if isinstance(value, Mapping) else {}

    @property
    def evaluation_copy(self) -> dict[str, Any]:
        """Why an evaluation copy lacks rows (``evaluation.overlap.without_rows``; {} when not one)."""
        value = self.extra.get("evaluation_copy")
        return dict(value) if isinstance(value, Mapping) else {}

    def prep_settings(self, where: str = "manifest.json prep_config") -> PrepConfig:
        """The recorded ``prep_config`` as a ``PrepConfig``.

        Raises
        ------
        ConfigError
            When it is not a valid PrepConfig.
        """
        return from_dict(PrepConfig, dict(self.prep_config), where=where)

    # ------------------------------------------------------------------ Mapping protocol
    def _plain(self) -> dict[str, Any]:
        core = {name: getattr(self, name) for name in CORE_FIELDS}
        version = {} if self.format_version is None else {"format_version": self.format_version}
        return {**version, **core, **self.extra}

    def __getitem__(self, key: str) -> Any:
        return self._plain()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._plain())

    def __len__(self) -> int:
        return len(self._plain())


def build_manifest(
    config: PrepConfig, key_id: str, counts: dict[str, int], source_format: str, **extra: Any
) -> Manifest:
    """Manifest of a new PreparedSet (``format_version`` is added on save); ``extra``: further fields."""
    return Manifest(
        prep_hash=config.hash(),
        key_id=key_id,
        prep_config=to_dict(config),
        versions=library_versions(PREP_LIBRARIES),
        counts=dict(counts),
        extra={
            "fingerprint": to_dict(config.fingerprint),
            "source_format": source_format,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            **extra,
        },
    )
