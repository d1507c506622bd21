"""ADMET consortium: four real, different data owners measuring overlapping endpoints.

Partners and what each contributes (values and units exactly as published):

- ``biogen`` — Biogen ADME public set (Fang et al. 2023): HLM/RLM CLint (log mL/min/kg),
  MDR1-MDCK efflux ratio (log), solubility at pH 6.8 (log ug/mL), human/rat PPB
  (log % unbound). One assay per endpoint.
- ``astrazeneca`` — AstraZeneca's ChEMBL deposit CHEMBL3301361, logD7.4 (MoleculeNet
  Lipophilicity as shipped by chemprop).
- ``chembl_literature`` — PharmaBench per-assay ChEMBL values for logD7.4, microsomal
  clearance (human/rat/mouse, log mL/min/g), human PPB (% bound) and solubility
  (ChEMBL-sourced rows only, log nM). The AstraZeneca deposit (``CHEMBL 3301361 AZ``) is
  excluded: it is the ``astrazeneca`` partner's own data.
- ``aqsoldb`` — AqSolDB's nine source datasets A–I, logS (log mol/L), one assay per source.

Each table says what its values are in the source's own words — the ``endpoint`` cell is
the source's column header or property description, the ``unit`` its unit as written — and
``prepare`` resolves the endpoint and converts the unit (``fedqsar.prep.resolve``), as it
would for a company's export: nothing here knows the endpoint registry.

Task bounding (``chembl_literature`` only): an assay with at least ``MIN_ASSAY_VALUES``
values that is among the ``MAX_ASSAYS_PER_ENDPOINT`` largest of its endpoint (clearance:
of its species) stays its own task; the rest become one task ``CHEMBL_LIT_<endpoint>``
(``CHEMBL_LIT_HLM`` / ``_RLM`` / ``_MLM`` for clearance).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from fedqsar.datasets.fetch import fetch
from fedqsar.datasets.scenarios.common import group_small_assays

Sample = Callable[[pd.DataFrame], pd.DataFrame]
MIN_ASSAY_VALUES = 50
MAX_ASSAYS_PER_ENDPOINT = 8
AZ_DEPOSIT = ("CHEMBL 3301361 AZ", "CHEMBL3301361")

BIOGEN_FILE = "biogen_adme/ADME_public_set_3521.csv"
AZ_FILE = "moleculenet_chemprop/lipo.csv"
PHARMABENCH = "pharmabench/data/data_processing_result/{}_preprocessing_finished.csv"
AQSOLDB_FILE = "aqsoldb/data/dataset-{}.csv"
AQSOLDB_SOURCES = tuple("ABCDEFGHI")

BIOGEN_COLUMNS = {  # source column (also the endpoint text) -> (assay, unit as written)
    "LOG HLM_CLint (mL/min/kg)": ("BIOGEN_HLM_CLint", "log10(mL/min/kg)"),
    "LOG RLM_CLint (mL/min/kg)": ("BIOGEN_RLM_CLint", "log10(mL/min/kg)"),
    "LOG MDR1-MDCK ER (B-A/A-B)": ("BIOGEN_MDR1_ER", "log10(B-A/A-B)"),
    "LOG SOLUBILITY PH 6.8 (ug/mL)": ("BIOGEN_solubility_pH6.8", "log10(ug/mL)"),
    "LOG PLASMA PROTEIN BINDING (HUMAN) (% unbound)": ("BIOGEN_hPPB", "log10(% unbound)"),
    "LOG PLASMA PROTEIN BINDING (RAT) (% unbound)": ("BIOGEN_rPPB", "log10(% unbound)"),
}
AZ_DESCRIPTION = "Lipophilicity: octanol/water distribution coefficient (logD at pH 7.4)"  # MoleculeNet's
#: species -> label of the grouped literature clearance task (species stays in the assay id
#: so that human and rat are never one task)
CLEARANCE_SPECIES = {"human": "HLM", "rat": "RLM", "mouse": "MLM"}
#: labels of the grouped literature tasks ``CHEMBL_LIT_<label>`` (task names, not endpoints)
GROUP_LABELS = {"logd": "logD7.4", "ppb": "PPB", "solubility": "logS"}


def _rows(
    compound_id: pd.Series, smiles: pd.Series, assay_id: object, value: pd.Series, unit: object, endpoint: object
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "compound_id": compound_id.astype(str).to_numpy(),
            "smiles": smiles.astype(str).to_numpy(),
            "assay_id": assay_id if isinstance(assay_id, str) else pd.Series(assay_id).astype(str).to_numpy(),
            "value": pd.to_numeric(value, errors="coerce").to_numpy(),
            "unit": unit if isinstance(unit, str) else pd.Series(unit).to_numpy(),
            "qualifier": "=",
            "endpoint": endpoint if isinstance(endpoint, str) else pd.Series(endpoint).to_numpy(),
            "date": "",
        }
    )


def structure_id(smiles: pd.Series, prefix: str) -> pd.Series:
    """Stable compound id from the SMILES text (sources without their own ids)."""
    return smiles.astype(str).map(lambda s: prefix + hashlib.sha1(s.encode("utf-8")).hexdigest()[:12])


def biogen(data_dir: Path | None) -> pd.DataFrame:
    """Biogen's six endpoints, long form (one row per measured compound and endpoint)."""
    raw = pd.read_csv(fetch(BIOGEN_FILE, data_dir))
    parts = []
    for column, (assay, unit) in BIOGEN_COLUMNS.items():
        measured = raw[raw[column].notna()]
        parts.append(_rows(measured["Internal ID"], measured["SMILES"], assay, measured[column], unit, column))
    return pd.concat(parts, ignore_index=True)


def astrazeneca(data_dir: Path | None) -> pd.DataFrame:
    """AstraZeneca's logD7.4 deposit (CHEMBL3301361)."""
    raw = pd.read_csv(fetch(AZ_FILE, data_dir))
    ids = pd.Series([f"AZ{i:05d}" for i in range(len(raw))])
    return _rows(ids, raw["smiles"], "CHEMBL3301361", raw["lipo"], "log", AZ_DESCRIPTION)


def chembl_literature(data_dir: Path | None, sample: Sample = lambda table: table) -> pd.DataFrame:
    """PharmaBench ChEMBL assays for logD, microsomal CL, PPB and solubility (AZ deposit excluded).

    ``sample`` (subsampling for quick runs) is applied before small assays are grouped, so
    that a subsample never leaves a crowd of tiny per-assay tasks.
    """
    parts = [
        _literature_logd(data_dir),
        _literature_clearance(data_dir),
        _literature_ppb(data_dir),
        _literature_solubility(data_dir),
    ]
    table = sample(pd.concat(parts, ignore_index=True))
    grouped = group_small_assays(table, MIN_ASSAY_VALUES, MAX_ASSAYS_PER_ENDPOINT, "CHEMBL_LIT_", by="group")
    return grouped.drop(columns="group")


def _pharmabench(kind: str, data_dir: Path | None) -> pd.DataFrame:
    return pd.read_csv(fetch(PHARMABENCH.format(kind), data_dir))


def _literature_logd(data_dir: Path | None) -> pd.DataFrame:
    raw = _pharmabench("logd", data_dir)
    raw = raw[~raw["source"].astype(str).isin(AZ_DEPOSIT)]
    described = raw["property"].astype(str) + " pH " + raw["ph"].astype(str)  # "logd pH 7.4"
    rows = _rows(structure_id(raw["Smiles"], "LIT"), raw["Smiles"], raw["source"], raw["value"], "log", described)
    return rows.assign(group=GROUP_LABELS["logd"])


def _literature_clearance(data_dir: Path | None) -> pd.DataFrame:
    raw = _pharmabench("microsomal_cl", data_dir)
    raw = raw[raw["species"].isin(list(CLEARANCE_SPECIES))]
    n_species = raw.groupby("source")["species"].transform("nunique")
    assay = raw["source"].astype(str).where(n_species == 1, raw["source"].astype(str) + ":" + raw["species"])
    described = "microsomal clearance (" + raw["species"].astype(str) + ")"
    rows = _rows(structure_id(raw["Smiles"], "LIT"), raw["Smiles"], assay, raw["value"], raw["unit"], described)
    return rows.assign(group=raw["species"].map(CLEARANCE_SPECIES).to_numpy())


def _literature_ppb(data_dir: Path | None) -> pd.DataFrame:
    raw = _pharmabench("ppb", data_dir)
    raw = raw[raw["spec"].astype(str).str.contains("Human", case=False)]
    described = raw["property"].astype(str) + " (" + raw["spec"].astype(str) + ")"  # "ppb (Human Plasma)"
    rows = _rows(structure_id(raw["Smiles"], "LIT"), raw["Smiles"], raw["source"], raw["value"], "% bound", described)
    return rows.assign(group=GROUP_LABELS["ppb"])


def _literature_solubility(data_dir: Path | None) -> pd.DataFrame:
    raw = _pharmabench("solubility", data_dir)
    raw = raw[(raw["source"] == "ChEMBL") & raw["ref"].astype(str).str.startswith("CHEMBL")]
    rows = _rows(
        structure_id(raw["Smiles"], "LIT"), raw["Smiles"], raw["ref"], raw["value_nM_log"], "log10(nM)", raw["property"]
    )
    return rows.assign(group=GROUP_LABELS["solubility"])


def aqsoldb(data_dir: Path | None) -> pd.DataFrame:
    """AqSolDB's source datasets A–I (logS), one assay per source."""
    parts = []
    for source in AQSOLDB_SOURCES:
        raw = pd.read_csv(fetch(AQSOLDB_FILE.format(source), data_dir))
        parts.append(
            _rows(raw["ID"], raw["SMILES"], f"AqSolDB-{source}", raw["Solubility"], "log10(mol/L)", "Solubility")
        )
    return pd.concat(parts, ignore_index=True)


PARTNERS = {"biogen": biogen, "astrazeneca": astrazeneca, "aqsoldb": aqsoldb}


def build(data_dir: Path | None, salt: bytes, sample: Sample = lambda table: table) -> dict[str, pd.DataFrame]:
    """Raw tables of the four ADMET partners, each passed through ``sample``.

    ``salt`` is unused: the partners are the real data owners, nothing is dealt.
    """
    del salt
    tables = {name: sample(reader(data_dir)) for name, reader in PARTNERS.items()}
    tables["chembl_literature"] = chembl_literature(data_dir, sample)
    return {name: tables[name] for name in ("biogen", "astrazeneca", "chembl_literature", "aqsoldb")}
