"""Can these partners' PreparedSets be combined? The one validator, driven by a table of rules.

Every place that combines partners' data asks this module: the federation's precheck and
its server handshake (``federation.guards``), the evaluation protocol (pooled training mixes
the partners' rows) and ``fedqsar manifest-diff``. All of them raise the one
:class:`~fedqsar.errors.IncompatiblePartnersError` for a blocking difference.

A partner is described by its *profile* (:func:`profile`): flat scalars only, so it can
travel in a Flower ConfigRecord in the handshake. It holds settings and hashes, never data:
format version, consortium key id, fingerprint width and settings, descriptor block width, one hash per section of
the prep config, the prep hash, library versions.

``RULES`` says, per profile field, whether a difference *blocks* and how to fix it. A section
of the prep config that may differ between partners without blocking is a one-line change of
its rule; ``prep_hash`` summarises the sections, so it blocks only when a blocking section
differs, or when no section explains the difference. The fold scheme is such a per-partner
choice: only ``folds.n_folds`` must match (``prep_config.folds``), the rest is ``fold_choice``
and only warns (it is outside the prep hash too, ``PrepConfig.hash``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fedqsar.errors import IncompatiblePartnersError
from fedqsar.hashing import canonical_text, hash_json
from fedqsar.prep.config import SHARED_FOLD_FIELDS
from fedqsar.prep.manifest import Manifest

FOLD_CHOICE_FIELDS = ("scheme", "time_values", "test_share", "valid_share")
"""The per-partner fold settings a profile shows (never a partner's file path or column name)."""

PREP_SECTIONS = ("standardize", "fingerprint", "descriptors", "folds", "values", "tasks")
SECTION_PREFIX = "prep_config."
DEFAULT_FIX = "all partners must run `fedqsar prepare` with the same prep config and consortium key"


@dataclass(frozen=True)
class Rule:
    """One compared field of a partner profile.

    Attributes
    ----------
    field
        Profile key.
    blocks
        A difference forbids combining the partners' data.
    fix
        What to do about a difference.
    summarises
        For a summary hash (``prep_hash``): the prefix of the fields it summarises.
    path
        Where the field's detail lives in a manifest (default: the field itself).
    keys
        Only these keys of that detail are compared (default: all).
    """

    field: str
    blocks: bool
    fix: str = DEFAULT_FIX
    summarises: str = ""
    path: str = ""
    keys: tuple[str, ...] = ()


RULES: tuple[Rule, ...] = (
    Rule("format_version", True, "re-run `fedqsar prepare` with the same fedqsar version on every partner"),
    Rule("key_id", True, "prepare every partner with the same consortium key file (`fedqsar prepare --key`)"),
    Rule("n_bits", True),
    Rule("fingerprint", True),
    Rule(f"{SECTION_PREFIX}standardize", True),
    Rule(f"{SECTION_PREFIX}fingerprint", True),
    Rule("n_descriptors", True),
    Rule(f"{SECTION_PREFIX}descriptors", True),
    Rule(f"{SECTION_PREFIX}folds", True, keys=SHARED_FOLD_FIELDS),  # only n_folds must match
    Rule(
        "fold_choice",
        False,
        "nothing to fix: each partner chooses its own fold scheme; evaluation reports which each used",
        path=f"{SECTION_PREFIX}folds",
        keys=FOLD_CHOICE_FIELDS,
    ),
    Rule(f"{SECTION_PREFIX}values", True),
    Rule(f"{SECTION_PREFIX}tasks", True),
    Rule("prep_hash", True, summarises=SECTION_PREFIX),
    Rule("versions", False, "usually harmless; install the same library versions to be sure"),
)


@dataclass(frozen=True)
class Difference:
    """One way two partners differ; ``blocks`` ones forbid combining their data."""

    field: str
    left: Any
    right: Any
    blocks: bool
    fix: str = DEFAULT_FIX

    @property
    def blocking(self) -> bool:
        return self.blocks

    def describe(self) -> str:
        level = "BLOCKING" if self.blocks else "warning"
        return f"{level}: {self.field}: {self.left!r} != {self.right!r}"


def _short_hash(value: Any) -> str:
    return hash_json(value)[:16]


def profile(manifest: Mapping[str, Any], n_bits: int | None = None) -> dict[str, str | int]:
    """The comparable settings of a PreparedSet manifest (flat scalars, Flower-config safe).

    Parameters
    ----------
    manifest
        ``manifest.json`` of a PreparedSet.
    n_bits
        Width of its ``X`` when known; default the manifest's fingerprint ``n_bits``.
    """
    recorded = Manifest.from_dict(manifest)
    prep_config = recorded.prep_config or {}
    fingerprint = recorded.fingerprint
    width = n_bits if n_bits is not None else fingerprint.get("n_bits", 0)
    out: dict[str, str | int] = {
        "format_version": recorded.format_version or 0,
        "key_id": str(recorded.key_id or ""),
        "n_bits": int(width),
        "fingerprint": canonical_text(fingerprint),
        "n_descriptors": len(recorded.descriptors),
        "prep_hash": str(recorded.prep_hash or ""),
        "versions": canonical_text(recorded.versions or {}),
    }
    sections = sorted(set(PREP_SECTIONS) | set(prep_config))
    out.update({f"{SECTION_PREFIX}{name}": _short_hash(prep_config.get(name)) for name in sections})
    folds = prep_config.get("folds") or {}
    out[f"{SECTION_PREFIX}folds"] = _short_hash({k: folds.get(k) for k in SHARED_FOLD_FIELDS})
    out["fold_choice"] = canonical_text({k: v for k, v in sorted(folds.items()) if k in FOLD_CHOICE_FIELDS})
    return out


def _rule(field: str) -> Rule:
    for rule in RULES:
        if rule.field == field:
            return rule
    return Rule(field, True)  # a field this version does not know: refuse rather than guess


def differences(
    left: Mapping[str, Any],
    right: Mapping[str, Any],
    left_manifest: Mapping[str, Any] | None = None,
    right_manifest: Mapping[str, Any] | None = None,
) -> list[Difference]:
    """Every difference between two profiles, in ``RULES`` order.

    Given both manifests, a differing prep-config section is spelled out key by key
    (``prep_config.fingerprint.radius: 3 != 2``); library versions likewise. Keys that are
    not profile fields (a handshake's partner name, example count) are not compared.
    """
    known = {r.field for r in RULES}
    sections = {k for k in set(left) | set(right) if k.startswith(SECTION_PREFIX)}  # also unknown ones: they block
    fields = [r.field for r in RULES] + sorted(sections - known)
    found: list[Difference] = []
    for field in fields:
        rule = _rule(field)
        if left.get(field) == right.get(field) or rule.summarises:
            continue
        found += _detailed(rule, left, right, left_manifest, right_manifest)
    for rule in RULES:
        if rule.summarises and left.get(rule.field) != right.get(rule.field):
            explained = [d for d in found if d.field.startswith(rule.summarises)]
            blocks = rule.blocks and (not explained or any(d.blocks for d in explained))
            found.append(Difference(rule.field, left.get(rule.field), right.get(rule.field), blocks, rule.fix))
    return found


def _detailed(
    rule: Rule,
    left: Mapping[str, Any],
    right: Mapping[str, Any],
    left_manifest: Mapping[str, Any] | None,
    right_manifest: Mapping[str, Any] | None,
) -> list[Difference]:
    if left_manifest is not None and right_manifest is not None:
        where = rule.path or rule.field
        path = where.split(".")
        nested = _diff_nested(_get(left_manifest, path), _get(right_manifest, path), where)
        nested = [(name, a, b) for name, a, b in nested if _compared_by(rule, name, len(path))]
        if nested:
            return [Difference(name, a, b, rule.blocks, rule.fix) for name, a, b in nested]
    return [Difference(rule.field, left.get(rule.field), right.get(rule.field), rule.blocks, rule.fix)]


def _compared_by(rule: Rule, name: str, depth: int) -> bool:
    """Whether the detail ``name`` (a dotted path ``depth`` deep into the manifest) belongs to ``rule``:
    one of its ``keys`` when it has some, else any."""
    parts = name.split(".")
    return not rule.keys or len(parts) <= depth or parts[depth] in rule.keys


def _get(mapping: Mapping[str, Any], path: list[str]) -> Any:
    value: Any = mapping
    for part in path:
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


def _diff_nested(left: Any, right: Any, prefix: str) -> list[tuple[str, Any, Any]]:
    if isinstance(left, Mapping) and isinstance(right, Mapping):
        out: list[tuple[str, Any, Any]] = []
        for name in sorted(set(left) | set(right)):
            out += _diff_nested(left.get(name), right.get(name), f"{prefix}.{name}")
        return out
    return [] if left == right else [(prefix, left, right)]


def compare(
    profiles: Mapping[str, Mapping[str, Any]], manifests: Mapping[str, Mapping[str, Any]] | None = None
) -> dict[str, list[Difference]]:
    """Differences of every partner from the first one (name order): partner -> differences."""
    names = sorted(profiles)
    if not names:
        raise IncompatiblePartnersError("no partner to compare", "give at least one partner's PreparedSet")
    manifests = manifests or {}
    first = names[0]
    return {
        name: differences(profiles[first], profiles[name], manifests.get(first), manifests.get(name))
        for name in names[1:]
    }


def check_partners(
    profiles: Mapping[str, Mapping[str, Any]], manifests: Mapping[str, Mapping[str, Any]] | None = None
) -> list[tuple[str, Difference]]:
    """Refuse partners that may not be combined; return the non-blocking differences.

    Parameters
    ----------
    profiles
        partner name -> :func:`profile` (or a handshake summary, which contains it).
    manifests
        partner name -> full manifest, for key-by-key detail (optional).

    Raises
    ------
    IncompatiblePartnersError
        Naming the first partner that differs from the first one (name order), every
        blocking field with both values, and the fix.
    """
    warnings: list[tuple[str, Difference]] = []
    first = sorted(profiles)[0] if profiles else ""
    for name, found in compare(profiles, manifests).items():
        blocking = [d for d in found if d.blocks]
        if blocking:
            raise IncompatiblePartnersError(
                f"partners {first!r} and {name!r} cannot be combined: " + "; ".join(d.describe() for d in blocking),
                blocking[0].fix,
            )
        warnings += [(name, d) for d in found]
    return warnings


def check_manifests(manifests: Mapping[str, Mapping[str, Any]], n_bits: Mapping[str, int] | None = None) -> None:
    """:func:`check_partners` for local PreparedSet manifests (``n_bits``: widths of their X)."""
    widths = n_bits or {}
    check_partners({name: profile(m, widths.get(name)) for name, m in manifests.items()}, manifests)
