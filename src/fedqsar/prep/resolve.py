"""Endpoint resolution: each assay / column means exactly one endpoint, or prepare asks.

For every distinct (assay id, endpoint text, unit) of the input, evidence is weighed in this
order (registry and patterns: ``prep.endpoints``):

1. ``--endpoint-map`` entry for the assay id (or the endpoint text): the partner's word.
2. The endpoint column naming a registered endpoint or alias exactly (``logD7.4``,
   ``PPB``, ``pIC50``), or the assay's endpoint from T0 / the thresholds file.
3. The *meaning* of the endpoint text, else of the assay id / column header: endpoints
   whose specific synonyms match (``KSOL``, ``plasma protein binding``, ``B-A/A-B``) beat
   those matched only by generic words (``% unbound``, ``Caco-2``); the unit must then fit
   (``HLM CLint`` in mL/min/kg is ``CLint_scaled``, in uL/min/mg ``CLint_microsomal``).
4. A unit that names one endpoint by itself (p-scales, labels, uL/min/mg protein, cm/s,
   B-A/A-B). A molar concentration, a % bound or mL/min/kg decides nothing alone.

The unit is then read in the endpoint's context: an empty unit is the endpoint's natural
one where it has one (a ratio for the efflux ratio, a logarithm for logD, the p-scale
when the name says pIC50, a fraction when it says fu), a bare ``%`` is % unbound or
% bound as the name says, ``log`` is log10 of the natural unit. TUNER T1 values (no unit)
are on their endpoint's canonical scale, or on the assay's own scale without one.

Nothing is guessed silently. A combination that matches no endpoint, several, or one
whose unit cannot be read is a *question*: :meth:`Semantics.raise_for_questions` stops
prepare with every such assay, its candidates and the endpoint-map line to write — unless
``allow_custom``, which keeps it as a custom endpoint (listed in the summary and manifest).
Rows whose unit is unknown, or whose stated endpoint and unit disagree, are rejected
(``unknown_unit``, ``unit_endpoint_mismatch``) and counted.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fedqsar.errors import EndpointResolutionError
from fedqsar.prep import endpoints as E
from fedqsar.prep import reasons as R
from fedqsar.prep import units as U
from fedqsar.prep.endpoint_map import EndpointMap, MapEntry

KEY_COLUMNS = ("assay_id", "endpoint", "unit")  # input columns
TABLE_KEYS = ("assay_id", "endpoint_text", "unit_text")  # the same texts in Semantics.table
ROW_COLUMNS = ("resolved_endpoint", "family", "canonical_key", "unit_key", "reason", "loq_raw")
UNKNOWN, AMBIGUOUS, UNIT_NEEDED, UNIT_MISMATCH = "unknown", "ambiguous", "unit_needed", "unit_mismatch"
SPECIFIC, GENERIC = 2, 1
MAX_LISTED = 12


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


# --- a whole table ----------------------------------------------------------------------------
def _texts(series: pd.Series) -> np.ndarray:
    """Stripped strings, "" for missing cells, object array (n,)."""
    values = series.to_numpy(dtype=object)
    missing = pd.isna(values)
    texts = [
        "" if gone else (v.strip() if type(v) is str else str(v).strip())
        for v, gone in zip(values, missing, strict=True)
    ]
    return np.array(texts, dtype=object)


def _combinations(df: pd.DataFrame) -> tuple[np.ndarray, list[tuple[str, str, str]]]:
    """Per row the index of its (assay id, endpoint text, unit text), and those combinations.

    Vectorised: each column is factorised, the three codes combined and factorised again; only
    the distinct texts are stripped (so " nM" and "nM" are one combination).

    Returns
    -------
    codes
        int64 (n,): row -> combination.
    combinations
        The distinct (assay id, endpoint text, unit text), "" for missing cells.
    """
    parts = [pd.factorize(df[c].to_numpy(dtype=object), use_na_sentinel=True) for c in KEY_COLUMNS]
    sizes = [len(uniques) + 1 for _, uniques in parts]
    a, e, u = (codes.astype(np.int64) + 1 for codes, _ in parts)  # 0: missing cell
    row_codes, combined = pd.factorize((a * sizes[1] + e) * sizes[2] + u)
    texts = [_texts(pd.Series(np.r_[np.array([None], dtype=object), uniques], dtype=object)) for _, uniques in parts]
    rest, unit_code = np.divmod(combined.astype(np.int64), sizes[2])
    assay_code, endpoint_code = np.divmod(rest, sizes[1])
    index: dict[tuple[str, str, str], int] = {}
    remap = np.array(
        [
            index.setdefault(k, len(index))
            for k in zip(texts[0][assay_code], texts[1][endpoint_code], texts[2][unit_code], strict=True)
        ],
        dtype=np.int64,
    )
    return remap[row_codes], list(index)


RESOLUTION_FIELDS = tuple(Resolution.__dataclass_fields__)
_ROW_SOURCES = {  # ROW_COLUMNS (but loq_raw) <- Semantics.table column
    "resolved_endpoint": "endpoint",
    "family": "family",
    "canonical_key": "canonical_key",
    "unit_key": "unit_key",
    "reason": "reason",
}


@dataclass
class Semantics:
    """Resolutions of a partner's input (one per combination) and the settings that made them."""

    resolver: Resolver
    table: pd.DataFrame  # one row per combination: Resolution fields + ``rows``

    def rows(self, df: pd.DataFrame) -> pd.DataFrame:
        """Per row of ``df`` (same order): :data:`ROW_COLUMNS`.

        Combinations not seen by :func:`resolve` are resolved now; one that is a question
        raises :class:`EndpointResolutionError` (never read as something else).
        """
        codes, combos = _combinations(df)
        keys = (self.table[c].to_numpy(dtype=object) for c in TABLE_KEYS)
        position = {k: i for i, k in enumerate(zip(*keys, strict=True))}
        unseen = [k for k in combos if k not in position]
        if unseen:
            extra = _table([self.resolver.resolve(*k) for k in unseen])
            extra["rows"] = 0
            Semantics(self.resolver, extra).raise_for_questions()
            position.update({k: len(self.table) + i for i, k in enumerate(unseen)})
            self.table = pd.concat([self.table, extra], ignore_index=True)
        take = np.array([position[k] for k in combos], dtype=np.int64)[codes]

        def column(name: str) -> pd.Series:  # object dtype: no conversion to pandas' string arrays
            values = self.table[name].to_numpy(dtype=object, copy=True)
            values[pd.isna(values)] = None
            return pd.Series(values[take], dtype=object)

        out = pd.DataFrame({name: column(source) for name, source in _ROW_SOURCES.items()})
        out["loq_raw"] = self.table["loq_raw"].to_numpy(np.float64)[take]
        return out

    @property
    def questions(self) -> pd.DataFrame:
        return self.table[self.table["question"].notna()]

    @property
    def custom(self) -> pd.DataFrame:
        return self.table[self.table["custom"].astype(bool)]

    def raise_for_questions(self, template: Path | None = None) -> None:
        """Stop with :class:`EndpointResolutionError` if any combination is unresolved.

        ``template``: a file already holding every map line (named in the message).
        """
        questions = self.questions
        if len(questions):
            what, fix = question_message(questions)
            if template is not None:
                fix += f". Every line to fill in is in {template}"
            raise EndpointResolutionError(what, fix)

    def map_lines(self) -> list[str]:
        """One endpoint-map TOML line per unresolved assay (for a template file)."""
        return [_map_line(r) for r in self.questions.drop_duplicates("assay_id").itertuples()]

    def summary(self) -> dict[str, Any]:
        """Manifest/summary data: per-endpoint counts, custom endpoints, reading notes, unused map keys."""
        table = self.table[self.table["rows"] > 0]
        ok = table[table["question"].isna() & table["reason"].isna()]
        per_endpoint = ok.groupby("endpoint").agg(assays=("assay_id", "nunique"), rows=("rows", "sum"))
        notes = ok[ok["note"] != ""].groupby(["endpoint", "note"])["assay_id"].nunique()
        custom = (
            ok[ok["custom"].astype(bool)].groupby("endpoint").agg(assays=("assay_id", "nunique"), rows=("rows", "sum"))
        )
        unused = self.resolver.endpoint_map.unused() if self.resolver.endpoint_map else []
        return {
            "endpoints": [
                {"endpoint": str(name), "assays": int(r.assays), "rows": int(r.rows)}
                for name, r in per_endpoint.iterrows()
            ],
            "notes": [{"endpoint": str(e), "note": str(n), "assays": int(k)} for (e, n), k in notes.items()],
            "custom_endpoints": [
                {"endpoint": str(name), "assays": int(r.assays), "rows": int(r.rows)} for name, r in custom.iterrows()
            ],
            "unused_map_keys": list(unused),
        }

    def assay_table(self) -> pd.DataFrame:
        """One row per combination with rows: how each assay / column was read (for ``assay_endpoints.csv``)."""
        columns = ["assay_id", "endpoint_text", "unit_text", "endpoint", "unit_key", "canonical_key", "how", "note"]
        table = self.table[self.table["rows"] > 0]
        out = table[columns + ["custom", "reason", "rows"]].copy()
        out["unit_read_as"] = out["unit_key"].map(U.canonical_unit_name)
        out["canonical_unit"] = out["canonical_key"].map(U.canonical_unit_name)
        return (
            out.drop(columns=["unit_key", "canonical_key"]).sort_values(["endpoint", "assay_id"]).reset_index(drop=True)
        )


def _table(resolved: list[Resolution]) -> pd.DataFrame:
    return pd.DataFrame([vars(r) for r in resolved], columns=list(RESOLUTION_FIELDS))


def resolve(
    activities: pd.DataFrame,
    assays: pd.DataFrame | None = None,
    endpoint_map: EndpointMap | None = None,
    *,
    allow_custom: bool = False,
    tuner: bool = False,
) -> Semantics:
    """Resolve every (assay id, endpoint text, unit) combination of ``activities``.

    Parameters
    ----------
    activities
        Rows with ``assay_id, endpoint, unit`` (``schema.RawInput.activities``); rows with a
        ``reject_reason`` already set are left out (they raise no question).
    assays
        Assay metadata (``endpoint`` from TUNER T0 or a thresholds file), optional.
    endpoint_map, allow_custom, tuner
        See :class:`Resolver`.

    Returns
    -------
    Semantics
        ``table`` columns: the :class:`Resolution` fields and ``rows`` (rows per combination).
        Custom endpoints get one canonical unit, that of most of their rows (the others are
        ``unit_endpoint_mismatch``).
    """
    live = activities
    if "reject_reason" in activities.columns:
        live = activities[activities["reject_reason"].isna()]
    assay_endpoints: dict[str, str] = {}
    if assays is not None and len(assays):
        known = assays.dropna(subset=["endpoint"])
        assay_endpoints = dict(zip(known["assay_id"].astype(str), known["endpoint"].astype(str), strict=True))
    resolver = Resolver(endpoint_map, allow_custom, tuner, assay_endpoints)
    codes, combos = _combinations(live)
    table = _table([resolver.resolve(*k) for k in combos])
    table["rows"] = np.bincount(codes, minlength=len(combos)).astype(np.int64)
    return Semantics(resolver, _settle_custom_dimensions(table))


def _settle_custom_dimensions(table: pd.DataFrame) -> pd.DataFrame:
    """A custom endpoint gets one canonical unit: that of most of its rows; other rows mismatch."""
    custom = table["custom"].astype(bool) & table["reason"].isna() & table["question"].isna()
    for _, group in table[custom].groupby("endpoint"):
        per_unit = group.groupby("canonical_key")["rows"].sum()
        if len(per_unit) > 1:
            winner = per_unit.idxmax()
            losers = group.index[group["canonical_key"] != winner]
            table.loc[losers, "reason"] = R.UNIT_ENDPOINT_MISMATCH
            table.loc[losers, "canonical_key"] = winner
    return table


# --- the question -------------------------------------------------------------------------------
_WHY = {
    UNKNOWN: "no registered endpoint matches the name ({unit})",
    AMBIGUOUS: "the name fits several endpoints ({unit}): {candidates}",
    UNIT_NEEDED: "the name says {candidates} but no unit is given, and its values could be on several scales",
    UNIT_MISMATCH: "the name says {candidates} but {unit} measures something else",
}


def question_message(questions: pd.DataFrame) -> tuple[str, str]:
    """(what, fix) of the error listing unresolved assays, candidates and map lines."""
    per_assay = questions.drop_duplicates("assay_id")
    lines = []
    for row in per_assay.head(MAX_LISTED).itertuples():
        unit = f"unit {row.unit_text!r}" if row.unit_text else "no unit"
        why = _WHY[row.question].format(unit=unit, candidates=", ".join(row.candidates))
        if row.question == UNKNOWN and row.candidates:
            why += f"; endpoints of that unit's kind: {', '.join(row.candidates)}"
        lines.append(
            f"  {row.assay_id!r}{' / ' + repr(row.endpoint_text) if row.endpoint_text else ''}: {why}\n      {_map_line(row)}"
        )
    more = len(per_assay) - MAX_LISTED
    what = (
        f"{len(per_assay)} assay(s)/column(s) do not resolve to exactly one endpoint; prepare does not guess:\n"
        + "\n".join(lines)
        + (f"\n  ... and {more} more" if more > 0 else "")
    )
    fix = (
        "write the lines above (edited where they say so) into a TOML file and run again with "
        "--endpoint-map FILE; or pass --allow-custom to keep these as custom endpoints (not shared "
        "with partners under a registered name). Registered endpoints: "
        + ", ".join(E.ENDPOINTS)
        + " (docs/partner-input.md)"
    )
    return what, fix


def _map_line(row: object) -> str:
    key = getattr(row, "assay_id")  # noqa: B009 - namedtuple or Resolution
    candidates = tuple(getattr(row, "candidates") or ())  # noqa: B009
    question = getattr(row, "question")  # noqa: B009
    unit_text = getattr(row, "unit_text")  # noqa: B009
    name = candidates[0] if len(candidates) == 1 else "ENDPOINT"
    quoted = _toml_key(key)
    if question in (UNIT_NEEDED, UNIT_MISMATCH) or (question == UNKNOWN and not unit_text):
        line = f'{quoted} = {{ endpoint = "{name}", unit = "UNIT" }}'
    else:
        line = f'{quoted} = "{name}"'
    if name == "ENDPOINT":
        options = ", ".join(candidates) if candidates else "a registered endpoint, or custom:NAME"
        line += f"   # ENDPOINT: {options}"
    elif question in (UNIT_NEEDED, UNIT_MISMATCH):
        line += "   # UNIT: the unit the values are written in"
    return line


def _toml_key(key: str) -> str:
    escaped = key.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'
