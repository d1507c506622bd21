"""The header table: real column headers of the shared data sets and what each resolves to.

For every value column ``prepare --wide`` would take from each file (identifiers and
bookkeeping columns left out), the endpoint ``prep.resolve`` gives it from the header alone,
the unit the values are read in and how — or the question prepare stops with. Also the
TDC-style dataset names and the example headers of the issue (a wide ADME export with
units in the headers). Prints a Markdown table (``docs/partner-input.md`` and
``BENCHMARKS.md`` hold a copy) and the time to resolve them all.

Usage::

    .venv/bin/python bench/bench_semantics.py
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from fedqsar.prep import units as U
from fedqsar.prep.readers import read_table
from fedqsar.prep.resolver import Resolution, Resolver
from fedqsar.prep.wide import default_value_columns, unit_from_header

FILES = {  # file -> (SMILES column, id column)
    "biogen_adme/ADME_public_set_3521.csv": ("SMILES", "Internal ID"),
    "moleculenet_chemprop/lipo.csv": ("smiles", None),
    "moleculenet_chemprop/delaney.csv": ("smiles", None),
    "moleculenet_chemprop/freesolv.csv": ("smiles", None),
    "moleculenet_chemprop/bace.csv": ("mol", None),
    "moleculenet_chemprop/bbbp.csv": ("smiles", None),
    "moleculenet_chemprop/clintox.csv": ("smiles", None),
    "moleculenet_chemprop/tox21.csv": ("smiles", None),
    "moleculeace/MoleculeACE/Data/benchmark_data/CHEMBL231_Ki.csv": ("smiles", None),
    "simpd/datasets/chemblKi_SIMPD/CHEMBL313-2.csv": ("canonical_smiles", "compound_chembl_id"),
    "pharmabench/data/final_datasets/ppb_reg_final_data.csv": ("Smiles_unify", None),
    "pharmabench/data/raw_data/logd/LogD_AZ_raw_data.csv": ("smiles", None),
    "pharmabench/data/data_processing_result/cyp_preprocessing_finished.csv": ("Smiles", None),
    "aqsoldb/data/dataset-A.csv": ("SMILES", "ID"),
    "lohi/data/lo/drd2/train_1.csv": ("smiles", None),
}
PKIS2 = "pkis_informers/data/original_data/pkis2/pkis2_download_journal.pone.0181585.s004_wCIDs_NoSaltSmis.csv"
NAMED = {
    "TDC-style names": [
        "Caco2_Wang",
        "Lipophilicity_AstraZeneca",
        "Solubility_AqSolDB",
        "PPBR_AZ",
        "Clearance_Hepatocyte_AZ",
        "Clearance_Microsome_AZ",
        "Half_Life_Obach",
        "HydrationFreeEnergy_FreeSolv",
        "VDss_Lombardo",
        "hERG",
    ],
    "a wide ADME export with units in the headers (issue 11)": [
        "KSOL (uM)",
        "LogD",
        "HLM CLint (mL/min/kg)",
        "MLM CLint (uL/min/mg)",
        "Caco-2 Permeability Papp A>B (10^-6 cm/s)",
        "Caco-2 Permeability Efflux",
        "MPPB (% unbound)",
        "MBPB (% unbound)",
        "MGMB (% unbound)",
        "Brain tissue binding (% unbound)",
        "Muscle tissue binding (% unbound)",
    ],
    "Biogen exported in raw units (long form: assay id, unit)": [
        ("PLASMA PROTEIN BINDING (HUMAN) (% unbound)", "%"),
        ("MDR1-MDCK ER (B-A/A-B)", ""),
        ("SOLUBILITY PH 6.8 (ug/mL)", "ug/mL"),
        ("HLM_CLint (mL/min/kg)", "mL/min/kg"),
    ],
}


def data_dir() -> Path:
    env = os.environ.get("FEDQSAR_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared" / "data"


def describe(res: Resolution) -> tuple[str, str, str]:
    """(endpoint or question, unit the values are read in, how / note)."""
    if res.question is not None:
        options = ", ".join(res.candidates) or "none registered"
        return f"**question: {res.question}** ({options})", "", "stops; asks for an --endpoint-map line"
    how = res.how + (f"; {res.note}" if res.note else "")
    as_written = res.unit_text and U.unit_key(res.unit_text) == res.unit_key
    return f"`{res.endpoint}`", "as written" if as_written else U.canonical_unit_name(res.unit_key), how


def compress(rows: list[tuple[str, str, str, str, str, str]]) -> list[tuple[str, str, str, str, str, str]]:
    """Consecutive unknown columns of one source become one row naming them."""
    out: list[tuple[str, str, str, str, str, str]] = []
    for row in rows:
        last = out[-1] if out else None
        if last and last[0] == row[0] and last[3] == row[3] and "unknown** (none" in row[3]:
            out[-1] = (last[0], f"{last[1]}`, `{row[1]}", "—", last[3], "", last[5])  # inside one `...` span
        else:
            out.append(row)
    return out


def main() -> None:
    data = data_dir()
    resolver = Resolver()
    rows: list[tuple[str, str, str, str, str, str]] = []
    start = time.perf_counter()
    for file, (smiles, ident) in FILES.items():
        table = read_table(data / file)
        for column in default_value_columns(table, {smiles, ident}):
            unit = unit_from_header(column)
            rows.append((file.split("/")[0], column, unit, *describe(resolver.resolve(column, "", unit))))
    pkis = read_table(data / PKIS2)
    kinases = default_value_columns(pkis, {"Smiles", "smiles_nosalt", "Compound"})
    outcomes = {describe(resolver.resolve(c, "", unit_from_header(c)))[0] for c in kinases}
    rows.append(
        ("pkis_informers", f"{len(kinases)} kinase columns (AAK1, ABL1, ...)", "", " / ".join(outcomes), "", "")
    )
    for source, names in NAMED.items():
        for name in names:
            assay, unit = name if isinstance(name, tuple) else (name, unit_from_header(name))
            rows.append((source, assay, unit, *describe(resolver.resolve(assay, "", unit))))
    seconds = time.perf_counter() - start
    print("| source | column header / assay id | unit (header) | resolves to | values read in | how |")
    print("|---|---|---|---|---|---|")
    for source, column, unit, endpoint, read_as, how in compress(rows):
        print(f"| {source} | `{column}` | {unit or '—'} | {endpoint} | {read_as} | {how} |")
    print(f"\n{len(rows)} rows ({len(kinases)} PKIS2 columns in one), read and resolved in {seconds:.2f} s")


if __name__ == "__main__":
    main()
