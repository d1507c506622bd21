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
A row's endpoint is its ``endpoint`` cell looked up in ``prep.endpoints`` (names and
aliases, case-insensitive). An empty endpoint is inferred from the unit
(``endpoints.infer_endpoint``: molar concentrations and p-scales -> pXC50; log10(mol/L)
and mass concentrations -> logS; % bound -> PPB, ...). A name not in the registry is kept
as a partner-defined endpoint whose canonical unit is the default of its unit's
dimension (``units.DIMENSION_CANONICAL``; by the unit most of its rows use). An empty unit
means "already in the endpoint's canonical unit"; with no endpoint either, the value is
kept as written (endpoint ``""``, canonical unit ``""``; TUNER T1 values).

Every conversion is listed in ``prep.units``. PPB: fractions unbound below
``ValueConfig.min_fraction_unbound`` (including "100 % bound") are censored ``<`` at that
floor. Canonical values outside the endpoint's credible range are rejected
``value_out_of_range`` (``ValueConfig.check_ranges``). Labels (endpoint ``label``) must be
0/1 (TUNER's -1/1 are mapped to 0/1; the words active/inactive, true/false, yes/no,
positive/negative are read as 1/0) with qualifier ``=``.

Replicates: see ``prep.replicates`` (``aggregate_replicates`` is re-exported here).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from fedqsar.prep import accounting as R
from fedqsar.prep import endpoints as E
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


# --- endpoint / unit resolution -------------------------------------------------------------
def _resolve_combo(endpoint_text: str, unit_text: str) -> tuple[str, str, str, str, str | None]:
    """(endpoint name, family, canonical unit key, unit key, reason) for one combination."""
    unit_key = U.unit_key(unit_text)
    endpoint = E.lookup_endpoint(endpoint_text) if endpoint_text else None
    if endpoint is not None:
        unit_key = endpoint.unit_aliases.get(unit_key, unit_key) or endpoint.canonical_unit
    elif not endpoint_text:
        inferred = E.infer_endpoint(unit_key)
        endpoint = E.ENDPOINTS[inferred] if inferred else None
    if unit_key not in U.UNITS:
        return endpoint.name if endpoint else endpoint_text, "other", "", unit_key, R.UNKNOWN_UNIT
    if endpoint is None:
        custom = E.custom_endpoint(endpoint_text, unit_key)
        return custom.name, custom.family, custom.canonical_unit, unit_key, None
    if U.UNITS[unit_key].dimension != endpoint.dimension:
        return endpoint.name, endpoint.family, endpoint.canonical_unit, unit_key, R.UNIT_ENDPOINT_MISMATCH
    return endpoint.name, endpoint.family, endpoint.canonical_unit, unit_key, None


def resolve_endpoints(endpoint: pd.Series, unit: pd.Series) -> pd.DataFrame:
    """Per row: ``endpoint``, ``family``, ``canonical_key``, ``unit_key``, ``reason``.

    Partner-defined endpoints get one canonical unit: that of the dimension most of their
    rows use; rows in another dimension are ``unit_endpoint_mismatch``.
    """
    rows = pd.DataFrame({"e": _text(endpoint), "u": _text(unit)})
    combos = rows.value_counts(sort=False).rename("n").reset_index()
    names = ["endpoint", "family", "canonical_key", "unit_key", "reason"]
    resolved = [_resolve_combo(e, u) for e, u in zip(combos["e"], combos["u"], strict=True)]
    combos[names] = pd.DataFrame(resolved, index=combos.index, columns=names, dtype=object)
    _settle_custom_dimensions(combos)
    merged = rows.merge(combos, on=["e", "u"], how="left", sort=False)
    out = merged[["endpoint", "family", "canonical_key", "unit_key"]].astype(object)
    out["reason"] = pd.Series([r if isinstance(r, str) else None for r in merged["reason"]], dtype=object)
    return out


def _settle_custom_dimensions(combos: pd.DataFrame) -> None:
    custom = combos["family"].eq("other") & combos["reason"].isna() & combos["endpoint"].ne("")
    for _, group in combos[custom].groupby("endpoint"):
        keys = group.groupby("canonical_key")["n"].sum()
        if len(keys) > 1:
            winner = keys.idxmax()
            losers = group.index[group["canonical_key"] != winner]
            combos.loc[losers, "reason"] = R.UNIT_ENDPOINT_MISMATCH
            combos.loc[losers, "canonical_key"] = winner


# --- harmonise ------------------------------------------------------------------------------
def harmonise(
    df: pd.DataFrame, cfg: ValueConfig, mol_weight: pd.Series | None = None
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

    Returns
    -------
    ok_df
        The accepted rows (all input columns) with ``value_canonical`` (float64),
        ``censor`` (int8: -1 '<', 0 exact, +1 '>', on the canonical scale), ``endpoint``
        (resolved name, "" if unknown), ``canonical_unit`` (display string), ``family``.
    rejected_df
        ``input_row``, ``reason``, ``detail`` (the offending cells), one row per reject.
    """
    df = df.reset_index(drop=True)
    n = len(df)
    reasons = np.full(n, None, dtype=object)
    if "reject_reason" in df.columns:
        reasons[df["reject_reason"].notna().to_numpy()] = df["reject_reason"][df["reject_reason"].notna()].to_numpy()
    _first(reasons, _reason_where(_text(df["assay_id"]) == "", R.MISSING_ASSAY))
    resolved = resolve_endpoints(df["endpoint"], df["unit"])
    value_cells = _label_words(df["value"], resolved["family"].to_numpy() == "label")
    quals, numbers, number_reasons, qual_reasons = parse_cells(df["qualifier"], value_cells)
    _first(reasons, number_reasons)
    _first(reasons, qual_reasons)
    _first(reasons, resolved["reason"].to_numpy())
    mw = _aligned_weights(mol_weight, df["input_row"].to_numpy(np.int64))
    canonical, censor, convert_reasons = _convert(numbers, quals, resolved, mw, cfg, open_rows=_empty(reasons))
    _first(reasons, convert_reasons)
    rejected = _given(reasons)
    ok = df.loc[~rejected].copy()
    ok["value_canonical"] = canonical[~rejected].astype(np.float64)
    ok["censor"] = censor[~rejected].astype(np.int8)
    ok["endpoint"] = resolved["endpoint"].to_numpy()[~rejected]
    ok["canonical_unit"] = resolved["canonical_key"][~rejected].map(U.canonical_unit_name).to_numpy(dtype=object)
    ok["family"] = resolved["family"].to_numpy()[~rejected]
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


def _convert(
    numbers: np.ndarray,
    quals: np.ndarray,
    resolved: pd.DataFrame,
    mw: np.ndarray | None,
    cfg: ValueConfig,
    open_rows: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = len(numbers)
    canonical = np.full(n, np.nan)
    censor = np.zeros(n, dtype=np.int8)
    reasons = np.full(n, None, dtype=object)
    base_censor = np.array([CENSOR_OF.get(q, 0) for q in quals], dtype=np.int8)
    groups = resolved.loc[open_rows].groupby(["unit_key", "canonical_key", "endpoint"], sort=False).indices
    for (unit_key, canonical_key, endpoint_name), local in groups.items():
        idx = np.flatnonzero(open_rows)[local]
        unit, canon = U.UNITS[unit_key], U.UNITS[canonical_key]
        endpoint = E.ENDPOINTS.get(endpoint_name)
        weights = mw[idx] if (mw is not None and unit.needs_mw) else None
        base = unit.to_base(numbers[idx], weights)
        cen = base_censor[idx] * unit.sign
        if unit.dimension == "binding":
            base, cen = _floor_fraction_unbound(base, cen, cfg.min_fraction_unbound)
        values = canon.from_base(base)  # raises unless the canonical unit is affine
        assert canon.affine is not None
        cen = cen * (1 if canon.affine[0] > 0 else -1)
        why = _domain_reasons(numbers[idx], values, unit, weights)
        if endpoint is not None and endpoint.family == "label":
            values, why = _labels(values, base_censor[idx], why)
        elif endpoint is not None and cfg.check_ranges:
            low, high = endpoint.valid_range
            why = np.where(_empty(why) & ((values < low) | (values > high)), R.VALUE_OUT_OF_RANGE, why)
        canonical[idx], censor[idx], reasons[idx] = values, cen, why
    return canonical, censor, reasons


def _floor_fraction_unbound(base: np.ndarray, cen: np.ndarray, floor: float) -> tuple[np.ndarray, np.ndarray]:
    """fu below ``floor`` (exact or '<') -> '<' at the floor; '>' bounds are left alone."""
    log_floor = np.log10(floor)
    below = (base < log_floor) & (cen <= 0)  # -inf (100 % bound) included
    base = np.where(below, log_floor, base)
    cen = np.where(below, -1, cen)
    return base, cen


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
