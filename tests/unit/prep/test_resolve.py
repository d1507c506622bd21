"""Endpoint resolution from meaning: real column headers, questions, the endpoint map, custom endpoints."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from fedqsar.errors import EndpointResolutionError, InputFileError, InputSchemaError
from fedqsar.prep import endpoints as E
from fedqsar.prep.endpoint_map import EndpointMap, MapEntry, read_endpoint_map
from fedqsar.prep.resolve import resolve
from fedqsar.prep.resolver import AMBIGUOUS, UNIT_MISMATCH, UNIT_NEEDED, UNKNOWN, Resolver
from fedqsar.prep.wide import unit_from_header


def header(name: str, resolver: Resolver | None = None):  # type: ignore[no-untyped-def]
    """Resolve a wide-table header as prepare does (unit read from the header)."""
    return (resolver or Resolver()).resolve(name, "", unit_from_header(name))


@pytest.mark.parametrize(
    ("name", "endpoint", "unit"),
    [
        # Biogen ADME (Fang et al. 2023), exactly as in ADME_public_set_3521.csv
        ("LOG HLM_CLint (mL/min/kg)", "CLint_scaled", "log10(ml/min/kg)"),
        ("LOG RLM_CLint (mL/min/kg)", "CLint_scaled", "log10(ml/min/kg)"),
        ("LOG MDR1-MDCK ER (B-A/A-B)", "efflux_ratio", "log10(b-a/a-b)"),
        ("LOG SOLUBILITY PH 6.8 (ug/mL)", "logS", "log10(ug/ml)"),
        ("LOG PLASMA PROTEIN BINDING (HUMAN) (% unbound)", "PPB", "log10(%unbound)"),
        # a wide ADME export with units in the headers: solubility in uM is not a potency,
        # brain and muscle binding are not plasma protein binding, LogD is logD
        ("KSOL (uM)", "logS", "um"),
        ("Kinetic solubility (µM)", "logS", "um"),
        ("MPPB (% unbound)", "PPB", "%unbound"),
        ("MBPB (% unbound)", "fu_brain", "%unbound"),
        ("MGMB (% unbound)", "fu_tissue", "%unbound"),
        ("Brain tissue binding (% unbound)", "fu_brain", "%unbound"),
        ("Muscle tissue binding (% unbound)", "fu_tissue", "%unbound"),
        ("LogD", "logD7.4", "log"),
        ("HLM (uL/min/mg)", "CLint_microsomal", "ul/min/mg"),
        ("MLM CLint (uL/min/mg)", "CLint_microsomal", "ul/min/mg"),
        ("Caco-2 Permeability Papp A>B (10^-6 cm/s)", "Papp", "10^-6cm/s"),
        ("Caco-2 Permeability Efflux", "efflux_ratio", "ratio"),
        ("MDR1-MDCKII (10^-6 cm/s)", "Papp", "10^-6cm/s"),
        # PharmaBench, MoleculeNet, MoleculeACE, SIMPD, TDC-style names
        ("cyp_IC50 (uM)", "pXC50", "um"),
        ("y [pEC50/pKi]", "pXC50", "pxc50"),
        ("pchembl_value", "pXC50", "-log10(m)"),
        ("lipo", "logD7.4", "log"),
        ("AZ_LogD7.4", "logD7.4", "log"),
        ("Lipophilicity_AstraZeneca", "logD7.4", "log"),
        ("LogD (pH 6.5)", "logD6.5", "log"),
        ("logp", "logP", "log"),
        ("pKa1 (basic)", "pKa", "log"),
        ("t1/2 (min)", "half_life", "min"),
        ("% inhibition at 1 uM", "inhibition_pct", "%"),
        ("Hepatocyte CLint (uL/min/10^6 cells)", "CLint_hepatocyte", "ul/min/10^6cells"),
    ],
)
def test_real_headers_resolve_to_their_endpoint(name: str, endpoint: str, unit: str | None) -> None:
    res = header(name)
    assert res.question is None and res.reason is None, res
    assert res.endpoint == endpoint
    if unit is not None:
        assert res.unit_key == unit


@pytest.mark.parametrize(
    ("name", "question", "candidates"),
    [
        ("exp_mean [nM]", UNKNOWN, ("pXC50", "logS")),  # MoleculeACE: nM could be potency or solubility
        ("value", UNKNOWN, ()),  # Lo-Hi
        ("NR-ER", UNKNOWN, ()),  # tox21's estrogen receptor is not an efflux ratio
        ("freesolv", UNKNOWN, ()),
        ("Solubility", UNIT_NEEDED, ("logS",)),  # AqSolDB's column: log mol/L or uM? the header does not say
        ("Caco2_Wang", UNIT_NEEDED, ("Papp",)),
        ("PPBR_AZ", UNIT_NEEDED, ("PPB",)),
        ("Half_Life_Obach", UNIT_NEEDED, ("half_life",)),
        ("Clearance_Microsome_AZ", AMBIGUOUS, ("CLint_microsomal", "CLint_scaled")),  # per mg protein or per kg?
        ("Clearance_Hepatocyte_AZ", AMBIGUOUS, ("CLint_scaled", "CLint_hepatocyte")),
        ("IV clearance (mL/min/kg)", UNKNOWN, ("CLint_scaled",)),  # an in-vivo CL is not a scaled CLint
        ("KSOL (mL/min/kg)", UNIT_MISMATCH, ("logS",)),
        ("cyp_IC50", UNIT_NEEDED, ("pXC50",)),  # PharmaBench's property name: IC50 in which unit?
    ],
)
def test_unclear_headers_are_questions_never_guesses(name: str, question: str, candidates: tuple[str, ...]) -> None:
    res = header(name)
    assert res.question == question and res.endpoint == ""
    assert res.candidates == candidates


def test_the_unit_alone_decides_only_where_it_has_one_meaning() -> None:
    resolver = Resolver()
    assert resolver.resolve("CHEMBL1613", "", "pchembl").endpoint == "pXC50"
    assert resolver.resolve("CHEMBL1613|human", "", "log10(mL.min-1.g-1)").endpoint == "CLint_microsomal"
    for unit in ("nM", "% bound", "mL/min/kg", "ug/mL"):
        assert resolver.resolve("CHEMBL1613", "", unit).question == UNKNOWN, unit


def test_biogen_exported_in_raw_units_resolves_like_the_curated_file() -> None:
    resolver = Resolver()
    ppb = resolver.resolve("PLASMA PROTEIN BINDING (HUMAN) (% unbound)", "", "%")
    assert (ppb.endpoint, ppb.unit_key) == ("PPB", "%unbound") and "unbound" in ppb.note  # not % inhibition
    er = resolver.resolve("MDR1-MDCK ER (B-A/A-B)", "", "")
    assert (er.endpoint, er.unit_key, er.canonical_key) == ("efflux_ratio", "ratio", "log10(ratio)")
    assert resolver.resolve("SOLUBILITY PH 6.8", "", "ug/mL").endpoint == "logS"
    assert resolver.resolve("HLM_CLint", "", "mL/min/kg").endpoint == "CLint_scaled"


def test_a_stated_endpoint_is_taken_and_a_wrong_unit_rejects_its_rows() -> None:
    resolver = Resolver()
    assert resolver.resolve("A1", "PPB", "%").unit_key == "%bound"  # PPB in % is % bound, and says so
    assert resolver.resolve("A1", "pIC50", "").unit_key == "-log10(m)"
    mismatch = resolver.resolve("A1", "pXC50", "% bound")
    assert mismatch.reason == "unit_endpoint_mismatch" and mismatch.question is None
    assert resolver.resolve("A1", "logS", "furlongs").reason == "unknown_unit"
    assert resolver.resolve("A1", "IC50", "").question == UNIT_NEEDED  # IC50 without a unit: nM? uM? pIC50?


def test_the_question_lists_candidates_and_the_map_line_to_write() -> None:
    table = pd.DataFrame(
        {"assay_id": ["exp_mean [nM]", "Solubility", "LogD"], "endpoint": [None] * 3, "unit": ["nM", None, None]}
    )
    semantics = resolve(table)
    with pytest.raises(EndpointResolutionError) as info:
        semantics.raise_for_questions()
    what = info.value.what
    assert "2 assay(s)/column(s)" in what and "pXC50, logS" in what
    assert '"exp_mean [nM]" = "ENDPOINT"   # ENDPOINT: pXC50, logS' in what
    assert '"Solubility" = { endpoint = "logS", unit = "UNIT" }' in what
    assert "--endpoint-map" in info.value.fix and "--allow-custom" in info.value.fix
    assert semantics.map_lines()[0].startswith('"exp_mean [nM]" = "ENDPOINT"')


def test_allow_custom_keeps_unclear_columns_as_custom_endpoints() -> None:
    resolver = Resolver(allow_custom=True)
    kept = resolver.resolve("exp_mean [nM]", "", "nM")
    assert kept.custom and kept.endpoint == "exp_mean [nM]" and kept.canonical_key == "-log10(m)"
    assert kept.question is None and "unknown" in kept.note
    raw = resolver.resolve("value", "", "")
    assert raw.custom and raw.canonical_key == ""  # kept as written; the linear-scale check watches it


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_endpoint_map_toml_answers_the_questions(tmp_path: Path) -> None:
    mapping = read_endpoint_map(
        write(
            tmp_path / "map.toml",
            '"exp_mean [nM]" = "pXC50"\n'
            '"Solubility" = { endpoint = "logS", unit = "log10(mol/L)" }\n'
            '"HLM_CLint" = { endpoint = "CLint_scaled", unit = "mL/min/kg", loq = 3 }\n'
            '"CHEMBL*" = "pIC50"\n'
            '"HydrationFreeEnergy" = { endpoint = "custom:hydration_free_energy" }\n'
            '"never used" = "logP"\n',
        )
    )
    resolver = Resolver(endpoint_map=mapping)
    assert header("exp_mean [nM]", resolver).endpoint == "pXC50"
    solubility = header("solubility", resolver)  # keys match ignoring case
    assert (solubility.endpoint, solubility.unit_key) == ("logS", "log10(mol/l)")
    clint = resolver.resolve("HLM_CLint", "", "")
    assert (clint.endpoint, clint.unit_key, clint.loq_raw) == ("CLint_scaled", "ml/min/kg", 3.0)
    assert resolver.resolve("CHEMBL240", "", "nM").endpoint == "pXC50"  # glob pattern
    custom = resolver.resolve("HydrationFreeEnergy", "", "")
    assert custom.custom and custom.endpoint == "hydration_free_energy"
    assert mapping.unused() == ["never used"]


def test_endpoint_map_csv(tmp_path: Path) -> None:
    mapping = read_endpoint_map(write(tmp_path / "map.csv", "column,endpoint,unit\nKSOL,logS,uM\nPPBR_AZ,PPB,%\n"))
    assert mapping.entries["KSOL"] == MapEntry("KSOL", "logS", "uM", None)
    res = Resolver(endpoint_map=mapping).resolve("PPBR_AZ", "", "")
    assert (res.endpoint, res.unit_key) == ("PPB", "%bound")


@pytest.mark.parametrize(
    ("text", "error", "match"),
    [
        ('"X" = "PBB"\n', InputSchemaError, "did you mean PPB"),
        ('"X" = { endpoint = "logS", unit = "furlongs" }\n', InputSchemaError, "not a known unit"),
        ('"X" = { endpoint = "logS", loq = "low" }\n', InputSchemaError, "loq"),
        ('"X" = { endpoint = "logS", colour = "red" }\n', InputSchemaError, "entry 'X'"),
        ("KSOL (uM) = logS\n", InputFileError, "not valid TOML"),
    ],
)
def test_endpoint_map_mistakes_stop_with_a_fix(tmp_path: Path, text: str, error: type, match: str) -> None:
    with pytest.raises(error, match=match) as info:
        read_endpoint_map(write(tmp_path / "map.toml", text))
    assert info.value.fix


def test_every_documented_example_resolves_to_its_endpoint() -> None:
    """The names docs/partner-input.md lists per endpoint are the ones the resolver reads so."""
    for endpoint in E.REGISTRY:
        for example in endpoint.examples:
            res = header(example)
            expected = endpoint.name
            if endpoint.ph_dependent and "6.5" in example:
                expected = "logD6.5"
            assert res.endpoint == expected or (res.question is not None and expected in res.candidates), example


def test_tuner_values_without_endpoint_stay_on_the_assay_scale() -> None:
    res = Resolver(tuner=True).resolve("CHEMBL1909", "", "")
    assert res.question is None and res.endpoint == "" and res.how == "assay scale"
    assert (
        Resolver(endpoint_map=EndpointMap({"CHEMBL1909": MapEntry("CHEMBL1909", "pXC50")}), tuner=True)
        .resolve("CHEMBL1909", "", "")
        .canonical_key
        == "-log10(m)"
    )


def test_the_documented_registry_table_is_the_registry() -> None:
    docs = (Path(__file__).resolve().parents[3] / "docs" / "partner-input.md").read_text(encoding="utf-8")
    assert E.registry_markdown() in docs
