"""Unit registry: every accepted unit spelling -> how to reach its dimension's base scale.

Each unit belongs to a *dimension* and converts a raw value to that dimension's *base*
scale with ``to_base``; an endpoint's canonical unit is itself a registered unit whose
base relation is affine (``base = slope * value + offset``), so that
``canonical = (base - offset) / slope``. Conversions are monotone; ``sign`` says whether
the raw value and the base move together (+1) or oppositely (-1): censoring flips when the
product of the raw unit's and the canonical unit's signs is negative (``<10 nM`` becomes
``>8`` in pXC50).

Dimensions and their base scales (every conversion, documented)
--------------------------------------------------------------------
``molar``       base = log10(mol/L). Linear units ``M, mM, uM, nM, pM, fM`` (and
                ``mol/L, mmol/L, ...``): base = log10(v * factor). ``log10(X)``:
                base = v + log10(factor(X)). ``-log10(X)`` and the p-scales ``pXC50,
                pIC50, pEC50, pKi, pKd, pKb, pAC50, pchembl``: base = -v + log10(factor).
                Mass concentrations ``g/L, mg/mL, mg/L, ug/mL, ug/L, ng/mL`` (and their
                ``log10(...)``) need the molecular weight MW (g/mol):
                base = log10(v * factor_g_per_L / MW).
``binding``     base = log10(fu), fu = fraction unbound. ``% bound``: fu = 1 - v/100 (sign
                -1); ``% unbound`` / ``% free``: fu = v/100; ``fraction bound``: fu = 1 - v;
                ``fu`` / ``fraction unbound``: fu = v; ``log10(% unbound)``: base = v - 2;
                ``log10(fu)``: base = v. fu == 0 (100 % bound) is handled by the values
                stage (kept as ``<`` the limit of quantification, ``prep.values``).
``cl_protein``  base = log10(uL/min/mg protein); ``mL/min/g`` == ``uL/min/mg`` (factor 1),
                ``mL/min/mg`` factor 1000; pharmabench's ``log10(mL.min-1.g-1)``.
``cl_body``     base = log10(mL/min/kg); ``L/h/kg`` factor 1000/60.
``cl_cells``    base = log10(uL/min/10^6 cells).
``papp``        base = log10(cm/s); ``10^-6 cm/s`` factor 1e-6, ``nm/s`` factor 1e-7.
``ratio``       base = log10(ratio) (efflux ratio B-A/A-B).
``time``        base = log10(h); ``min`` factor 1/60, ``s`` factor 1/3600.
``log``         already a logarithm without unit (logD, logP): base = v.
``percent``     % inhibition / % effect: base = v (no log).
``label``       class labels 0/1 (TUNER's -1/1 -> 0/1): base = v.
``none``        no unit given and no endpoint known: base = v (kept as written).

Unit spellings are normalised before lookup (:func:`normalise_unit`): case, blanks,
``µ``/``μ`` -> ``u``, ``mL.min-1.g-1`` -> ``ml/min/g``, ``log(...)`` == ``log10(...)``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

Converter = Callable[[np.ndarray, "np.ndarray | None"], np.ndarray]


@dataclass(frozen=True)
class Unit:
    """One accepted unit.

    Attributes
    ----------
    name
        Display spelling (also the canonical-unit string written to tasks).
    dimension
        Quantity measured; conversion only happens inside one dimension.
    to_base
        ``f(values float64[n], mol_weight float64[n] | None) -> base float64[n]``; NaN where
        the value is outside the unit's domain (e.g. log of 0).
    sign
        +1 if base grows with the value, -1 if it shrinks.
    affine
        ``(slope, offset)`` with ``base = slope * value + offset`` for units that may serve
        as canonical units; None otherwise.
    needs_mw
        True for mass concentrations (molecular weight required).
    needs_positive
        True if values <= 0 are outside the domain (a logarithm is taken).
    """

    name: str
    dimension: str
    to_base: Converter
    sign: int
    affine: tuple[float, float] | None = None
    needs_mw: bool = False
    needs_positive: bool = False

    def from_base(self, base: np.ndarray) -> np.ndarray:
        """Inverse of ``to_base`` for canonical (affine) units."""
        if self.affine is None:
            raise ValueError(f"unit {self.name!r} cannot be a canonical unit (not affine)")
        slope, offset = self.affine
        return (np.asarray(base, dtype=np.float64) - offset) / slope


def _safe_log10(x: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.log10(np.asarray(x, dtype=np.float64))
    out[~np.isfinite(out)] = np.nan
    return out


def _linear(name: str, dimension: str, factor: float) -> Unit:
    return Unit(name, dimension, lambda v, mw: _safe_log10(v * factor), +1, needs_positive=True)


def _log(name: str, dimension: str, factor: float) -> Unit:
    offset = float(np.log10(factor))
    return Unit(name, dimension, lambda v, mw: np.asarray(v, np.float64) + offset, +1, affine=(1.0, offset))


def _neg_log(name: str, dimension: str, factor: float) -> Unit:
    offset = float(np.log10(factor))
    return Unit(name, dimension, lambda v, mw: -np.asarray(v, np.float64) + offset, -1, affine=(-1.0, offset))


def _identity(name: str, dimension: str) -> Unit:
    return Unit(name, dimension, lambda v, mw: np.asarray(v, np.float64), +1, affine=(1.0, 0.0))


def _mass(name: str, factor_g_per_l: float, log: bool) -> Unit:
    def convert(v: np.ndarray, mw: np.ndarray | None) -> np.ndarray:
        if mw is None:
            return np.full(len(v), np.nan)
        grams = np.asarray(v, np.float64) if log else _safe_log10(v)
        return grams + np.log10(factor_g_per_l) - _safe_log10(mw)

    return Unit(name, "molar", convert, +1, needs_mw=True, needs_positive=not log)


def _fraction_unbound(name: str, fu: Callable[[np.ndarray], np.ndarray], sign: int) -> Unit:
    def convert(v: np.ndarray, mw: np.ndarray | None) -> np.ndarray:
        f = fu(np.asarray(v, np.float64))
        out = np.full(len(f), np.nan)
        inside = (f >= 0) & (f <= 1)
        with np.errstate(divide="ignore"):
            out[inside] = np.log10(f[inside])  # -inf for fu == 0; the values stage censors it
        return out

    return Unit(name, "binding", convert, sign)


MOLAR_FACTORS = {
    "m": 1.0,
    "mol/l": 1.0,
    "mm": 1e-3,
    "mmol/l": 1e-3,
    "um": 1e-6,
    "umol/l": 1e-6,
    "nm": 1e-9,
    "nmol/l": 1e-9,
    "pm": 1e-12,
    "pmol/l": 1e-12,
    "fm": 1e-15,
}
MASS_FACTORS = {"g/l": 1.0, "mg/ml": 1.0, "mg/l": 1e-3, "ug/ml": 1e-3, "ug/l": 1e-6, "ng/ml": 1e-6}
P_SCALES = ("pxc50", "pic50", "pec50", "pki", "pkd", "pkb", "pac50", "pchembl", "pchembl_value", "-log10(m)")
LINEAR_FAMILIES: dict[str, dict[str, float]] = {
    "cl_protein": {
        "ul/min/mg": 1.0,
        "ml/min/g": 1.0,
        "ul/min/mgprotein": 1.0,
        "ml/min/mg": 1000.0,
        "ml/min/mgprotein": 1000.0,
    },
    "cl_body": {"ml/min/kg": 1.0, "l/h/kg": 1000.0 / 60.0},
    "cl_cells": {"ul/min/10^6cells": 1.0, "ul/min/1e6cells": 1.0, "ul/min/millioncells": 1.0},
    "papp": {
        "cm/s": 1.0,
        "10^-6cm/s": 1e-6,
        "1e-6cm/s": 1e-6,
        "x10^-6cm/s": 1e-6,
        "10-6cm/s": 1e-6,
        "x10-6cm/s": 1e-6,
        "nm/s": 1e-7,
    },
    "ratio": {"ratio": 1.0, "b-a/a-b": 1.0, "(b-a)/(a-b)": 1.0, "er": 1.0},  # efflux ratio as Biogen writes it
    "time": {"h": 1.0, "hr": 1.0, "min": 1.0 / 60.0, "s": 1.0 / 3600.0},
}


def _build_registry() -> dict[str, Unit]:
    units: dict[str, Unit] = {}
    for key, factor in MOLAR_FACTORS.items():
        units[key] = _linear(key, "molar", factor)
        for log_name in (f"log10({key})", f"log({key})"):
            units[log_name] = _log(log_name, "molar", factor)
        for neg_name in (f"-log10({key})", f"-log({key})"):
            units[neg_name] = _neg_log(neg_name, "molar", factor)
    for key in P_SCALES:
        units[key] = _neg_log(key, "molar", 1.0)
    for key, factor in MASS_FACTORS.items():
        units[key] = _mass(key, factor, log=False)
        units[f"log10({key})"] = _mass(f"log10({key})", factor, log=True)
        units[f"log({key})"] = units[f"log10({key})"]
    for dimension, family in LINEAR_FAMILIES.items():
        for key, factor in family.items():
            units[key] = _linear(key, dimension, factor)
            units[f"log10({key})"] = units[f"log({key})"] = _log(f"log10({key})", dimension, factor)
    binding = {
        "%bound": _fraction_unbound("% bound", lambda v: 1.0 - v / 100.0, -1),
        "%unbound": _fraction_unbound("% unbound", lambda v: v / 100.0, +1),
        "fractionbound": _fraction_unbound("fraction bound", lambda v: 1.0 - v, -1),
        "fu": _fraction_unbound("fu", lambda v: v, +1),
        "log10(%unbound)": _log("log10(% unbound)", "binding", 0.01),
        "log10(fu)": _log("log10(fu)", "binding", 1.0),
    }
    aliases = {
        "%ppb": "%bound",
        "%free": "%unbound",
        "fb": "fractionbound",
        "fractionunbound": "fu",
        "log(%unbound)": "log10(%unbound)",
        "log(fu)": "log10(fu)",
        "log10(%free)": "log10(%unbound)",
    }
    units.update(binding)
    units.update({alias: binding[target] for alias, target in aliases.items()})
    units["logs"] = _log("log10(M)", "molar", 1.0)  # "logS" written as a unit: log10(mol/L)
    for key in ("log", "logunits", "logd", "logp", "log10"):
        units[key] = _identity("log", "log")
    for key in ("%", "%inhibition", "%effect", "percent"):
        units[key] = _identity("%", "percent")
    for key in ("label", "class", "binary"):
        units[key] = _identity("label", "label")
    units[""] = _identity("", "none")
    return units


UNITS: dict[str, Unit] = _build_registry()

# Canonical unit per dimension, used for endpoints not in the endpoint registry.
DIMENSION_CANONICAL: dict[str, str] = {
    "molar": "-log10(m)",
    "binding": "log10(fu)",
    "cl_protein": "log10(ul/min/mg)",
    "cl_body": "log10(ml/min/kg)",
    "cl_cells": "log10(ul/min/10^6cells)",
    "papp": "log10(cm/s)",
    "ratio": "log10(ratio)",
    "time": "log10(h)",
    "log": "log",
    "percent": "%",
    "label": "label",
    "none": "",
}

_INVERSE_EXP = re.compile(r"^([a-z0-9^%]+)-1$")


def normalise_unit(unit: object) -> str:
    """Canonical lookup key of a unit spelling (see module docstring). None -> ''."""
    if unit is None or (isinstance(unit, float) and np.isnan(unit)):
        return ""
    text = str(unit).strip().lower().replace("µ", "u").replace("μ", "u").replace(" ", "")
    text = text.replace("**", "^").replace("10⁶", "10^6").replace("×", "x")
    text = re.sub(r"^log_?10", "log10", text)
    inner, wrap = _unwrap(text)
    if "." in inner and "-1" in inner:
        parts = inner.split(".")
        head, rest = parts[0], parts[1:]
        converted = [m.group(1) for p in rest if (m := _INVERSE_EXP.match(p))]
        if len(converted) == len(rest):
            inner = "/".join([head, *converted])
    return wrap.format(inner)


def _unwrap(text: str) -> tuple[str, str]:
    for prefix in ("-log10(", "-log(", "log10(", "log("):
        if text.startswith(prefix) and text.endswith(")"):
            return text[len(prefix) : -1], prefix + "{}" + ")"
    return text, "{}"


_BARE_LOG = re.compile(r"^(-?)log(?:10)?([^(].*)$")


def lookup_unit(unit: object) -> Unit | None:
    """The registered :class:`Unit` for a spelling, or None if unknown."""
    return UNITS.get(unit_key(unit))


def unit_key(unit: object) -> str:
    """Registry key of a spelling: :func:`normalise_unit`, and ``log M`` read as ``log10(M)``.

    Unknown spellings come back normalised (not in :data:`UNITS`).
    """
    key = normalise_unit(unit)
    if key in UNITS:
        return key
    if "/" in key and all(part in P_SCALES for part in key.split("/")):
        return "pxc50"  # "pEC50/pKi": a column mixing p-scales is on the p-scale
    bare = _BARE_LOG.match(key)
    if bare and f"{bare.group(1)}log10({bare.group(2)})" in UNITS:
        return f"{bare.group(1)}log10({bare.group(2)})"
    return key


def canonical_unit_name(key: str) -> str:
    """Display name of a canonical unit key (e.g. ``-log10(m)`` -> ``-log10(M)``)."""
    return DISPLAY.get(key, UNITS[key].name if key in UNITS else key)


DISPLAY: dict[str, str] = {
    "-log10(m)": "-log10(M)",
    "log10(m)": "log10(M)",
    "log10(fu)": "log10(fu)",
    "log10(ul/min/mg)": "log10(uL/min/mg)",
    "log10(ml/min/kg)": "log10(mL/min/kg)",
    "log10(ul/min/10^6cells)": "log10(uL/min/10^6 cells)",
    "log10(cm/s)": "log10(cm/s)",
    "log10(ratio)": "log10(ratio)",
    "log10(h)": "log10(h)",
    "log": "log",
    "%": "%",
    "label": "label",
    "": "",
}
