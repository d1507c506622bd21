"""Data semantics on the real shared data: every real column header resolves to the right
endpoint or is a question, and Biogen exported in raw units prepares and trains like the
curated log-unit file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from fedqsar.cli.main import app
from fedqsar.prep.consistency import range_check
from fedqsar.prep.keys import ConsortiumKey, save_key
from fedqsar.prep.pipeline import prepare
from fedqsar.prep.readers import read_table
from fedqsar.prep.resolver import AMBIGUOUS, UNIT_NEEDED, UNKNOWN, Resolver
from fedqsar.prep.wide import default_value_columns, unit_from_header, wide_to_long
from fedqsar.prepared import PreparedSet

pytestmark = pytest.mark.integration

KEY = ConsortiumKey(bytes(range(7, 39)))
BIOGEN = "biogen_adme/ADME_public_set_3521.csv"

# file -> (SMILES column, id column, {value column: endpoint, or "?<question>"})
HEADERS: dict[str, tuple[str, str | None, dict[str, str]]] = {
    BIOGEN: (
        "SMILES",
        "Internal ID",
        {
            "LOG HLM_CLint (mL/min/kg)": "CLint_scaled",
            "LOG RLM_CLint (mL/min/kg)": "CLint_scaled",
            "LOG MDR1-MDCK ER (B-A/A-B)": "efflux_ratio",
            "LOG SOLUBILITY PH 6.8 (ug/mL)": "logS",
            "LOG PLASMA PROTEIN BINDING (HUMAN) (% unbound)": "PPB",
            "LOG PLASMA PROTEIN BINDING (RAT) (% unbound)": "PPB",
        },
    ),
    "moleculenet_chemprop/lipo.csv": ("smiles", None, {"lipo": "logD7.4"}),
    "moleculenet_chemprop/delaney.csv": ("smiles", None, {"logp": "logP"}),  # caught by the range check below
    "moleculenet_chemprop/freesolv.csv": ("smiles", None, {"freesolv": f"?{UNKNOWN}"}),
    "moleculenet_chemprop/bace.csv": ("mol", None, {"Class": "label"}),
    "moleculenet_chemprop/bbbp.csv": ("smiles", None, {"p_np": f"?{UNKNOWN}"}),
    "moleculenet_chemprop/tox21.csv": ("smiles", None, {"NR-AR": f"?{UNKNOWN}", "NR-ER": f"?{UNKNOWN}"}),
    "moleculeace/MoleculeACE/Data/benchmark_data/CHEMBL231_Ki.csv": (
        "smiles",
        None,
        {"exp_mean [nM]": f"?{UNKNOWN}", "y": f"?{UNKNOWN}", "cliff_mol": f"?{UNKNOWN}", "y [pEC50/pKi]": "pXC50"},
    ),
    "simpd/datasets/chemblKi_SIMPD/CHEMBL313-2.csv": (
        "canonical_smiles",
        "compound_chembl_id",
        {"pchembl_value": "pXC50", "active": f"?{UNKNOWN}"},
    ),
    "pharmabench/data/final_datasets/ppb_reg_final_data.csv": ("Smiles_unify", None, {"value": f"?{UNKNOWN}"}),
    "pharmabench/data/raw_data/logd/LogD_AZ_raw_data.csv": (
        "smiles",
        None,
        {"AZ_LogD7.4": "logD7.4", "SLogD": "logD7.4"},
    ),
    "aqsoldb/data/dataset-A.csv": ("SMILES", "ID", {"Solubility": f"?{UNIT_NEEDED}", "Prediction": f"?{UNKNOWN}"}),
    "lohi/data/lo/drd2/train_1.csv": ("smiles", None, {"value": f"?{UNKNOWN}"}),
}


def _resolved(name: str) -> str:
    res = Resolver().resolve(name, "", unit_from_header(name))
    return res.endpoint if res.question is None else f"?{res.question}"


@pytest.mark.parametrize("file", sorted(HEADERS))
def test_real_headers_resolve_or_ask(shared_data: Path, file: str) -> None:
    smiles, ident, expected = HEADERS[file]
    table = read_table(shared_data / file)
    columns = default_value_columns(table, {smiles, ident})
    assert set(expected) <= set(columns)  # identifiers (Vendor ID, index, cluster) are not assays
    got = {column: _resolved(column) for column in columns}
    assert {c: got[c] for c in expected} == expected


def test_no_pkis2_kinase_column_is_taken_for_an_endpoint(shared_data: Path) -> None:
    path = next((shared_data / "pkis_informers").rglob("pkis2_download_*.csv"))
    table = read_table(path)
    columns = default_value_columns(table, {"Smiles", "smiles_nosalt", "Compound"})
    assert len(columns) > 400  # % inhibition at 1 uM per kinase; the headers only name kinases
    assert {_resolved(c) for c in columns} == {f"?{UNKNOWN}"}


def test_the_logp_column_holding_log_solubility_is_flagged_by_its_range(shared_data: Path) -> None:
    """MoleculeNet's delaney 'logp' is log solubility: the name cannot tell, the values do."""
    values = pd.read_csv(shared_data / "moleculenet_chemprop/delaney.csv")["logp"].to_numpy()
    check = range_check("logP", values)
    assert check is not None and check.warn and check.share_below > 0.3
    assert not range_check("logS", values).warn  # type: ignore[union-attr]


def test_tdc_style_names_resolve_or_ask() -> None:
    names = {
        "Lipophilicity_AstraZeneca": "logD7.4",
        "Solubility_AqSolDB": f"?{UNIT_NEEDED}",
        "Caco2_Wang": f"?{UNIT_NEEDED}",
        "PPBR_AZ": f"?{UNIT_NEEDED}",
        "Clearance_Hepatocyte_AZ": f"?{AMBIGUOUS}",
        "Clearance_Microsome_AZ": f"?{AMBIGUOUS}",
        "Half_Life_Obach": f"?{UNIT_NEEDED}",
        "HydrationFreeEnergy_FreeSolv": f"?{UNKNOWN}",
        "VDss_Lombardo": f"?{UNKNOWN}",
        "hERG": f"?{UNKNOWN}",
    }
    assert {name: _resolved(name) for name in names} == names


# --- Biogen in raw units ---------------------------------------------------------------------------
RAW_UNITS = {  # curated header -> (assay id of the raw export, unit as a company writes it)
    "LOG HLM_CLint (mL/min/kg)": ("HLM_CLint (mL/min/kg)", "mL/min/kg"),
    "LOG MDR1-MDCK ER (B-A/A-B)": ("MDR1-MDCK ER (B-A/A-B)", ""),
    "LOG PLASMA PROTEIN BINDING (HUMAN) (% unbound)": ("PLASMA PROTEIN BINDING (HUMAN) (% unbound)", "%"),
    "LOG PLASMA PROTEIN BINDING (RAT) (% unbound)": ("PLASMA PROTEIN BINDING (RAT) (% unbound)", "%"),
    "LOG RLM_CLint (mL/min/kg)": ("RLM_CLint (mL/min/kg)", "mL/min/kg"),
    "LOG SOLUBILITY PH 6.8 (ug/mL)": ("SOLUBILITY PH 6.8 (ug/mL)", "ug/mL"),
}
N_COMPOUNDS = 700


def raw_unit_export(curated: pd.DataFrame) -> pd.DataFrame:
    """Biogen's table as a company would export it: linear values, plain unit strings, no endpoint."""
    parts = []
    for column, (assay, unit) in RAW_UNITS.items():
        measured = curated[curated[column].notna()]
        parts.append(
            pd.DataFrame(
                {
                    "compound_id": measured["Internal ID"],
                    "smiles": measured["SMILES"],
                    "assay_id": assay,
                    "value": 10.0 ** measured[column].astype(float),
                    "unit": unit,
                    "qualifier": "",
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


@pytest.fixture(scope="module")
def biogen_pair(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("biogen_units")
    curated = pd.read_csv(shared_data / BIOGEN).head(N_COMPOUNDS)
    wide = root / "curated.csv"
    curated.to_csv(wide, index=False)
    long_curated = root / "curated_long.parquet"
    wide_to_long(wide, smiles_column="SMILES", id_column="Internal ID").to_parquet(long_curated)
    raw = root / "raw_units.csv"
    raw_unit_export(curated).to_csv(raw, index=False)
    prepare(long_curated, root / "curated", KEY, n_jobs=2)
    prepare(raw, root / "raw", KEY, n_jobs=2)
    return root / "curated", root / "raw"


def test_raw_unit_export_prepares_into_the_same_endpoints_scales_and_tasks(biogen_pair: tuple[Path, Path]) -> None:
    curated, raw = (PreparedSet.load(p) for p in biogen_pair)
    columns = ["endpoint", "kind", "unit", "threshold", "n_observed", "n_positive", "n_censored", "passes_quorum"]
    assert curated.tasks[columns].equals(raw.tasks[columns])
    assert set(raw.tasks["endpoint"]) == {"CLint_scaled", "efflux_ratio", "logS", "PPB"}
    assert set(raw.tasks.query("kind == 'regression'")["unit"]) == {
        "log10(mL/min/kg)",
        "log10(ratio)",
        "log10(M)",
        "log10(fu)",
    }
    order_c, order_r = (np.argsort(p.compounds["compound_id"].to_numpy()) for p in (curated, raw))
    ids = curated.compounds["compound_id"].to_numpy()[order_c]
    assert ids.tolist() == raw.compounds["compound_id"].to_numpy()[order_r].tolist()
    assert np.allclose(curated.Y[order_c].toarray(), raw.Y[order_r].toarray(), atol=1e-9)
    assert (curated.censor[order_c] != raw.censor[order_r]).nnz == 0
    assert curated.accounting == raw.accounting
    notes = {n["note"] for n in raw.manifest["semantics"]["notes"]}
    assert {"'%' read as % unbound", "no unit: read as ratio"} <= notes


def test_raw_unit_export_trains_to_the_same_validation_rmse(biogen_pair: tuple[Path, Path], tmp_path: Path) -> None:
    rmse = {}
    for name, folder in zip(("curated", "raw"), biogen_pair, strict=True):
        out = tmp_path / name
        result = CliRunner().invoke(
            app, ["train", "--data", str(folder), "--out", str(out), "--epochs", "6", "--hidden", "128", "--seed", "3"]
        )
        assert result.exit_code == 0, result.output
        metrics = pd.read_csv(out / "metrics.csv")
        tasks = pd.read_parquet(folder / "tasks.parquet").set_index("task_name")["endpoint"]
        table = metrics[metrics["metric"] == "rmse"].assign(endpoint=metrics["task"].map(tasks))
        rmse[name] = table.groupby("endpoint")["value"].mean()
    assert list(rmse["curated"].index) == ["CLint_scaled", "PPB", "efflux_ratio", "logS"]
    assert np.allclose(rmse["curated"], rmse["raw"], atol=0.01), (rmse["curated"], rmse["raw"])


def test_prepare_cli_on_the_raw_export_needs_no_endpoint_map(shared_data: Path, tmp_path: Path) -> None:
    raw = tmp_path / "raw.csv"
    raw_unit_export(pd.read_csv(shared_data / BIOGEN).head(60)).to_csv(raw, index=False)
    save_key(KEY, tmp_path / "k.key")
    result = CliRunner().invoke(
        app, ["prepare", "--input", str(raw), "--out", str(tmp_path / "p"), "--key", str(tmp_path / "k.key"), "-q"]
    )
    assert result.exit_code == 0, result.output
    assert "PPB" in result.output and "'%' read as % unbound" in result.output and "inhibition_pct" not in result.output
