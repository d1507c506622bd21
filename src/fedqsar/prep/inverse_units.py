"""Canonical values back to the unit an input was written in (for predictions users compare).

``prepare`` converts every raw value to its endpoint's canonical unit (``prep.units``):
solubility in µg/mL becomes logS (log10 mol/L, which needs each compound's molecular weight),
% bound becomes log10(fraction unbound). A user scoring a model against a labelled file wants
the predictions in that file's unit too. Every registered conversion is monotone, so the
inverse is found exactly enough by bisection on the raw unit's ``to_base`` (no second table of
formulas to keep in step with ``prep.units``); affine units are inverted in closed form.
"""

from __future__ import annotations

import numpy as np

from fedqsar.prep import units as U

BISECTION_STEPS = 100
LOG_SPAN = 60.0  # positive-only units are searched over 10^-60 .. 10^60
SEEDS = (0.0, 1.0, 0.5, 50.0, -1.0)  # start points for the domain search of other units
EXPANSIONS = 40  # the domain search doubles its step this many times at most


def to_input_unit(
    canonical: np.ndarray, canonical_unit: str, input_unit: str, mol_weight: np.ndarray | None = None
) -> np.ndarray:
    """Values in ``canonical_unit`` expressed in ``input_unit``.

    Parameters
    ----------
    canonical
        float (n,) values on the canonical scale (e.g. logS).
    canonical_unit, input_unit
        Unit spellings known to ``prep.units`` (e.g. ``"log10(M)"``, ``"log10(ug/mL)"``).
    mol_weight
        float (n,) g/mol of each compound's standardised parent, needed for mass concentrations.

    Returns
    -------
    np.ndarray
        float64 (n,); NaN where a value has no counterpart in the input unit (outside its
        domain, NaN input, or a mass unit without molecular weight).

    Raises
    ------
    ValueError
        If a unit is unknown, the canonical unit is not affine, or the dimensions differ.
    """
    canonical = np.asarray(canonical, dtype=np.float64)
    target, raw = U.lookup_unit(canonical_unit), U.lookup_unit(input_unit)
    if target is None or raw is None:
        raise ValueError(f"unknown unit {canonical_unit if target is None else input_unit!r}")
    if target.affine is None:
        raise ValueError(f"{canonical_unit!r} is not a canonical (affine) unit")
    if target.dimension != raw.dimension:
        raise ValueError(f"{input_unit!r} ({raw.dimension}) cannot express {canonical_unit!r} ({target.dimension})")
    weights = None if mol_weight is None else np.asarray(mol_weight, dtype=np.float64)
    base = target.to_base(canonical, weights)
    if raw.affine is not None and not raw.needs_mw:
        return raw.from_base(base)
    return _bisect(raw, base, weights)


def _bisect(unit: U.Unit, base: np.ndarray, weights: np.ndarray | None) -> np.ndarray:
    """Raw values v with ``unit.to_base(v) == base`` for a monotone, possibly non-affine unit."""
    n = len(base)
    if unit.needs_positive:
        value_of = lambda t: np.power(10.0, t)  # noqa: E731
        low, high = np.full(n, -LOG_SPAN), np.full(n, LOG_SPAN)
    else:
        value_of = lambda t: t  # noqa: E731
        low, high = _domain(unit, weights, n)
    f_low = unit.to_base(value_of(low), weights)
    f_high = unit.to_base(value_of(high), weights)
    rising = unit.sign > 0
    lo_base, hi_base = (f_low, f_high) if rising else (f_high, f_low)
    inside = np.isfinite(base) & (base >= lo_base) & (base <= hi_base)
    for _ in range(BISECTION_STEPS):
        middle = 0.5 * (low + high)
        above = unit.to_base(value_of(middle), weights) > base
        move_high = above if rising else ~above
        high = np.where(move_high, middle, high)
        low = np.where(move_high, low, middle)
    out = value_of(0.5 * (low + high))
    return np.where(inside, out, np.nan)


def _domain(unit: U.Unit, weights: np.ndarray | None, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The widest interval around a seed where ``to_base`` is finite (same for every row)."""
    probe = None if weights is None else weights[:1]
    finite = lambda v: bool(np.isfinite(unit.to_base(np.array([v]), probe))[0])  # noqa: E731
    seed = next((s for s in SEEDS if finite(s)), None)
    if seed is None:
        raise ValueError(f"cannot find values inside the domain of unit {unit.name!r}")
    ends = []
    for direction in (-1.0, 1.0):
        inner, step = seed, 1.0
        for _ in range(EXPANSIONS):
            if not finite(seed + direction * step):
                break
            inner, step = seed + direction * step, step * 2.0
        outer = seed + direction * step
        for _ in range(BISECTION_STEPS // 2):  # tighten to the domain's edge
            middle = 0.5 * (inner + outer)
            inner, outer = (middle, outer) if finite(middle) else (inner, middle)
        ends.append(inner)
    return np.full(n, ends[0]), np.full(n, ends[1])
