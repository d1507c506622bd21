"""Unit registry: each conversion on hand-computed values, spellings, endpoint inference."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fedqsar.prep import endpoints as E
from fedqsar.prep import units as U


def to_canonical(value: float, unit: str, canonical: str, mw: float | None = None) -> float:
    source, target = U.lookup_unit(unit), U.UNITS[canonical]
    assert source is not None, unit
    weights = None if mw is None else np.array([mw])
    return float(target.from_base(source.to_base(np.array([value], float), weights))[0])


@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [
        (10.0, "nM", 8.0),
        (1.0, "uM", 6.0),
        (1.0, "µM", 6.0),
        (1.0, "μM", 6.0),
        (2.0, "mM", -math.log10(2e-3)),
        (1e-7, "M", 7.0),
        (100.0, "pM", 10.0),
        (1.0, "nmol/L", 9.0),
        (7.3, "pIC50", 7.3),
        (6.1, "pKi", 6.1),
        (5.5, "pchembl", 5.5),
        (-7.0, "log10(M)", 7.0),
        (2.0, "log10(nM)", 7.0),
        (8.0, "-log10(M)", 8.0),
    ],
)
def test_molar_to_pxc50(value: float, unit: str, expected: float) -> None:
    assert to_canonical(value, unit, "-log10(m)") == pytest.approx(expected)


@pytest.mark.parametrize(
    ("value", "unit", "mw", "expected"),
    [
        (1.0, "M", None, 0.0),
        (1e3, "uM", None, -3.0),
        (-4.5, "log10(M)", None, -4.5),
        (180.0, "ug/mL", 180.0, -3.0),  # 180 ug/mL = 0.18 g/L = 1 mM at MW 180
        (0.18, "mg/mL", 180.0, -3.0),
        (180.0, "mg/L", 180.0, -3.0),
        (180.0, "ng/mL", 180.0, -6.0),
        (math.log10(180.0), "log10(ug/mL)", 180.0, -3.0),  # Biogen's LOG SOLUBILITY (ug/mL)
    ],
)
def test_concentrations_to_logs(value: float, unit: str, mw: float | None, expected: float) -> None:
    assert to_canonical(value, unit, "log10(m)", mw) == pytest.approx(expected)


def test_mass_concentration_without_weight_is_nan() -> None:
    unit = U.lookup_unit("ug/mL")
    assert unit.needs_mw and np.isnan(unit.to_base(np.array([1.0]), None)[0])


@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [
        (99.0, "% bound", -2.0),
        (90.0, "%bound", -1.0),
        (10.0, "% unbound", -1.0),
        (1.0, "% free", -2.0),
        (0.99, "fraction bound", -2.0),
        (0.1, "fu", -1.0),
        (0.0, "log10(% unbound)", -2.0),  # Biogen: log10(%unbound)
        (-1.5, "log10(fu)", -1.5),
    ],
)
def test_protein_binding_to_log_fraction_unbound(value: float, unit: str, expected: float) -> None:
    assert to_canonical(value, unit, "log10(fu)") == pytest.approx(expected)


def test_binding_outside_0_100_percent_is_nan_and_100_bound_is_minus_inf() -> None:
    unit = U.lookup_unit("% bound")
    out = unit.to_base(np.array([101.0, -1.0, 100.0]), None)
    assert np.isnan(out[0]) and np.isnan(out[1]) and out[2] == -np.inf


@pytest.mark.parametrize(
    ("value", "unit", "canonical", "expected"),
    [
        (1.5, "log10(mL.min-1.g-1)", "log10(ul/min/mg)", 1.5),  # pharmabench microsomal CL
        (10.0, "uL/min/mg", "log10(ul/min/mg)", 1.0),
        (10.0, "mL/min/g", "log10(ul/min/mg)", 1.0),
        (0.01, "mL/min/mg", "log10(ul/min/mg)", 1.0),
        (10.0, "mL/min/kg", "log10(ml/min/kg)", 1.0),
        (0.6, "L/h/kg", "log10(ml/min/kg)", 1.0),
        (10.0, "uL/min/10^6 cells", "log10(ul/min/10^6cells)", 1.0),
        (10.0, "10^-6 cm/s", "log10(cm/s)", -5.0),
        (100.0, "nm/s", "log10(cm/s)", -5.0),
        (20.0, "ratio", "log10(ratio)", math.log10(20.0)),
        (120.0, "min", "log10(h)", math.log10(2.0)),
        (2.3, "log", "log", 2.3),
        (45.0, "%", "%", 45.0),
    ],
)
def test_adme_units(value: float, unit: str, canonical: str, expected: float) -> None:
    assert to_canonical(value, unit, canonical) == pytest.approx(expected)


def test_signs_say_when_censoring_flips() -> None:
    assert U.lookup_unit("nM").sign == 1 and U.UNITS["-log10(m)"].affine[0] < 0  # nM -> pXC50 flips
    assert U.lookup_unit("% bound").sign == -1 and U.lookup_unit("% unbound").sign == 1
    assert U.lookup_unit("pIC50").sign == -1  # p-scale vs log10(M) base


@pytest.mark.parametrize(
    ("spelling", "key"),
    [
        (" nM ", "nm"),
        ("UM", "um"),
        ("µg/mL", "ug/ml"),
        ("log10(mL.min-1.g-1)", "log10(ml/min/g)"),
        ("LOG(% unbound)", "log(%unbound)"),
        ("uL/min/10**6 cells", "ul/min/10^6cells"),
        (None, ""),
        (float("nan"), ""),
    ],
)
def test_normalise_unit(spelling: object, key: str) -> None:
    assert U.normalise_unit(spelling) == key


def test_unknown_units_are_none() -> None:
    assert U.lookup_unit("furlongs") is None
    assert U.lookup_unit("mg/kg/day") is None


def test_every_dimension_has_an_affine_canonical_unit() -> None:
    for dimension, key in U.DIMENSION_CANONICAL.items():
        unit = U.UNITS[key]
        assert unit.dimension == dimension and unit.affine is not None
    for endpoint in E.ENDPOINTS.values():
        assert U.UNITS[endpoint.canonical_unit].affine is not None, endpoint.name


@pytest.mark.parametrize(
    ("unit", "endpoint"),
    [
        ("pIC50", "pXC50"),
        ("pchembl", "pXC50"),
        ("pEC50/pKi", "pXC50"),  # MoleculeACE's "y [pEC50/pKi]"
        ("log10(mL.min-1.g-1)", "CLint_microsomal"),  # per mg protein: microsomes
        ("uL/min/10^6 cells", "CLint_hepatocyte"),
        ("10^-6 cm/s", "Papp"),
        ("B-A/A-B", "efflux_ratio"),
        ("label", "label"),
        # units that decide nothing on their own: the name has to say what they measure
        ("nM", None),  # potency or solubility
        ("ug/mL", None),
        ("% bound", None),  # plasma, brain, tissue or microsomal binding
        ("mL/min/kg", None),  # scaled CLint or in-vivo clearance
        ("%", None),
        ("ratio", None),
        ("log", None),
        ("", None),
        ("furlongs", None),
    ],
)
def test_only_units_with_one_meaning_name_an_endpoint(unit: str, endpoint: str | None) -> None:
    assert E.UNIT_IMPLIES.get(U.unit_key(unit)) == endpoint


def test_endpoint_aliases() -> None:
    assert E.lookup_endpoint("LogD").name == "logD7.4"
    assert E.lookup_endpoint("logD6.5").name == "logD6.5" and E.get_endpoint("logD6.5").thresholds == (1.0, 3.0)
    assert E.get_endpoint("logD7.4") is E.ENDPOINTS["logD7.4"] and E.get_endpoint("PPBX") is None
    assert E.lookup_endpoint("pIC50").name == "pXC50"
    assert E.lookup_endpoint("solubility").name == "logS"
    assert E.lookup_endpoint("my_assay_readout") is None
    assert E.custom_endpoint("x", "nm").canonical_unit == "-log10(m)"
    assert E.custom_endpoint("x", "").canonical_unit == ""


@pytest.mark.parametrize(
    ("spelling", "expected"), [("log M", -4.0), ("logS", -4.0), ("log(mol/L)", -4.0), ("log10 uM", -10.0)]
)
def test_bare_log_spellings(spelling: str, expected: float) -> None:
    key = U.unit_key(spelling)
    assert key in U.UNITS
    assert to_canonical(-4.0, spelling, "log10(m)") == pytest.approx(expected)
