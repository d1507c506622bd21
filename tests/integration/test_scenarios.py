"""The two consortium scenarios, built from the real public files in ../shared/data."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from fedqsar.datasets.scenarios import RAW_COLUMNS, build_scenario, scenario_tables
from fedqsar.datasets.scenarios import endpoints as E
from fedqsar.datasets.scenarios.common import group_small_assays, keyed_bucket
from fedqsar.datasets.scenarios.potency import assign_partners, read_sets
from fedqsar.errors import DatasetError

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
    assert set(admet["biogen"]["endpoint"]) == {E.CLINT_SCALED, E.EFFLUX, E.SOLUBILITY, E.PPB}
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
    assert int((lit["endpoint"] == E.LOGD).sum()) == len(logd) - az_rows
    assert set(lit["endpoint"]) == {E.LOGD, E.CLINT_MICROSOMAL, E.PPB, E.SOLUBILITY}
    clearance = lit[lit["endpoint"] == E.CLINT_MICROSOMAL]
    assert {"CHEMBL_LIT_HLM", "CHEMBL_LIT_RLM", "CHEMBL_LIT_MLM"} <= set(clearance["assay_id"])


def test_chembl_partner_tasks_are_bounded(admet: dict[str, pd.DataFrame]) -> None:
    lit = admet["chembl_literature"]
    per_endpoint = lit.groupby("endpoint")["assay_id"].nunique()
    assert (per_endpoint.drop(E.CLINT_MICROSOMAL) <= 8 + 1).all()
    assert per_endpoint[E.CLINT_MICROSOMAL] <= 3 * (
        8 + 1
    )  # per species  # at most 8 own assays + the grouped remainder
    own = lit[~lit["assay_id"].str.startswith("CHEMBL_LIT_")].groupby("assay_id").size()
    assert (own >= 50).all()


def test_units_are_the_sources_own(admet: dict[str, pd.DataFrame]) -> None:
    units = {p: set(t["unit"]) for p, t in admet.items()}
    assert units["biogen"] == {E.LOG_ML_MIN_KG, E.LOG_RATIO, E.LOG_UG_ML, E.LOG_PCT_UNBOUND}
    assert units["chembl_literature"] == {E.LOG_UNITLESS, E.LOG_ML_MIN_G, E.PCT_BOUND, E.LOG_NM}
    assert units["aqsoldb"] == {E.LOG_MOL_L}


def test_potency_assignment_is_keyed_and_complete(potency: dict[str, pd.DataFrame], shared_data: Path) -> None:
    sets = read_sets(shared_data).drop_duplicates(["assay_chembl_id", "compound_chembl_id", "activity"])
    assert sum(len(t) for t in potency.values()) == len(sets)
    assert set(potency) == {"pharma_a", "pharma_b", "pharma_c", "pharma_d"}
    for table in potency.values():
        assert len(table) > 0.15 * len(sets)  # a keyed hash spreads ~2,800 assays evenly
        assert set(table["endpoint"]) == {E.POTENCY}
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


def test_every_unit_converts_to_its_endpoint(admet: dict[str, pd.DataFrame], potency: dict[str, pd.DataFrame]) -> None:
    from fedqsar.prep.endpoints import lookup_endpoint
    from fedqsar.prep.units import lookup_unit

    pairs = set()
    for table in [*admet.values(), *potency.values()]:
        pairs |= set(zip(table["endpoint"], table["unit"], strict=True))
    for endpoint_name, unit_name in pairs:
        endpoint, unit = lookup_endpoint(endpoint_name), lookup_unit(unit_name)
        assert endpoint is not None and endpoint.name == endpoint_name, endpoint_name
        assert unit is not None, unit_name
        assert unit.dimension == endpoint.dimension, (endpoint_name, unit_name)


def test_assay_subsampling_keeps_shared_targets(shared_data: Path) -> None:
    tables = scenario_tables("potency", shared_data, max_assays=5)
    kept = [set(t["assay_id"]) for t in tables.values()]
    assert all(len(k) <= 5 for k in kept)
    assert len(set.intersection(*kept)) >= 4  # the same targets survive in every partner
