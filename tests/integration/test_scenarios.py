"""The two consortium scenarios, built from the real public files in ../shared/data."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from fedqsar.datasets.scenarios import RAW_COLUMNS, build_scenario, scenario_tables
from fedqsar.datasets.scenarios.common import group_small_assays, keyed_bucket
from fedqsar.datasets.scenarios.potency import assign_partners, read_sets
from fedqsar.errors import DatasetError
from fedqsar.prep.resolve import resolve

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def admet(shared_data: Path) -> dict[str, pd.DataFrame]:
    return scenario_tables("admet", shared_data)


@pytest.fixture(scope="module")
def potency(shared_data: Path) -> dict[str, pd.DataFrame]:
    return scenario_tables("potency", shared_data)


def test_admet_partners_and_row_counts(admet: dict[str, pd.DataFrame], shared_data: Path) -> None:
    assert set(admet) == {"biogen", "astrazeneca", "chembl_literature", "aqsoldb"}
    biogen_raw = pd.read_csv(shared_data / "biogen_adme/ADME_public_set_3521.csv")
    measured = int(biogen_raw.iloc[:, 4:].notna().sum().sum())  # six endpoint columns
    assert len(admet["biogen"]) == measured
    assert set(admet["biogen"]["endpoint"]) == set(biogen_raw.columns[4:])  # the source's own headers
    assert admet["biogen"]["assay_id"].nunique() == 6
    assert len(admet["astrazeneca"]) == len(pd.read_csv(shared_data / "moleculenet_chemprop/lipo.csv")) == 4200
    assert set(admet["astrazeneca"]["assay_id"]) == {"CHEMBL3301361"}
    aqsol = sum(len(pd.read_csv(shared_data / f"aqsoldb/data/dataset-{s}.csv")) for s in "ABCDEFGHI")
    assert len(admet["aqsoldb"]) == aqsol
    assert admet["aqsoldb"]["assay_id"].nunique() == 9
    for table in admet.values():
        assert list(table.columns) == list(RAW_COLUMNS)
        assert table["value"].notna().all() and (table["smiles"].str.len() > 0).all()


def test_chembl_partner_excludes_the_az_deposit(admet: dict[str, pd.DataFrame], shared_data: Path) -> None:
    logd = pd.read_csv(shared_data / "pharmabench/data/data_processing_result/logd_preprocessing_finished.csv")
    az_rows = int((logd["source"] == "CHEMBL 3301361 AZ").sum())
    assert az_rows == 4132
    lit = admet["chembl_literature"]
    assert not lit["assay_id"].str.contains("3301361").any()
    assert int(lit["endpoint"].str.startswith("logd").sum()) == len(logd) - az_rows
    clearance = lit[lit["endpoint"].str.startswith("microsomal clearance")]
    assert {"CHEMBL_LIT_HLM", "CHEMBL_LIT_RLM", "CHEMBL_LIT_MLM"} <= set(clearance["assay_id"])


def test_chembl_partner_tasks_are_bounded(admet: dict[str, pd.DataFrame]) -> None:
    lit = admet["chembl_literature"]
    kind = lit["endpoint"].str.split(" ").str[0]  # logd / microsomal / ppb / solubility
    per_endpoint = lit.groupby(kind)["assay_id"].nunique()
    assert (per_endpoint.drop("microsomal") <= 8 + 1).all()  # at most 8 own assays + the grouped remainder
    assert per_endpoint["microsomal"] <= 3 * (8 + 1)  # per species
    own = lit[~lit["assay_id"].str.startswith("CHEMBL_LIT_")].groupby("assay_id").size()
    assert (own >= 50).all()


def test_units_are_the_sources_own(admet: dict[str, pd.DataFrame]) -> None:
    units = {p: set(t["unit"]) for p, t in admet.items()}
    assert units["biogen"] == {"log10(mL/min/kg)", "log10(B-A/A-B)", "log10(ug/mL)", "log10(% unbound)"}
    assert units["chembl_literature"] == {"log", "log10(mL.min-1.g-1)", "% bound", "log10(nM)"}
    assert units["aqsoldb"] == {"log10(mol/L)"}


def test_potency_assignment_is_keyed_and_complete(potency: dict[str, pd.DataFrame], shared_data: Path) -> None:
    sets = read_sets(shared_data).drop_duplicates(["assay_chembl_id", "compound_chembl_id", "activity"])
    assert sum(len(t) for t in potency.values()) == len(sets)
    assert set(potency) == {"pharma_a", "pharma_b", "pharma_c", "pharma_d"}
    for table in potency.values():
        assert len(table) > 0.15 * len(sets)  # a keyed hash spreads ~2,800 assays evenly
        assert set(table["endpoint"]) == {"IC50", "Ki"}
        assert table["assay_id"].str.endswith(("_IC50", "_Ki")).all()
    # partners measure the same targets with different assays
    targets = [set(t["assay_id"]) for t in potency.values()]
    assert len(set.intersection(*targets)) >= 60
    again = assign_partners(sets["assay_chembl_id"], b"fedqsar-scenario-v1")
    assert again.tolist() == assign_partners(sets["assay_chembl_id"], b"fedqsar-scenario-v1").tolist()
    other = assign_partners(sets["assay_chembl_id"], b"another salt")
    assert (again != other).mean() > 0.5
    assert keyed_bucket("CHEMBL763200", 4) == keyed_bucket("CHEMBL763200", 4)


def test_build_scenario_writes_subsampled_tables(tmp_path: Path, shared_data: Path) -> None:
    paths = build_scenario("admet", tmp_path / "admet", shared_data, max_compounds=300)
    assert set(paths) == {"biogen", "astrazeneca", "chembl_literature", "aqsoldb"}
    for path in paths.values():
        table = pd.read_csv(path)
        assert list(table.columns) == list(RAW_COLUMNS)
        assert 0 < table["smiles"].nunique() <= 300
    again = build_scenario("admet", tmp_path / "again", shared_data, max_compounds=300)
    assert again["biogen"].read_bytes() == paths["biogen"].read_bytes()


def test_unknown_scenario(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="potency"):
        build_scenario("toxicity", tmp_path)


def test_group_small_assays_unit() -> None:
    table = pd.DataFrame({"endpoint": ["e"] * 7, "assay_id": ["big"] * 4 + ["mid"] * 2 + ["tiny"]})
    out = group_small_assays(table, min_values=2, max_assays_per_endpoint=1, grouped_prefix="G_")
    assert out["assay_id"].tolist() == ["big"] * 4 + ["G_e"] * 3


EXPECTED_ENDPOINTS = {
    "biogen": {"CLint_scaled", "efflux_ratio", "logS", "PPB"},
    "astrazeneca": {"logD7.4"},
    "chembl_literature": {"logD7.4", "CLint_microsomal", "PPB", "logS"},
    "aqsoldb": {"logS"},
    "pharma_a": {"pXC50"},
}


def test_every_scenario_table_resolves_by_meaning(
    admet: dict[str, pd.DataFrame], potency: dict[str, pd.DataFrame]
) -> None:
    """The sources' own words resolve to the registry's endpoints: no question, no reject, no custom."""
    for partner, table in {**admet, **potency}.items():
        semantics = resolve(table)
        assert semantics.questions.empty and semantics.custom.empty, partner
        assert semantics.table["reason"].isna().all(), partner
        if partner in EXPECTED_ENDPOINTS:
            assert set(semantics.table["endpoint"]) == EXPECTED_ENDPOINTS[partner], partner
    biogen = resolve(admet["biogen"]).table.set_index("assay_id")
    assert biogen.loc["BIOGEN_HLM_CLint", "endpoint"] == "CLint_scaled"  # HLM CLint in mL/min/kg: scaled
    assert biogen.loc["BIOGEN_MDR1_ER", "endpoint"] == "efflux_ratio"  # not Papp although "MDCK"


def test_assay_subsampling_keeps_shared_targets(shared_data: Path) -> None:
    tables = scenario_tables("potency", shared_data, max_assays=5)
    kept = [set(t["assay_id"]) for t in tables.values()]
    assert all(len(k) <= 5 for k in kept)
    assert len(set.intersection(*kept)) >= 4  # the same targets survive in every partner
