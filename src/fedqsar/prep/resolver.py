"""One (assay id, endpoint text, unit) combination -> its endpoint and unit, or a question.

The rules (in order; patterns and registry in ``prep.endpoints``):

1. ``--endpoint-map`` entry for the assay id (or the endpoint text): the partner's word.
2. The endpoint column naming a registered endpoint or alias exactly (``logD7.4``,
   ``PPB``, ``pIC50``), or the assay's endpoint from T0 / the thresholds file: a unit that
   does not fit rejects the rows (``unit_endpoint_mismatch``), it never changes the endpoint.
3. The *meaning* of the endpoint text, else of the assay id / column header: endpoints
   whose specific synonyms match (``KSOL``, ``plasma protein binding``, ``B-A/A-B``) beat
   those matched only by generic words (``% unbound``, ``Caco-2``); the unit must then fit
   (``HLM CLint`` in mL/min/kg is ``CLint_scaled``, in uL/min/mg ``CLint_microsomal``).
4. A unit that names one endpoint by itself (p-scales, labels, uL/min/mg protein, cm/s,
   B-A/A-B). A molar concentration, a % bound or mL/min/kg decides nothing alone.

The unit is then read in the endpoint's context (:func:`read_unit`): an empty unit is the
endpoint's natural one where it has one (a ratio for the efflux ratio, a logarithm for
logD, the p-scale when the name says pIC50, a fraction when it says fu), a bare ``%`` is
% unbound or % bound as the name says, ``log`` is log10 of the natural unit. TUNER T1
values (no unit) are on their endpoint's canonical scale, or on the assay's own scale
without one. Whatever cannot be decided is a question (:data:`UNKNOWN`, :data:`AMBIGUOUS`,
:data:`UNIT_NEEDED`, :data:`UNIT_MISMATCH`); ``allow_custom`` turns it into a custom endpoint.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from fedqsar.prep import endpoints as E
from fedqsar.prep import reasons as R
from fedqsar.prep import units as U
from fedqsar.prep.endpoint_map import EndpointMap, MapEntry

UNKNOWN, AMBIGUOUS, UNIT_NEEDED, UNIT_MISMATCH = "unknown", "ambiguous", "unit_needed", "unit_mismatch"
SPECIFIC, GENERIC = 2, 1


@dataclass(frozen=True)
class Resolution:
    """How one (assay id, endpoint text, unit) combination is read."""

    assay_id: str
    endpoint_text: str
    unit_text: str
    endpoint: str = ""  # resolved name; custom name; "" = assay's own scale (TUNER)
    family: str = "other"
    canonical_key: str = ""
    unit_key: str = ""
    how: str = ""
    note: str = ""
    custom: bool = False
    reason: str | None = None  # row-level reject reason for every row of the combination
    question: str | None = None  # unknown | ambiguous | unit_needed | unit_mismatch
    candidates: tuple[str, ...] = ()
    loq_raw: float = float("nan")


# --- text ----------------------------------------------------------------------------------
_BLANKS = re.compile(r"[_\s]+")


@functools.lru_cache(maxsize=65536)
def normalise_text(text: str) -> str:
    """Lower case, ``_`` and runs of blanks to one blank, ``µ`` to ``u``."""
    return _BLANKS.sub(" ", str(text).lower().replace("µ", "u").replace("μ", "u")).strip()


@dataclass(frozen=True)
class _Patterns:
    specific: re.Pattern[str] | None
    generic: re.Pattern[str] | None
    excludes: re.Pattern[str] | None


def _join(patterns: Iterable[str]) -> re.Pattern[str] | None:
    patterns = list(patterns)
    return re.compile("|".join(f"(?:{p})" for p in patterns)) if patterns else None


_PATTERNS = {e.name: _Patterns(_join(e.synonyms), _join(e.generic), _join(e.excludes)) for e in E.REGISTRY}


@functools.lru_cache(maxsize=65536)
def text_candidates(text: str) -> tuple[tuple[str, int], ...]:
    """(endpoint name, SPECIFIC | GENERIC) of every endpoint whose synonyms match ``text`` (normalised)."""
    if not text:
        return ()
    out = []
    for name, patterns in _PATTERNS.items():
        if patterns.excludes is not None and patterns.excludes.search(text):
            continue
        if patterns.specific is not None and patterns.specific.search(text):
            out.append((name, SPECIFIC))
        elif patterns.generic is not None and patterns.generic.search(text):
            out.append((name, GENERIC))
    return tuple(out)


def best_candidates(text: str) -> list[str]:
    """Endpoints matched at the highest level (a specific match beats generic ones)."""
    found = text_candidates(text)
    if not found:
        return []
    top = max(level for _, level in found)
    return [name for name, level in found if level == top]


_PH = (re.compile(r"\bp ?h\s*[=:]?\s*(\d{1,2}(?:\.\d+)?)"), re.compile(r"log ?d\s*[(_ ]?\s*(\d{1,2}\.\d+)"))


def ph_of(text: str) -> float | None:
    """The pH a (normalised) name states (``pH 6.5``, ``logD7.4``), or None."""
    for pattern in _PH:
        match = pattern.search(text)
        if match:
            return float(match.group(1))
    return None


# --- units in an endpoint's context ---------------------------------------------------------
def read_unit(endpoint: E.Endpoint, unit_key: str, text: str) -> tuple[str | None, str]:
    """(unit key the values are in, note) for ``endpoint``; None when the unit cannot be read.

    ``unit_key`` is the normalised row unit ("" for none); ``text`` the normalised names.
    """
    unit = U.UNITS.get(unit_key)
    if unit_key and unit is not None and unit.dimension == endpoint.dimension:
        return unit_key, ""
    if not unit_key:
        read = _first_match(endpoint.bare_units, text)
        return read, f"no unit: read as {U.canonical_unit_name(read)}" if read else ""
    if unit is not None and unit.dimension == "percent" and endpoint.percent_units:
        read = _first_match(endpoint.percent_units, text)
        return read, f"'%' read as {U.UNITS[read].name}" if read and read != "%" else ""
    if unit is not None and unit.dimension == "log" and endpoint.dimension not in ("log", "label"):
        bare = _first_match(endpoint.bare_units, text)
        log_key = f"log10({bare})" if bare else ""
        if log_key in U.UNITS and U.UNITS[log_key].dimension == endpoint.dimension:
            return log_key, f"'{unit_key}' read as {U.canonical_unit_name(log_key)}"
    return None, ""


def _first_match(rules: tuple[tuple[str, str], ...], text: str) -> str | None:
    for pattern, key in rules:
        if not pattern or re.search(pattern, text):
            return U.unit_key(key)
    return None


# --- one combination ------------------------------------------------------------------------
@dataclass
class Resolver:
    """Resolution settings; :meth:`resolve` reads one combination (results cached)."""

    endpoint_map: EndpointMap | None = None
    allow_custom: bool = False
    tuner: bool = False  # TUNER input: an empty unit means the endpoint's canonical scale
    assay_endpoints: dict[str, str] = field(default_factory=dict)
    _cache: dict[tuple[str, str, str], Resolution] = field(default_factory=dict)

    def resolve(self, assay_id: str, endpoint_text: str, unit_text: str) -> Resolution:
        key = (assay_id, endpoint_text, unit_text)
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = self._custom_if_allowed(self._resolve(*key))
        return found

    def _resolve(self, assay_id: str, endpoint_text: str, unit_text: str) -> Resolution:
        base = Resolution(assay_id, endpoint_text, unit_text, unit_key=U.unit_key(unit_text))
        if not assay_id:
            return _with(base, reason=R.MISSING_ASSAY)
        text = normalise_text(f"{endpoint_text} {assay_id}")
        entry = self.endpoint_map.lookup(assay_id, endpoint_text) if self.endpoint_map else None
        if entry is not None:
            return self._mapped(base, entry, text)
        stated = endpoint_text or self.assay_endpoints.get(assay_id, "")
        explicit = E.lookup_endpoint(stated) if stated else None
        if explicit is not None:
            return self._explicit(base, explicit, text, "endpoint column")
        if self.tuner and not stated and not unit_text:
            return _with(
                base, how="assay scale", note="TUNER T1 without endpoint: values kept on the assay's own scale"
            )
        if unit_text and base.unit_key not in U.UNITS:
            named = best_candidates(text)
            return _with(base, endpoint=named[0] if len(named) == 1 else stated, reason=R.UNKNOWN_UNIT, how="unit")
        return self._inferred(base, text)

    def _mapped(self, base: Resolution, entry: MapEntry, text: str) -> Resolution:
        unit_key = U.unit_key(entry.unit) if entry.unit else base.unit_key
        base = _with(base, unit_key=unit_key, loq_raw=entry.loq if entry.loq is not None else float("nan"))
        how = f"endpoint map ({entry.key})"
        if entry.custom:
            return _custom(base, entry.custom_name, how)
        endpoint = E.get_endpoint(entry.endpoint)
        assert endpoint is not None, entry.endpoint  # checked when the map was read
        return self._explicit(base, endpoint, text, how, unit_given=bool(entry.unit or base.unit_text))

    def _explicit(
        self, base: Resolution, endpoint: E.Endpoint, text: str, how: str, unit_given: bool | None = None
    ) -> Resolution:
        """The endpoint is stated: a unit that does not fit rejects the rows, never asks."""
        given = bool(base.unit_text) if unit_given is None else unit_given
        if not given and self.tuner:
            return _resolved(base, endpoint, endpoint.canonical_unit, how, "TUNER T1: on the endpoint's scale")
        if given and base.unit_key not in U.UNITS:
            return _with(base, endpoint=endpoint.name, family=endpoint.family, reason=R.UNKNOWN_UNIT, how=how)
        read, note = read_unit(endpoint, base.unit_key if given else "", text)
        if read is None and given:
            return _with(
                base,
                endpoint=endpoint.name,
                family=endpoint.family,
                canonical_key=endpoint.canonical_unit,
                reason=R.UNIT_ENDPOINT_MISMATCH,
                how=how,
            )
        if read is None:
            return _question(base, UNIT_NEEDED, (endpoint.name,), how)
        return _resolved(base, endpoint, read, how, note)

    def _inferred(self, base: Resolution, text: str) -> Resolution:
        source, names = "endpoint text", best_candidates(normalise_text(base.endpoint_text))
        if not names:
            source, names = "assay name", best_candidates(normalise_text(base.assay_id))
        if not names:
            implied = E.UNIT_IMPLIES.get(base.unit_key)
            if implied is not None:
                return self._explicit(base, E.ENDPOINTS[implied], text, f"unit {base.unit_text!r}")
            return _question(base, UNKNOWN, _same_dimension(base.unit_key), "")
        if not base.unit_text:
            if len(names) > 1:
                return _question(base, AMBIGUOUS, tuple(names), source)
            endpoint = _at_ph(E.ENDPOINTS[names[0]], text)
            read, note = read_unit(endpoint, "", text)
            if read is None:
                return _question(base, UNIT_NEEDED, (endpoint.name,), source)
            return _resolved(
                base, endpoint, read, f"{source} -> {names[0]}", _join_notes(note, _ph_note(endpoint, text))
            )
        fitting = [n for n in names if read_unit(E.ENDPOINTS[n], base.unit_key, text)[0] is not None]
        if len(fitting) != 1:
            return _question(base, UNIT_MISMATCH if not fitting else AMBIGUOUS, tuple(fitting or names), source)
        endpoint = _at_ph(E.ENDPOINTS[fitting[0]], text)
        read, note = read_unit(endpoint, base.unit_key, text)
        return _resolved(base, endpoint, read, f"{source} -> {fitting[0]}", _join_notes(note, _ph_note(endpoint, text)))  # type: ignore[arg-type]

    def _custom_if_allowed(self, res: Resolution) -> Resolution:
        if res.question is None or not self.allow_custom:
            return res
        name = res.endpoint_text or res.assay_id
        kept = _custom(_with(res, question=None), name, "custom (--allow-custom)")
        return _with(kept, note=f"{res.question}: {', '.join(res.candidates) or 'no registered endpoint'}")


def _with(res: Resolution, **changes: object) -> Resolution:
    return Resolution(**{**vars(res), **changes})  # dataclasses.replace is 5x slower


def _resolved(base: Resolution, endpoint: E.Endpoint, unit_key: str, how: str, note: str) -> Resolution:
    return _with(
        base,
        endpoint=endpoint.name,
        family=endpoint.family,
        canonical_key=endpoint.canonical_unit,
        unit_key=unit_key,
        how=how,
        note=note,
    )


def _custom(base: Resolution, name: str, how: str) -> Resolution:
    unit_key = base.unit_key if base.unit_key in U.UNITS else ""
    custom = E.custom_endpoint(name, unit_key)
    return _with(
        base,
        endpoint=name,
        family="other",
        canonical_key=custom.canonical_unit,
        unit_key=unit_key,
        how=how,
        custom=True,
    )


def _question(base: Resolution, kind: str, candidates: tuple[str, ...], how: str) -> Resolution:
    return _with(base, question=kind, candidates=candidates, how=how)


def _same_dimension(unit_key: str) -> tuple[str, ...]:
    unit = U.UNITS.get(unit_key)
    if unit is None or unit.dimension == "none":
        return ()
    return tuple(e.name for e in E.REGISTRY if e.dimension == unit.dimension)


def _at_ph(endpoint: E.Endpoint, text: str) -> E.Endpoint:
    if not endpoint.ph_dependent:
        return endpoint
    ph = ph_of(text)
    return E.logd_at(ph) if ph is not None else endpoint


def _ph_note(endpoint: E.Endpoint, text: str) -> str:
    return "no pH in the name: read as pH 7.4" if endpoint.ph_dependent and ph_of(text) is None else ""


def _join_notes(*notes: str) -> str:
    return "; ".join(n for n in notes if n)
