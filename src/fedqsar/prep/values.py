"""Values: parse, harmonise units, censor, and aggregate replicates.

:func:`harmonise` turns raw cells into canonical numbers; :func:`aggregate_replicates`
folds repeated measurements of one structure in one assay into one observation.

Qualifiers
----------
``=``, ``==``, ``~``, ``≈`` and an empty cell mean an exact value (censor 0); ``<``,
``<=``, ``<<``, ``=<``, ``≤`` an upper bound (censor -1: the true value is below);
``>``, ``>=``, ``>>``, ``=>``, ``≥`` a lower bound (censor +1). ``<=`` is treated as ``<``
(as TUNER does): the bound itself is not distinguished. A qualifier written inside the
value cell (``"<10"``) is used when the qualifier column is empty or ``=``; if both are
given and differ, the row is rejected ``unknown_qualifier``. When the unit conversion
reverses the order (nM -> pXC50, % bound -> fraction unbound) the censor flips sign.

Units and endpoints
-------------------
Each row's endpoint and the unit its value is written in come from ``prep.resolve``
(endpoint map, endpoint column, the meaning of the assay name, units that name one
endpoint; a question stops prepare instead of a guess). Every conversion to the
endpoint's canonical unit is listed in ``prep.units``. Canonical values outside the
endpoint's credible range are rejected ``value_out_of_range`` (``ValueConfig.check_ranges``).
Labels (endpoint ``label``) must be 0/1 (TUNER's -1/1 are mapped to 0/1; the words
active/inactive, true/false, yes/no, positive/negative are read as 1/0) with qualifier ``=``.

Limit of quantification
-----------------------
Endpoints on a log scale with a limit of quantification (``prep.endpoints``: clearances,
permeability, efflux ratio, solubility, fractions unbound, half-life) never reject a value
for being too small: a value at or below the LOQ — zero and negative numbers in a linear
unit included ("below the assay's limit"), and "100 % bound" — is kept as ``<`` LOQ
(censor -1); a finite value below the credible range stays an error (``value_out_of_range``). The LOQ is, in order: the assay's ``loq`` in the endpoint map (in the unit
the assay's values are written in), ``ValueConfig.loq[endpoint]`` (canonical scale),
``log10(ValueConfig.min_fraction_unbound)`` for fractions unbound, the endpoint's default.
A ``>`` bound at or below zero says nothing and is rejected ``non_positive_value``, as is
a zero of an endpoint without LOQ (a potency of 0 nM is an error, not a limit).

Replicates: see ``prep.replicates`` (``aggregate_replicates`` is re-exported here).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from fedqsar.prep import endpoints as E
from fedqsar.prep import reasons as R
from fedqsar.prep import resolve as resolution
from fedqsar.prep import units as U
from fedqsar.prep.config import ValueConfig
from fedqsar.prep.replicates import GROUP_KEYS, aggregate_group, aggregate_replicates  # noqa: F401 - re-exported

QUALIFIERS: dict[str, str] = {
    "": "=",
    "=": "=",
    "==": "=",
    "~": "=",
    "≈": "=",
    "<": "<",
    "<=": "<",
    "<<": "<",
    "=<": "<",
    "≤": "<",
    ">": ">",
    ">=": ">",
    ">>": ">",
    "=>": ">",
    "≥": ">",
}
CENSOR_OF = {"=": 0, "<": -1, ">": 1}
MISSING_TOKENS = frozenset({"", "na", "nan", "n/a", "null", "none", "-", "--"})
NON_FINITE_TOKENS = frozenset({"inf", "+inf", "-inf", "infinity", "+infinity", "-infinity"})
_EMBEDDED = re.compile(r"^\s*(<=|>=|=<|=>|<<|>>|==|<|>|~|=|≤|≥|≈)?\s*(.*?)\s*$", re.DOTALL)
OK_COLUMNS = ("value_canonical", "censor", "endpoint", "canonical_unit", "family")


# --- parsing ------------------------------------------------------------------------------
def _text(series: pd.Series) -> np.ndarray:
    """Stripped strings ('' for missing cells), object array (n,)."""
    return np.array([_cell_text(v) for v in series.to_numpy(dtype=object)], dtype=object)


def _cell_text(value: object) -> str:
    if isinstance(value, str):
        return value.strip()
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return ""
    return str(value).strip()


def parse_cells(qualifier: pd.Series, value: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Standardised qualifiers, float values and reject reasons per row.

    Cells that ``pd.to_numeric`` reads as finite numbers take a vectorised path; only the
    others (embedded qualifiers, words, empty cells, inf) are inspected one by one.

    Returns
    -------
    qualifiers
        object (n,): "=", "<" or ">" ("" where unknown).
    numbers
        float64 (n,), NaN where not parsable.
    value_reasons
        object (n,): ``missing_value`` / ``non_numeric_value`` / ``non_finite_value`` or None.
    qualifier_reasons
        object (n,): ``unknown_qualifier`` or None.
    """
    n = len(value)
    column = pd.Series(_text(qualifier)).str.replace(" ", "", regex=False).map(QUALIFIERS).to_numpy(dtype=object)
    raw = value.astype(object).to_numpy()
    numbers = pd.to_numeric(pd.Series(raw, dtype=object), errors="coerce").to_numpy(np.float64, copy=True)
    inner = np.full(n, None, dtype=object)
    value_reasons = np.full(n, None, dtype=object)
    for i in np.flatnonzero(~np.isfinite(numbers)):
        inner[i], numbers[i], value_reasons[i] = _parse_slow(raw[i])
    known = pd.notna(column)
    conflict = _given(inner) & known & (column != "=") & (inner != column)
    qualifier_reasons = _reason_where(~known | conflict, R.UNKNOWN_QUALIFIER)
    quals = np.where(_given(inner) & (column == "="), inner, column)
    quals = np.where(_empty(qualifier_reasons), quals, "").astype(object)
    return quals, numbers, value_reasons, qualifier_reasons


def _parse_slow(cell: object) -> tuple[str | None, float, str | None]:
    """(embedded qualifier or None, number or NaN, reason or None) for one awkward cell."""
    if isinstance(cell, (int, float, np.integer, np.floating)) and not isinstance(cell, bool):
        number = float(cell)
        if np.isnan(number):
            return None, np.nan, R.MISSING_VALUE
        return None, np.nan, R.NON_FINITE_VALUE if not np.isfinite(number) else None
    match = _EMBEDDED.match("" if cell is None else str(cell))
    embedded, text = (match.group(1), match.group(2)) if match else (None, str(cell))
    inner = QUALIFIERS[embedded] if embedded else None
    low = text.strip().lower()
    if low in MISSING_TOKENS:
        return inner, np.nan, R.MISSING_VALUE
    if low in NON_FINITE_TOKENS:
        return inner, np.nan, R.NON_FINITE_VALUE
    try:
        number = float(text)
    except ValueError:
        return inner, np.nan, R.NON_NUMERIC_VALUE
    return inner, number, None if np.isfinite(number) else R.NON_FINITE_VALUE


# --- harmonise ------------------------------------------------------------------------------
def harmonise(
    df: pd.DataFrame,
    cfg: ValueConfig,
    mol_weight: pd.Series | None = None,
    semantics: resolution.Semantics | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Parse and convert raw values to each endpoint's canonical unit.

    Parameters
    ----------
    df
        Activities (``schema.RawInput.activities`` or a subset), n rows, with at least
        ``input_row, assay_id, value, unit, qualifier, endpoint``; a non-null
        ``reject_reason`` (if present) rejects the row with that reason.
    cfg
        Value settings.
    mol_weight
        Molecular weight (g/mol) indexed by ``input_row``; needed only for mass
        concentrations (ug/mL ...). Rows without it are rejected ``missing_mol_weight``.
    semantics
        The input's endpoint resolution (``prep.resolve.resolve``); without it ``df`` is
        resolved here with the defaults (no endpoint map, no custom endpoints).

    Returns
    -------
    ok_df
        The accepted rows (all input columns) with ``value_canonical`` (float64),
        ``censor`` (int8: -1 '<', 0 exact, +1 '>', on the canonical scale), ``endpoint``
        (resolved name; custom name; "" for TUNER values on the assay's own scale),
        ``canonical_unit`` (display string), ``family`` and ``below_loq`` (bool: censored at
        the limit of quantification here).
    rejected_df
        ``input_row``, ``reason``, ``detail`` (the offending cells), one row per reject.

    Raises
    ------
    EndpointResolutionError
        When ``semantics`` is None and a combination of ``df`` does not resolve.
    """
    df = df.reset_index(drop=True)
    n = len(df)
    if semantics is None:
        semantics = resolution.resolve(df)
        semantics.raise_for_questions()
    reasons = np.full(n, None, dtype=object)
    if "reject_reason" in df.columns:
        reasons[df["reject_reason"].notna().to_numpy()] = df["reject_reason"][df["reject_reason"].notna()].to_numpy()
    _first(reasons, _reason_where(_text(df["assay_id"]) == "", R.MISSING_ASSAY))
    resolved = semantics.rows(df)
    value_cells = _label_words(df["value"], resolved["family"].to_numpy() == "label")
    quals, numbers, number_reasons, qual_reasons = parse_cells(df["qualifier"], value_cells)
    _first(reasons, number_reasons)
    _first(reasons, qual_reasons)
    _first(reasons, resolved["reason"].to_numpy())
    mw = _aligned_weights(mol_weight, df["input_row"].to_numpy(np.int64))
    converted = _convert(numbers, quals, resolved, mw, cfg, open_rows=_empty(reasons))
    _first(reasons, converted.reasons)
    rejected = _given(reasons)
    ok = df.loc[~rejected].copy()
    ok["value_canonical"] = converted.values[~rejected].astype(np.float64)
    ok["censor"] = converted.censor[~rejected].astype(np.int8)
    ok["endpoint"] = resolved["resolved_endpoint"].to_numpy()[~rejected]
    keys = resolved["canonical_key"].to_numpy(dtype=object)[~rejected]
    names = {key: U.canonical_unit_name(key) for key in set(keys)}
    ok["canonical_unit"] = pd.Series([names[key] for key in keys], index=ok.index, dtype=object)
    ok["family"] = resolved["family"].to_numpy()[~rejected]
    ok["below_loq"] = converted.below_loq[~rejected]
    rejected_df = pd.DataFrame(
        {
            "input_row": df.loc[rejected, "input_row"].to_numpy(np.int64),
            "reason": reasons[rejected].astype(str),
            "detail": [_detail(df, i) for i in np.flatnonzero(rejected).tolist()],
        }
    )
    return ok.reset_index(drop=True), rejected_df


def _empty(values: np.ndarray) -> np.ndarray:
    """bool (n,): the entries of an object array that are None (no reason or qualifier yet)."""
    return np.asarray(pd.isna(values), dtype=bool)


def _given(values: np.ndarray) -> np.ndarray:
    """bool (n,): the entries of an object array that hold a value."""
    return ~_empty(values)


def _reason_where(mask: np.ndarray, reason: str) -> np.ndarray:
    """object (n,): ``reason`` where ``mask`` is true, None elsewhere."""
    out = np.full(len(mask), None, dtype=object)
    out[np.asarray(mask, dtype=bool)] = reason
    return out


def _first(reasons: np.ndarray, new: np.ndarray) -> None:
    """Fill reasons still empty with ``new`` (earlier stages' reasons win)."""
    take = _empty(reasons) & _given(new)
    reasons[take] = new[take]


def _detail(df: pd.DataFrame, i: int) -> str:
    row = df.iloc[i]
    return f"value={row['value']!r} unit={row['unit']!r} qualifier={row['qualifier']!r} endpoint={row['endpoint']!r}"


def _aligned_weights(mol_weight: pd.Series | None, input_rows: np.ndarray) -> np.ndarray | None:
    if mol_weight is None:
        return None
    return pd.to_numeric(pd.Series(mol_weight), errors="coerce").reindex(input_rows).to_numpy(np.float64)


@dataclass
class _Converted:
    values: np.ndarray  # float64 (n,) canonical
    censor: np.ndarray  # int8 (n,)
    reasons: np.ndarray  # object (n,)
    below_loq: np.ndarray  # bool (n,)


def loq_of(endpoint: E.Endpoint | None, cfg: ValueConfig) -> float | None:
    """Default LOQ of an endpoint on its canonical scale (config override, fu floor, registry)."""
    if endpoint is None:
        return None
    if endpoint.name in cfg.loq:
        return float(cfg.loq[endpoint.name])
    if endpoint.dimension == "binding":
        return float(np.log10(cfg.min_fraction_unbound))
    return endpoint.loq


def _convert(
    numbers: np.ndarray,
    quals: np.ndarray,
    resolved: pd.DataFrame,
    mw: np.ndarray | None,
    cfg: ValueConfig,
    open_rows: np.ndarray,
) -> _Converted:
    n = len(numbers)
    out = _Converted(np.full(n, np.nan), np.zeros(n, dtype=np.int8), np.full(n, None, dtype=object), np.zeros(n, bool))
    base_censor = np.array([CENSOR_OF.get(q, 0) for q in quals], dtype=np.int8)
    keys = resolved.loc[open_rows, ["unit_key", "canonical_key", "resolved_endpoint"]].copy()
    keys["loq_raw"] = resolved.loc[open_rows, "loq_raw"].fillna(np.inf)  # inf: no assay LOQ (NaN breaks grouping)
    groups = keys.groupby(["unit_key", "canonical_key", "resolved_endpoint", "loq_raw"], sort=False).indices
    open_index = np.flatnonzero(open_rows)
    for (unit_key, canonical_key, endpoint_name, loq_raw), local in groups.items():
        idx = open_index[local]
        unit, canon = U.UNITS[unit_key], U.UNITS[canonical_key]
        endpoint = E.get_endpoint(endpoint_name)
        weights = mw[idx] if (mw is not None and unit.needs_mw) else None
        raw = numbers[idx]
        values = canon.from_base(unit.to_base(raw, weights))  # raises unless the canonical unit is affine
        assert canon.affine is not None
        cen = base_censor[idx] * unit.sign * (1 if canon.affine[0] > 0 else -1)
        why = _domain_reasons(raw, values, unit, weights)
        loq = _loq_values(endpoint, cfg, loq_raw, unit, canon, weights, len(idx))
        if loq is not None:
            low = endpoint.valid_range[0] if endpoint is not None and cfg.check_ranges else -np.inf
            values, cen, why, out.below_loq[idx] = _censor_below_loq(values, cen, why, loq, low)
        if endpoint is not None and endpoint.family == "label":
            values, why = _labels(values, base_censor[idx], why)
        elif endpoint is not None and cfg.check_ranges:
            low, high = endpoint.valid_range
            why = np.where(_empty(why) & ((values < low) | (values > high)), R.VALUE_OUT_OF_RANGE, why)
        out.values[idx], out.censor[idx], out.reasons[idx] = values, cen, why
    return out


def _loq_values(
    endpoint: E.Endpoint | None,
    cfg: ValueConfig,
    loq_raw: float,
    unit: U.Unit,
    canon: U.Unit,
    weights: np.ndarray | None,
    n: int,
) -> np.ndarray | None:
    """Canonical LOQ per row: the assay's (converted from its unit) or the endpoint's default."""
    if np.isfinite(loq_raw):
        return canon.from_base(unit.to_base(np.full(n, loq_raw), weights))
    default = loq_of(endpoint, cfg)
    return None if default is None else np.full(n, default)


def _censor_below_loq(
    values: np.ndarray, cen: np.ndarray, why: np.ndarray, loq: np.ndarray, low: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Exact or '<' values at or below the LOQ (zeros in a linear unit too) -> '<' LOQ.

    A finite value below the credible range ``low`` is left to be rejected as out of range
    (it is an error, not a limit); '>' bounds are left as they are (a '>' at or below zero
    stays ``non_positive_value``). Returns values, censor, reasons and the rows censored here.
    """
    finite_loq = np.isfinite(loq)
    fine = _empty(why)
    with np.errstate(invalid="ignore"):
        zero = (why == R.NON_POSITIVE_VALUE) | np.isneginf(values)  # 0 in a linear unit; fu = 0
        below = (zero | (fine & (values <= loq) & (values >= low))) & (cen <= 0) & finite_loq
    values = np.where(below, loq, values)
    cen = np.where(below, -1, cen).astype(np.int8)
    why = why.copy()
    why[below] = None
    return values, cen, why, below


def _domain_reasons(raw: np.ndarray, values: np.ndarray, unit: U.Unit, weights: np.ndarray | None) -> np.ndarray:
    why = np.full(len(raw), None, dtype=object)
    bad = ~np.isfinite(values)
    if unit.needs_mw:
        no_weight = bad & (np.ones(len(raw), bool) if weights is None else ~np.isfinite(weights))
        why[no_weight] = R.MISSING_MOL_WEIGHT
    if unit.needs_positive:
        why[bad & (raw <= 0) & _empty(why)] = R.NON_POSITIVE_VALUE
    why[bad & _empty(why)] = R.VALUE_OUT_OF_RANGE
    return why


LABEL_WORDS = {
    "active": "1",
    "inactive": "0",
    "true": "1",
    "false": "0",
    "yes": "1",
    "no": "0",
    "positive": "1",
    "negative": "0",
    "pos": "1",
    "neg": "0",
}


def _label_words(value: pd.Series, is_label: np.ndarray) -> pd.Series:
    """Class-label words (active/inactive, true/false, yes/no, positive/negative) -> "1"/"0"."""
    if not is_label.any():
        return value
    cells = value.to_numpy(dtype=object).copy()
    for i in np.flatnonzero(is_label):
        if isinstance(cells[i], str):
            cells[i] = LABEL_WORDS.get(cells[i].strip().lower(), cells[i])
    return pd.Series(cells, index=value.index, dtype=object)


def _labels(values: np.ndarray, qual_censor: np.ndarray, why: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    values = np.where(values == -1, 0.0, values)
    invalid = ~np.isin(values, (0.0, 1.0)) | (qual_censor != 0)
    return values, np.where(_empty(why) & invalid, R.INVALID_LABEL, why)
