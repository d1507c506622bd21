"""Canonical values back into the input's unit: the inverse of every kind of registered conversion."""

from __future__ import annotations

import numpy as np
import pytest

from fedqsar.prep import units as U
from fedqsar.prep.inverse_units import to_input_unit

MW = np.array([180.16, 350.0, 612.5])


@pytest.mark.parametrize(
    ("canonical_unit", "input_unit", "raw"),
    [
        ("log10(M)", "log10(ug/mL)", np.array([1.5, -0.3, 2.0])),  # Biogen solubility: needs MW
        ("log10(M)", "ug/mL", np.array([31.6, 0.5, 100.0])),  # linear mass concentration
        ("log10(fu)", "% bound", np.array([99.0, 50.0, 10.0])),  # order reverses
        ("log10(fu)", "log10(% unbound)", np.array([1.5, -0.3, 2.0])),  # affine
        ("-log10(M)", "nM", np.array([10.0, 1000.0, 3.0])),  # p-scale from a linear molar unit
        ("log10(mL/min/kg)", "L/h/kg", np.array([0.2, 3.0, 60.0])),
    ],
)
def test_round_trip_through_the_canonical_scale(canonical_unit: str, input_unit: str, raw: np.ndarray) -> None:
    canonical = U.lookup_unit(canonical_unit).from_base(U.lookup_unit(input_unit).to_base(raw, MW))
    np.testing.assert_allclose(to_input_unit(canonical, canonical_unit, input_unit, MW), raw, rtol=1e-9, atol=1e-9)


def test_solubility_depends_on_each_compounds_weight() -> None:
    logs = np.array([-4.0, -4.0])
    got = to_input_unit(logs, "log10(M)", "log10(ug/mL)", np.array([200.0, 400.0]))
    assert got[1] - got[0] == pytest.approx(np.log10(2.0))  # same molarity, twice the mass per litre
    assert got[0] == pytest.approx(-4.0 + 3.0 + np.log10(200.0))


def test_values_without_a_counterpart_are_nan() -> None:
    # fu > 1 has no "% bound"; no MW for a mass unit; NaN stays NaN
    assert np.isnan(to_input_unit(np.array([0.5]), "log10(fu)", "% bound"))[0]
    assert np.isnan(to_input_unit(np.array([-4.0]), "log10(M)", "ug/mL", None))[0]
    assert np.isnan(to_input_unit(np.array([np.nan]), "log10(M)", "log10(M)"))[0]


def test_incompatible_units_are_refused() -> None:
    with pytest.raises(ValueError, match="cannot express"):
        to_input_unit(np.array([1.0]), "log10(M)", "% bound")
    with pytest.raises(ValueError, match="unknown unit"):
        to_input_unit(np.array([1.0]), "log10(M)", "furlongs")
