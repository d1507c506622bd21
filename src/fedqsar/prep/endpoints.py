"""Endpoint registry: shared endpoint name -> canonical unit, family, thresholds, range.

Partners federate on *endpoints*: the same name must mean the same quantity on the same
scale everywhere, so each endpoint fixes its canonical unit (a key of
``prep.units.UNITS``). Values in any unit of the same dimension are converted to it.

Families decide the replicate rule (``ValueConfig.potency_replicates`` for ``potency``,
``ValueConfig.adme_replicates`` for ``adme``, majority vote for ``label``).

Automatic classification thresholds (used when an assay has no expert thresholds):
``thresholds`` are fixed cut-offs on the canonical scale, identical for every partner, so
that the classification tasks of two partners mean the same thing. ``threshold_rule``
names the data-driven rule used instead when ``thresholds`` is empty:

``fixed_adaptive``  (potency, as TUNER for OTHER/PANEL assays) the first of 8, 7, 6, 5,
                    4.7, 4.4 at which >= 20 % of the labelled values are active and both
                    classes reach the quorum; else the median of the values.
``median_quartile`` (unknown ADME-like endpoints, as TUNER for ADME assays) the median
                    of the exact values, plus the upper (direction high) or lower
                    (direction low) quartile when it differs.
``none``            no classification task (e.g. ready-made labels have their own task).

``direction`` "high": class 1 when value >= threshold; "low": class 1 when value <= it.
``valid_range``: credible canonical values; outside -> rejected ``value_out_of_range``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fedqsar.prep import units as U


@dataclass(frozen=True)
class Endpoint:
    """One shared endpoint (see module docstring for the meaning of each field)."""

    name: str
    canonical_unit: str  # key of units.UNITS, affine
    family: str  # "potency" | "adme" | "label" | "other"
    description: str
    direction: str = "high"
    thresholds: tuple[float, ...] = ()
    threshold_rule: str = "median_quartile"
    valid_range: tuple[float, float] = (float("-inf"), float("inf"))
    aliases: tuple[str, ...] = ()
    unit_aliases: dict[str, str] = field(default_factory=dict)  # ambiguous spellings in this endpoint's context

    @property
    def dimension(self) -> str:
        return U.UNITS[self.canonical_unit].dimension


ENDPOINTS: dict[str, Endpoint] = {
    e.name: e
    for e in (
        Endpoint(
            "pXC50",
            "-log10(m)",
            "potency",
            "potency: -log10 of IC50/EC50/Ki/Kd in mol/L",
            threshold_rule="fixed_adaptive",
            valid_range=(0.0, 14.0),
            aliases=(
                "pic50",
                "pec50",
                "pki",
                "pkd",
                "pkb",
                "pac50",
                "pchembl",
                "ic50",
                "ec50",
                "ki",
                "kd",
                "ac50",
                "potency",
                "pchembl_value",
            ),
        ),
        Endpoint(
            "logD7.4",
            "log",
            "adme",
            "octanol/buffer distribution coefficient at pH 7.4 (log10)",
            thresholds=(1.0, 3.0),
            valid_range=(-10.0, 12.0),
            aliases=("logd", "logd74", "logd_7.4", "lipo"),
        ),
        Endpoint(
            "logP",
            "log",
            "adme",
            "octanol/water partition coefficient (log10)",
            thresholds=(1.0, 3.0),
            valid_range=(-10.0, 15.0),
            aliases=("clogp_exp", "logkow"),
        ),
        Endpoint(
            "logS",
            "log10(m)",
            "adme",
            "aqueous solubility, log10(mol/L)",
            thresholds=(-5.0, -4.0),
            valid_range=(-15.0, 2.0),
            aliases=("solubility", "log_solubility", "logsol", "kinetic_solubility", "thermodynamic_solubility"),
        ),
        Endpoint(
            "PPB",
            "log10(fu)",
            "adme",
            "plasma protein binding as log10(fraction unbound)",
            thresholds=(-2.0, -1.0),
            valid_range=(-6.0, 0.0),
            aliases=("ppb_human", "ppb_rat", "fu", "fraction_unbound", "protein_binding", "hppb", "rppb"),
            unit_aliases={"%": "%bound", "percent": "%bound"},
        ),
        Endpoint(
            "CLint_microsomal",
            "log10(ul/min/mg)",
            "adme",
            "intrinsic clearance in liver microsomes, log10(uL/min/mg protein)",
            thresholds=(1.0, 1.7),
            valid_range=(-4.0, 7.0),
            aliases=("microsomal_cl", "clint", "hlm", "rlm", "mlm", "microsomal_clearance"),
        ),
        Endpoint(
            "CLint_scaled",
            "log10(ml/min/kg)",
            "adme",
            "intrinsic clearance scaled to body weight, log10(mL/min/kg)",
            thresholds=(1.0, 1.5),
            valid_range=(-4.0, 7.0),
            aliases=("hlm_clint", "rlm_clint", "clint_body"),
        ),
        Endpoint(
            "CLint_hepatocyte",
            "log10(ul/min/10^6cells)",
            "adme",
            "hepatocyte intrinsic clearance, log10(uL/min/10^6 cells)",
            thresholds=(1.0,),
            valid_range=(-4.0, 6.0),
            aliases=("hepatocyte_clint", "heps_clint"),
        ),
        Endpoint(
            "Papp",
            "log10(cm/s)",
            "adme",
            "apparent permeability, log10(cm/s)",
            thresholds=(-6.0, -5.0),
            valid_range=(-10.0, -2.0),
            aliases=("permeability", "caco2", "pampa", "mdck_papp"),
        ),
        Endpoint(
            "efflux_ratio",
            "log10(ratio)",
            "adme",
            "efflux ratio B-A/A-B, log10",
            thresholds=(0.3,),
            valid_range=(-3.0, 4.0),
            aliases=("er", "mdr1_er", "efflux"),
        ),
        Endpoint(
            "half_life",
            "log10(h)",
            "adme",
            "half-life, log10(h)",
            thresholds=(0.0, 1.0),
            valid_range=(-4.0, 4.0),
            aliases=("t1/2", "t_half"),
        ),
        Endpoint(
            "inhibition_pct",
            "%",
            "potency",
            "% inhibition / % effect at a fixed concentration",
            thresholds=(50.0,),
            valid_range=(-200.0, 300.0),
            aliases=("percent_inhibition", "inhibition", "%inhibition"),
        ),
        Endpoint(
            "label",
            "label",
            "label",
            "ready-made class labels (0 inactive / 1 active)",
            threshold_rule="none",
            valid_range=(0.0, 1.0),
            aliases=("class", "binary", "class_label"),
        ),
    )
}

_ALIASES: dict[str, str] = {}
for _endpoint in ENDPOINTS.values():
    _ALIASES[_endpoint.name.lower()] = _endpoint.name
    for _alias in _endpoint.aliases:
        _ALIASES[_alias.lower()] = _endpoint.name

# Endpoint inferred from a unit's dimension when the row names no endpoint (documented rule):
# linear or p-scale molar concentrations are potencies; log10(molar) and mass
# concentrations are solubilities; the other dimensions have one endpoint each.
INFERRED_FROM_DIMENSION: dict[str, str] = {
    "binding": "PPB",
    "cl_protein": "CLint_microsomal",
    "cl_body": "CLint_scaled",
    "cl_cells": "CLint_hepatocyte",
    "papp": "Papp",
    "ratio": "efflux_ratio",
    "time": "half_life",
    "percent": "inhibition_pct",
    "label": "label",
}


def lookup_endpoint(name: object) -> Endpoint | None:
    """Registered endpoint for a name or alias (case-insensitive), or None."""
    if name is None:
        return None
    key = str(name).strip().lower().replace(" ", "")
    return ENDPOINTS.get(_ALIASES.get(key, ""))


def infer_endpoint(unit_key: str) -> str | None:
    """Endpoint name implied by a normalised unit key, or None (see module rule)."""
    unit = U.UNITS.get(unit_key)
    if unit is None:
        return None
    if unit.dimension == "molar":
        if unit.needs_mw or (unit.affine is not None and unit.affine[0] > 0):
            return "logS"
        return "pXC50"
    return INFERRED_FROM_DIMENSION.get(unit.dimension)


def custom_endpoint(name: str, unit_key: str) -> Endpoint:
    """An endpoint not in the registry: canonical unit = its unit's dimension default."""
    unit = U.UNITS.get(unit_key)
    dimension = unit.dimension if unit is not None else "none"
    return Endpoint(name, U.DIMENSION_CANONICAL[dimension], "other", f"partner-defined endpoint {name!r}")
