"""Endpoint registry: what each shared endpoint means, its scale, ranges, LOQ and names.

Partners federate on *endpoints*: the same name must mean the same quantity on the same
scale everywhere. Each :class:`Endpoint` fixes

- its canonical unit (a key of ``prep.units.UNITS``) and so its transform: ratios,
  clearances, permeabilities, concentrations and fractions are modelled as log10 (potency
  as -log10 mol/L); logD / logP / pKa are logarithms already; % inhibition stays linear;
- how it is recognised (``prep.resolve``): exact ``aliases`` for the endpoint column, and
  regular expressions matched against assay ids, column headers and endpoint text —
  ``synonyms`` name the quantity specifically (``plasma protein binding``, ``KSOL``,
  ``B-A/A-B``), ``generic`` ones only say what kind of quantity (``fu``, ``% unbound``,
  ``Caco-2``) and lose against a specific match of another endpoint; ``excludes``
  rule the endpoint out (Papp is not meant when the name says "efflux");
- how a value without a unit, or with a bare ``%``, is read (``bare_units``,
  ``percent_units``: the first pattern matching the name gives the unit; none -> the
  unit must be given);
- ``valid_range``: credible canonical values (outside -> rejected ``value_out_of_range``);
  ``plausible_range``: where a drug-discovery data set's values normally lie (a partner
  with many values outside is warned: usually a unit or protocol difference);
- ``loq``: the default limit of quantification on the canonical scale. Values at or below
  it — zeros and negative numbers in a linear unit included — are kept as ``<`` censored
  values at the LOQ instead of being rejected (``prep.values``). Defaults sit at or below
  the lowest value standard assays quantify; an assay's own LOQ goes into the endpoint map.

Families decide the replicate rule (``ValueConfig.potency_replicates`` for ``potency``,
``ValueConfig.adme_replicates`` for ``adme``, majority vote for ``label``).

Automatic classification thresholds (when an assay has no expert thresholds) are on the
canonical scale: ``thresholds`` are fixed cut-offs, identical for every partner, so that
two partners' classification tasks mean the same thing; otherwise ``threshold_rule``:
``fixed_adaptive`` (potency, as TUNER: the first of 8, 7, 6, 5, 4.7, 4.4 with >= 20 %
actives and both classes at quorum, else the median), ``median_quartile`` (ADME-like, as
TUNER: median plus the quartile on the active side) or ``none``. ``direction`` "high":
class 1 when value >= threshold; "low": when value <= it.

logD is measured at a pH: ``logD7.4`` is the registered entry; a name giving another pH
(``logD pH 6.5``, ``LogD6.5``) resolves to ``logD6.5``, the same definition at that pH
(:func:`get_endpoint`). A logD name without a pH is read as pH 7.4 and says so.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from fedqsar.prep import units as U

INF = float("inf")


@dataclass(frozen=True)
class Endpoint:
    """One shared endpoint (see the module docstring for each field's meaning)."""

    name: str
    canonical_unit: str  # key of units.UNITS, affine
    family: str  # "potency" | "adme" | "label" | "other"
    description: str
    direction: str = "high"
    thresholds: tuple[float, ...] = ()
    threshold_rule: str = "median_quartile"
    valid_range: tuple[float, float] = (-INF, INF)
    plausible_range: tuple[float, float] = (-INF, INF)
    loq: float | None = None
    aliases: tuple[str, ...] = ()
    synonyms: tuple[str, ...] = ()
    generic: tuple[str, ...] = ()
    excludes: tuple[str, ...] = ()
    bare_units: tuple[tuple[str, str], ...] = ()
    percent_units: tuple[tuple[str, str], ...] = ()
    examples: tuple[str, ...] = ()  # real names that resolve here (documented and tested)
    ph_dependent: bool = False

    @property
    def dimension(self) -> str:
        return U.UNITS[self.canonical_unit].dimension

    @property
    def transform(self) -> str:
        """How the canonical scale relates to the natural quantity (for documentation)."""
        slope = U.UNITS[self.canonical_unit].affine[0]  # type: ignore[index]
        if self.dimension in ("log", "percent", "label", "none"):
            return "none (already " + ("a logarithm)" if self.dimension == "log" else "linear)")
        return "-log10" if slope < 0 else "log10"


_FU_BARE = (
    (r"% ?unbound|% ?free|percent unbound|unbound ?%", "%unbound"),
    (r"% ?bound|bound ?%", "%bound"),
    (r"\bfu\b|fraction unbound|unbound fraction|\bfraction\b", "fu"),
)
_FU_PERCENT = ((r"unbound|free|\bfu\b", "%unbound"), (r"\bbound\b|binding|\bppb", "%bound"))
_CLINT_TEXT = (
    r"\b[hmrdc]lm\b",
    r"microsom",
    r"\bmic ?cl",
    r"(?:metabolic|microsomal) stability",
)
_CLINT_GENERIC = (r"\bcl ?int\b", r"intrinsic clearance")
_HEPATOCYTE_TEXT = (r"hepatocyte", r"\b[hmrd]?heps?\b")
_FU_LOQ = -3.0  # log10(0.001); ValueConfig.min_fraction_unbound sets it for every fraction-unbound endpoint
_LOG_BARE = (("", "log"),)

REGISTRY: tuple[Endpoint, ...] = (
    Endpoint(
        "pXC50",
        "-log10(m)",
        "potency",
        "potency: -log10 of IC50 / EC50 / AC50 / Ki / Kd in mol/L",
        threshold_rule="fixed_adaptive",
        valid_range=(0.0, 14.0),
        plausible_range=(3.0, 11.0),
        aliases=("pic50", "pec50", "pki", "pkd", "pkb", "pac50", "pchembl", "pchembl_value", "ic50", "ec50", "ki"),
        synonyms=(
            r"\bp?(?:ic|ec|ac|xc|gi)50\b",
            r"\bp?k[id]\b",
            r"\bpkb\b",
            r"pchembl",
            r"\bpotency\b",
            r"inhibition constant",
            r"dissociation constant",
        ),
        bare_units=((r"\bp(?:ic|ec|ac|xc|gi)50\b|\bpk[idb]\b|pchembl|-log", "-log10(m)"),),
        examples=("IC50 (nM)", "pIC50", "Ki", "pchembl_value", "cyp_IC50", "y [pEC50/pKi]"),
    ),
    Endpoint(
        "logD7.4",
        "log",
        "adme",
        "octanol/buffer distribution coefficient at pH 7.4 (another pH: logD<pH>)",
        thresholds=(1.0, 3.0),
        valid_range=(-10.0, 12.0),
        plausible_range=(-3.0, 7.0),
        aliases=("logd", "logd74", "logd_7.4", "lipo"),
        synonyms=(r"\b[es]?log ?d(?![a-z])", r"distribution coef", r"lipophilicity", r"\blipo\b"),
        bare_units=_LOG_BARE,
        examples=("LogD", "logD7.4", "AZ_LogD7.4", "LogD (pH 6.5)", "Lipophilicity_AstraZeneca", "lipo"),
        ph_dependent=True,
    ),
    Endpoint(
        "logP",
        "log",
        "adme",
        "octanol/water partition coefficient of the neutral form (log10)",
        thresholds=(1.0, 3.0),
        valid_range=(-10.0, 15.0),
        plausible_range=(-3.0, 8.0),
        aliases=("logkow", "logpow"),
        synonyms=(r"\blog ?p\b", r"\blog ?[kp]ow\b", r"partition coef"),
        bare_units=_LOG_BARE,
        examples=("logP", "LogKow"),
    ),
    Endpoint(
        "pKa",
        "log",
        "adme",
        "acid dissociation constant, -log10(Ka)",
        valid_range=(-10.0, 25.0),
        plausible_range=(-2.0, 16.0),
        aliases=("pka",),
        synonyms=(r"\bpka\d?\b", r"acid dissociation"),
        bare_units=_LOG_BARE,
        examples=("pKa", "pKa1 (basic)"),
    ),
    Endpoint(
        "logS",
        "log10(m)",
        "adme",
        "aqueous solubility (kinetic or thermodynamic), log10(mol/L)",
        thresholds=(-5.0, -4.0),
        valid_range=(-15.0, 2.0),
        plausible_range=(-10.0, 1.5),
        loq=-12.0,
        aliases=("solubility", "log_solubility", "logsol", "kinetic_solubility", "thermodynamic_solubility"),
        synonyms=(r"solubilit", r"\bk ?sol\b", r"\bsol\b", r"\blog ?s\b", r"\baqsol"),
        bare_units=((r"\blog ?s\b", "log10(m)"),),
        examples=("KSOL (uM)", "Kinetic solubility (µM)", "LOG SOLUBILITY PH 6.8 (ug/mL)", "logS", "water_sol"),
    ),
    Endpoint(
        "PPB",
        "log10(fu)",
        "adme",
        "plasma protein binding as log10(fraction unbound in plasma)",
        thresholds=(-2.0, -1.0),
        valid_range=(-6.0, 0.0),
        plausible_range=(-4.0, 0.0),
        loq=_FU_LOQ,
        aliases=("ppb", "ppb_human", "ppb_rat", "fu_plasma", "fup", "hppb", "rppb"),
        synonyms=(
            r"plasma (?:protein )?binding",
            r"serum (?:protein )?binding",
            r"\b[hmrdc]?ppbr?\b",
            r"\bfu ?,? ?p(?:lasma)?\b",
            r"plasma fu\b",
            r"(?:fraction )?unbound (?:in )?plasma",
        ),
        generic=(r"\bfu\b", r"fraction unbound", r"unbound", r"protein binding", r"% ?bound"),
        excludes=(r"brain", r"muscle", r"tissue", r"microsom", r"hepatocyte", r"homogenate", r"\bfu ?,? ?(?:b|mic)\b"),
        bare_units=_FU_BARE,
        percent_units=_FU_PERCENT,
        examples=(
            "PLASMA PROTEIN BINDING (HUMAN) (% unbound)",
            "MPPB (% unbound)",
            "PPBR_AZ",
            "fu",
            "ppb",
        ),
    ),
    Endpoint(
        "fu_brain",
        "log10(fu)",
        "adme",
        "brain tissue (homogenate) binding as log10(fraction unbound in brain)",
        thresholds=(-2.0, -1.0),
        valid_range=(-6.0, 0.0),
        plausible_range=(-4.5, 0.0),
        loq=_FU_LOQ,
        aliases=("fu_brain", "fub", "bpb"),
        synonyms=(
            r"brain[\w ,()/-]{0,24}binding",
            r"binding[\w ,()/-]{0,12}brain",
            r"\b[hmrdc]?bpb\b",
            r"\bfu ?,? ?b(?:rain)?\b",
            r"brain fu\b",
            r"unbound (?:in )?brain",
        ),
        bare_units=_FU_BARE,
        percent_units=_FU_PERCENT,
        examples=("Brain tissue binding (% unbound)", "MBPB (% unbound)", "fu,brain"),
    ),
    Endpoint(
        "fu_tissue",
        "log10(fu)",
        "adme",
        "binding to a tissue other than brain (muscle, liver, adipose ...) as log10(fraction unbound)",
        thresholds=(-2.0, -1.0),
        valid_range=(-6.0, 0.0),
        plausible_range=(-4.5, 0.0),
        loq=_FU_LOQ,
        aliases=("fu_tissue",),
        synonyms=(
            r"(?:muscle|tissue|liver|adipose|lung|heart|kidney|skin)[\w ,()/-]{0,24}binding",
            r"\b[hmrdc]?gmb\b",
            r"\bfu ?,? ?(?:t|tissue|muscle)\b",
        ),
        excludes=(r"brain", r"plasma", r"microsom"),
        bare_units=_FU_BARE,
        percent_units=_FU_PERCENT,
        examples=("Muscle tissue binding (% unbound)", "MGMB (% unbound)"),
    ),
    Endpoint(
        "fu_microsomal",
        "log10(fu)",
        "adme",
        "binding to liver microsomes in the incubation as log10(fraction unbound)",
        thresholds=(-1.0,),
        valid_range=(-6.0, 0.0),
        plausible_range=(-3.5, 0.0),
        loq=_FU_LOQ,
        aliases=("fu_mic", "fumic"),
        synonyms=(r"microsom\w*[\w ,()/-]{0,12}binding", r"binding[\w ,()/-]{0,12}microsom", r"\bfu ?,? ?mic\b"),
        bare_units=_FU_BARE,
        percent_units=_FU_PERCENT,
        examples=("fu,mic", "Microsomal binding (% unbound)"),
    ),
    Endpoint(
        "CLint_microsomal",
        "log10(ul/min/mg)",
        "adme",
        "intrinsic clearance in liver microsomes, log10(uL/min/mg protein)",
        thresholds=(1.0, 1.7),
        valid_range=(-4.0, 7.0),
        plausible_range=(-1.0, 3.5),
        loq=-1.0,
        aliases=("microsomal_cl", "microsomal_clearance"),
        synonyms=_CLINT_TEXT,
        generic=_CLINT_GENERIC,
        excludes=(r"hepatocyte", r"binding"),
        examples=("HLM (uL/min/mg)", "MLM CLint (uL/min/mg)", "Clearance_Microsome_AZ", "hum_mic_cl"),
    ),
    Endpoint(
        "CLint_scaled",
        "log10(ml/min/kg)",
        "adme",
        "intrinsic clearance (microsomes or hepatocytes) scaled to body weight, log10(mL/min/kg)",
        thresholds=(1.0, 1.5),
        valid_range=(-4.0, 7.0),
        plausible_range=(-1.0, 4.5),
        loq=-1.0,
        aliases=("clint_scaled", "clint_body"),
        synonyms=(*_CLINT_TEXT, *_HEPATOCYTE_TEXT, r"scaled"),
        generic=_CLINT_GENERIC,
        excludes=(r"binding",),
        examples=("LOG HLM_CLint (mL/min/kg)", "HLM CLint (mL/min/kg)", "hepatocyte CLint (mL/min/kg)"),
    ),
    Endpoint(
        "CLint_hepatocyte",
        "log10(ul/min/10^6cells)",
        "adme",
        "hepatocyte intrinsic clearance, log10(uL/min/10^6 cells)",
        thresholds=(1.0,),
        valid_range=(-4.0, 6.0),
        plausible_range=(-1.0, 3.0),
        loq=-1.0,
        aliases=("hepatocyte_clint", "heps_clint"),
        synonyms=_HEPATOCYTE_TEXT,
        generic=_CLINT_GENERIC,
        excludes=(r"microsom", r"binding"),
        examples=("Hepatocyte CLint (uL/min/10^6 cells)", "Clearance_Hepatocyte_AZ"),
    ),
    Endpoint(
        "Papp",
        "log10(cm/s)",
        "adme",
        "apparent permeability (Caco-2, MDCK, PAMPA), log10(cm/s)",
        thresholds=(-6.0, -5.0),
        valid_range=(-10.0, -2.0),
        plausible_range=(-8.0, -3.5),
        loq=-8.0,
        aliases=("papp", "permeability", "caco2", "pampa", "mdck_papp"),
        synonyms=(r"\bp ?app\b", r"permeab", r"pampa"),
        generic=(r"caco-? ?2", r"\bmdck", r"\bmdr1\b", r"\blle-?pk"),
        excludes=(r"efflux", r"\bratio\b", r"b-?a ?/ ?a-?b", r"\ber\b"),
        examples=("Caco-2 Permeability Papp A>B (10^-6 cm/s)", "MDR1-MDCKII (10^-6 cm/s)", "Caco2_Wang"),
    ),
    Endpoint(
        "efflux_ratio",
        "log10(ratio)",
        "adme",
        "efflux ratio Papp(B-A) / Papp(A-B), log10",
        thresholds=(0.3,),
        valid_range=(-3.0, 4.0),
        plausible_range=(-1.5, 3.0),
        loq=-2.0,
        aliases=("er", "efflux", "mdr1_er", "efflux_ratio"),
        synonyms=(
            r"efflux",
            r"b-?a ?/ ?a-?b",
            r"\b(?:mdck\w*|mdr1|caco-? ?2|p-?gp|bcrp|lle-?pk)\b[\w ,()/-]{0,20}\ber\b",
            r"\ber\b[ (]*b-?a",
        ),
        bare_units=(("", "ratio"),),
        examples=("MDR1-MDCK ER (B-A/A-B)", "LOG MDR1-MDCK ER (B-A/A-B)", "Caco-2 Permeability Efflux"),
    ),
    Endpoint(
        "half_life",
        "log10(h)",
        "adme",
        "half-life, log10(h)",
        thresholds=(0.0, 1.0),
        valid_range=(-4.0, 4.0),
        plausible_range=(-2.0, 3.0),
        loq=-2.0,
        aliases=("t1/2", "t_half", "half_life"),
        synonyms=(r"half[ -]?life", r"\bt ?1/2\b", r"\bt ?half\b", r"\bthalf\b"),
        examples=("Half_Life_Obach", "t1/2 (min)"),
    ),
    Endpoint(
        "inhibition_pct",
        "%",
        "potency",
        "% inhibition / % effect at a fixed concentration",
        thresholds=(50.0,),
        valid_range=(-200.0, 300.0),
        plausible_range=(-50.0, 150.0),
        aliases=("percent_inhibition", "inhibition", "%inhibition"),
        synonyms=(r"% ?inhibition", r"inhibition ?(?:\(%\)|%)", r"percent(?:age)? inhibition", r"% ?effect"),
        bare_units=(("", "%"),),
        percent_units=(("", "%"),),
        examples=("% inhibition at 1 uM", "Percent inhibition"),
    ),
    Endpoint(
        "label",
        "label",
        "label",
        "ready-made class labels (0 inactive / 1 active)",
        threshold_rule="none",
        valid_range=(0.0, 1.0),
        aliases=("label", "class", "binary", "class_label"),
        synonyms=(r"\bclass(?: ?label)?\b", r"\blabel\b"),
        bare_units=(("", "label"),),
        examples=("class_label", "label"),
    ),
)

ENDPOINTS: dict[str, Endpoint] = {e.name: e for e in REGISTRY}

_ALIASES: dict[str, str] = {}
for _endpoint in REGISTRY:
    for _alias in (_endpoint.name, *_endpoint.aliases):
        _ALIASES[_alias.lower().replace(" ", "")] = _endpoint.name

UNIT_IMPLIES: dict[str, str] = {
    **{key: "pXC50" for key in (*U.P_SCALES, "-log10(m)")},
    **{key: "label" for key in ("label", "class", "binary")},
    **{key: "CLint_microsomal" for key in U.LINEAR_FAMILIES["cl_protein"]},
    **{f"log10({key})": "CLint_microsomal" for key in U.LINEAR_FAMILIES["cl_protein"]},
    **{key: "CLint_hepatocyte" for key in U.LINEAR_FAMILIES["cl_cells"]},
    **{f"log10({key})": "CLint_hepatocyte" for key in U.LINEAR_FAMILIES["cl_cells"]},
    **{key: "Papp" for key in U.LINEAR_FAMILIES["papp"]},
    **{f"log10({key})": "Papp" for key in U.LINEAR_FAMILIES["papp"]},
    **{key: "efflux_ratio" for key in U.LINEAR_FAMILIES["ratio"] if key != "ratio"},
    **{f"log10({key})": "efflux_ratio" for key in U.LINEAR_FAMILIES["ratio"] if key != "ratio"},
    "%inhibition": "inhibition_pct",
    "logd": "logD7.4",
    "logp": "logP",
    "logs": "logS",
}
"""Units whose spelling alone names one endpoint (used when the name says nothing).

A molar concentration could be a potency or a solubility, a % bound plasma or brain binding,
mL/min/kg a scaled CLint or an in-vivo clearance: those units decide nothing on their own.
"""

_LOGD_PH = re.compile(r"^logd(\d{1,2}(?:\.\d+)?)$", re.IGNORECASE)


def get_endpoint(name: object) -> Endpoint | None:
    """The registered endpoint called exactly ``name`` (``logD<pH>`` for any pH), or None."""
    if name is None:
        return None
    text = str(name)
    found = ENDPOINTS.get(text)
    if found is not None:
        return found
    match = _LOGD_PH.match(text)
    if match:
        return logd_at(float(match.group(1)))
    return None


def logd_at(ph: float) -> Endpoint:
    """The logD endpoint at ``ph`` (``logD7.4`` itself at 7.4)."""
    base = ENDPOINTS["logD7.4"]
    name = f"logD{ph:g}"
    if name == base.name:
        return base
    return dataclasses.replace(base, name=name, description=f"octanol/buffer distribution coefficient at pH {ph:g}")


def lookup_endpoint(name: object) -> Endpoint | None:
    """Registered endpoint for an exact name or alias (case and blanks ignored), or None."""
    if name is None:
        return None
    key = str(name).strip().lower().replace(" ", "")
    found = _ALIASES.get(key)
    if found is not None:
        return ENDPOINTS[found]
    match = _LOGD_PH.match(key.replace("_", "").replace("ph", ""))
    return logd_at(float(match.group(1))) if match else None


def custom_endpoint(name: str, unit_key: str) -> Endpoint:
    """An endpoint not in the registry: canonical unit = its unit's dimension default."""
    unit = U.UNITS.get(unit_key)
    dimension = unit.dimension if unit is not None else "none"
    return Endpoint(name, U.DIMENSION_CANONICAL[dimension], "other", f"partner-defined endpoint {name!r}")


# --- documentation -----------------------------------------------------------------------------
def _range(bounds: tuple[float, float]) -> str:
    return "—" if not all(abs(b) < INF for b in bounds) else f"{bounds[0]:g} … {bounds[1]:g}"


def _loq_rule(endpoint: Endpoint) -> str:
    if endpoint.loq is None:
        return "—" if endpoint.dimension in ("log", "percent", "label") else "none: a zero is rejected"
    inner = U.canonical_unit_name(endpoint.canonical_unit)
    inner = inner[len("log10(") : -1] if inner.startswith("log10(") else inner
    floor = "fu 0.001, `min_fraction_unbound`" if endpoint.dimension == "binding" else f"{10**endpoint.loq:g} {inner}"
    return f"≤ {endpoint.loq:g} ({floor}) → `<` it"


def _bare(endpoint: Endpoint) -> str:
    units = [U.canonical_unit_name(U.unit_key(u)) for _, u in endpoint.bare_units]
    if not units:
        return "unit required"
    always = len(endpoint.bare_units) == 1 and not endpoint.bare_units[0][0]
    return units[0] if always else "as the name says (" + " / ".join(dict.fromkeys(units)) + "), else unit required"


def registry_markdown() -> str:
    """The registry as the Markdown table of ``docs/partner-input.md`` (a test keeps them equal)."""
    lines = [
        "| endpoint | meaning | names it is recognised by (examples) | canonical unit | transform "
        "| credible range | plausible range | LOQ (zero or below) | no unit means | automatic thresholds |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for e in REGISTRY:
        names = ", ".join(f"`{x}`" for x in e.examples)
        thresholds = ", ".join(f"{t:g}" for t in e.thresholds) or e.threshold_rule.replace("_", "-")
        lines.append(
            f"| `{e.name}` | {e.description} | {names} | {U.canonical_unit_name(e.canonical_unit) or '—'} "
            f"| {e.transform} | {_range(e.valid_range)} | {_range(e.plausible_range)} | {_loq_rule(e)} "
            f"| {_bare(e)} | {thresholds} |"
        )
    return "\n".join(lines)
