"""Endpoint resolution of a whole input: each assay / column means exactly one endpoint, or prepare asks.

:func:`resolve` reads every distinct (assay id, endpoint text, unit) of a partner's input
with the rules of ``prep.resolver`` (endpoint map, endpoint column, the meaning of the name,
units that name one endpoint) and returns :class:`Semantics`: one row per combination, the
per-row columns the values stage needs, and the summary for the manifest.

Nothing is guessed silently. A combination that matches no endpoint, several, or one
whose unit cannot be read is a *question*: :meth:`Semantics.raise_for_questions` stops
prepare with every such assay, its candidates and the endpoint-map line to write — unless
``allow_custom``, which keeps it as a custom endpoint (listed in the summary and manifest).
Rows whose unit is unknown, or whose stated endpoint and unit disagree, are rejected
(``unknown_unit``, ``unit_endpoint_mismatch``) and counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fedqsar.errors import EndpointResolutionError
from fedqsar.prep import endpoints as E
from fedqsar.prep import reasons as R
from fedqsar.prep import units as U
from fedqsar.prep.endpoint_map import EndpointMap
from fedqsar.prep.resolver import (
    AMBIGUOUS,
    UNIT_MISMATCH,
    UNIT_NEEDED,
    UNKNOWN,
    Resolution,
    Resolver,
)

KEY_COLUMNS = ("assay_id", "endpoint", "unit")  # input columns
TABLE_KEYS = ("assay_id", "endpoint_text", "unit_text")  # the same texts in Semantics.table
ROW_COLUMNS = ("resolved_endpoint", "family", "canonical_key", "unit_key", "reason", "loq_raw")
MAX_LISTED = 12


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
