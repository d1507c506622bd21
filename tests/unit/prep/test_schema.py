"""Partner input schemas: long CSV/Parquet/SDF, TUNER T0/T1/T2 and the legacy T2/T3/T4 set."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fedqsar.errors import InputFileError, InputSchemaError
from fedqsar.prep import schema
from fedqsar.prep.schema import ACTIVITY_COLUMNS, read_partner_input

LONG_HEADER = "compound_id,smiles,assay_id,value,unit,qualifier,endpoint,date\n"


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def test_long_csv_gives_canonical_columns_and_raw_values(tmp_path: Path) -> None:
    path = write(tmp_path / "acts.csv", LONG_HEADER + "c1,CCO,A1,10,nM,=,pXC50,2020-01-01\nc2,CCN,A1,n.d.,nM,,,\n")
    raw = read_partner_input(path)
    acts = raw.activities
    assert raw.source_format == "long"
    assert tuple(acts.columns) == ACTIVITY_COLUMNS
    assert acts["input_row"].tolist() == [0, 1]
    assert acts["value"].tolist() == ["10", "n.d."]  # raw: parsing belongs to the values stage
    assert acts.loc[1, "qualifier"] is None and acts.loc[1, "endpoint"] is None
    assert acts["source"].unique().tolist() == ["acts.csv"]
    assert raw.assays["assay_id"].tolist() == ["A1"]
    assert raw.assays.loc[0, "endpoint"] == "pXC50"


def test_optional_columns_may_be_absent_and_headers_are_case_and_bom_insensitive(tmp_path: Path) -> None:
    path = write(tmp_path / "acts.csv", "\ufeffCompound_ID, SMILES ,Assay_Id,Value,Unit,Qualifier\nc1,CCO,A,1,uM,<\n")
    acts = read_partner_input(path).activities
    assert acts.loc[0, "compound_id"] == "c1" and acts.loc[0, "smiles"] == "CCO"
    assert acts.loc[0, "endpoint"] is None and acts.loc[0, "date"] is None


@pytest.mark.parametrize("drop", ["compound_id", "smiles", "assay_id", "value", "unit", "qualifier"])
def test_missing_column_names_expected_columns(tmp_path: Path, drop: str) -> None:
    cols = ["compound_id", "smiles", "assay_id", "value", "unit", "qualifier"]
    kept = [c for c in cols if c != drop]
    path = write(tmp_path / "acts.csv", ",".join(kept) + "\n" + ",".join("x" for _ in kept) + "\n")
    with pytest.raises(InputSchemaError) as err:
        read_partner_input(path)
    message = str(err.value)
    assert f"missing column(s) ['{drop}']" in message
    for col in cols:
        assert col in message  # the expected columns are all named


def test_misnamed_column_gets_a_hint_and_rename_fixes_it(tmp_path: Path) -> None:
    path = write(tmp_path / "acts.csv", "compound_id,smile,assay_id,value,unit,qualifier\nc1,CCO,A,1,nM,=\n")
    with pytest.raises(InputSchemaError, match="did you mean"):
        read_partner_input(path)
    raw = read_partner_input(path, rename={"smile": "smiles"})
    assert raw.activities.loc[0, "smiles"] == "CCO"
    with pytest.raises(InputSchemaError, match="does not have"):
        read_partner_input(path, rename={"nope": "smiles"})


def test_empty_file_stops_with_clear_error(tmp_path: Path) -> None:
    path = write(tmp_path / "empty.csv", "")
    with pytest.raises(InputFileError, match="empty"):
        read_partner_input(path)


def test_header_only_file_stops(tmp_path: Path) -> None:
    path = write(tmp_path / "head.csv", LONG_HEADER)
    with pytest.raises(InputFileError, match="no data rows"):
        read_partner_input(path)


def test_wrong_encoding_stops_and_says_utf8(tmp_path: Path) -> None:
    path = write(tmp_path / "latin.csv", LONG_HEADER + "cé1,CCO,A,1,µM,=,,\n", encoding="latin-1")
    with pytest.raises(InputFileError, match="UTF-8") as err:
        read_partner_input(path)
    assert "re-save" in err.value.fix


def test_missing_and_unreadable_files_stop(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="does not exist"):
        read_partner_input(tmp_path / "nope.csv")
    bad_parquet = write(tmp_path / "bad.parquet", "this is not parquet")
    with pytest.raises(InputFileError, match="not a readable Parquet"):
        read_partner_input(bad_parquet)
    bad_gz = write(tmp_path / "bad.csv.gz", "not gzip at all")
    with pytest.raises(InputFileError, match="gzip"):
        read_partner_input(bad_gz)
    with pytest.raises(InputFileError, match="unsupported file type"):
        read_partner_input(write(tmp_path / "acts.xlsx", "x"))


def test_gzip_csv_and_parquet_are_read(tmp_path: Path) -> None:
    text = LONG_HEADER + "c1,CCO,A,1,nM,=,,\n"
    gz = tmp_path / "acts.csv.gz"
    gz.write_bytes(gzip.compress(text.encode()))
    assert read_partner_input(gz).activities.loc[0, "compound_id"] == "c1"
    frame = pd.DataFrame(
        {
            "compound_id": ["c1", "c2"],
            "smiles": ["CCO", "CCC"],
            "assay_id": ["A", "A"],
            "value": [1.5, np.nan],
            "unit": ["uM", "uM"],
            "qualifier": ["=", "="],
        }
    )
    frame.to_parquet(tmp_path / "acts.parquet")
    acts = read_partner_input(tmp_path / "acts.parquet").activities
    assert acts["value"].iloc[0] == 1.5 and acts["value"].iloc[1] is None


def test_malformed_line_is_kept_as_a_rejectable_row(tmp_path: Path) -> None:
    path = write(
        tmp_path / "acts.csv",
        "compound_id,smiles,assay_id,value,unit,qualifier\n"
        "c1,CCO,A,1,nM,=\nc2,CCN,A,2,nM,=,extra,fields\nc3,CCC,A,3,nM,=\n",
    )
    acts = read_partner_input(path).activities
    assert len(acts) == 3  # no line lost
    assert acts["reject_reason"].tolist().count(schema.MALFORMED_ROW) == 1
    rejects = schema.pre_rejects(acts)
    assert rejects["reason"].tolist() == [schema.MALFORMED_ROW]


def test_missing_smiles_is_flagged_not_dropped(tmp_path: Path) -> None:
    path = write(tmp_path / "acts.csv", LONG_HEADER + "c1,,A,1,nM,=,,\nc2,CCO,A,1,nM,=,,\n")
    acts = read_partner_input(path).activities
    assert acts["reject_reason"].tolist() == ["missing_structure", None]


def test_sdf_with_properties(tmp_path: Path) -> None:
    from rdkit import Chem

    path = tmp_path / "acts.sdf"
    writer = Chem.SDWriter(str(path))
    for name, smi, value in (("mol-a", "CCO", "5.10"), ("mol-b", "c1ccccc1", "<4")):
        mol = Chem.MolFromSmiles(smi)
        mol.SetProp("_Name", name)
        for key, val in (
            ("assay_id", "A7"),
            ("value", value),
            ("unit", "pIC50"),
            ("qualifier", "="),
            ("endpoint", "pXC50"),
        ):
            mol.SetProp(key, val)
        writer.write(mol)
    writer.close()
    broken = "broken\n  nothing\n\n  2  1  0  0  0  0  0  0  0  0999 V2000\nM  END\n$$$$\n"
    path.write_text(path.read_text() + broken)
    raw = read_partner_input(path)
    acts = raw.activities
    assert len(acts) == 3
    assert acts["compound_id"].tolist()[:2] == ["mol-a", "mol-b"]  # title line as compound id
    assert acts["smiles"].tolist()[:2] == ["CCO", "c1ccccc1"]
    assert acts["value"].tolist()[:2] == ["5.10", "<4"]  # properties as written, not re-typed
    assert acts["unit"].tolist()[:2] == ["pIC50", "pIC50"]
    assert acts.loc[2, "reject_reason"] == schema.UNPARSABLE_MOLBLOCK


def write_tuner(folder: Path) -> Path:
    folder.mkdir()
    write(
        folder / "T0.csv",
        "input_assay_id,assay_type,use_in_regression,expert_threshold_1,expert_threshold_2,"
        "expert_threshold_3,expert_threshold_4,expert_threshold_5,direction,is_binary\n"
        "10,OTHER,True,6.5,5.5,,,,high,False\n11,ADME,False,,,,,,low,False\n12,AUX_HTS,False,,,,,,,True\n",
    )
    write(
        folder / "T1.csv",
        "input_compound_id,input_assay_id,standard_qualifier,standard_value\n"
        "1,10,=,7.1\n2,10,<,5\n1,11,>,3\n3,12,,1\n9,10,=,6\n",
    )
    write(folder / "T2.csv", "input_compound_id,smiles\n1,CCO\n2,CCN\n3,CCC\n")
    return folder


def test_tuner_folder_t0_t1_t2(tmp_path: Path) -> None:
    raw = read_partner_input(write_tuner(tmp_path / "tuner"))
    acts, assays = raw.activities, raw.assays.set_index("assay_id")
    assert raw.source_format == "tuner"
    assert acts["value"].tolist() == ["7.1", "5", "3", "1", "6"]
    assert acts["unit"].tolist() == [None, None, None, "label", None]  # binary assays -> label
    assert acts["endpoint"].tolist()[3] == "label"
    assert acts["qualifier"].tolist() == ["=", "<", ">", None, "="]
    assert acts["smiles"].tolist() == ["CCO", "CCN", "CCO", "CCC", None]
    assert acts["reject_reason"].tolist() == [None, None, None, None, "missing_structure"]
    assert assays.loc["10", "thresholds"] == (5.5, 6.5)
    assert assays.loc["11", "direction"] == "low" and not assays.loc["11", "use_in_regression"]
    assert assays.loc["12", "is_binary"] and not assays.loc["12", "use_in_regression"]


def test_tuner_explicit_paths_any_order(tmp_path: Path) -> None:
    folder = write_tuner(tmp_path / "tuner")
    raw = read_partner_input([folder / "T2.csv", folder / "T1.csv", folder / "T0.csv"])
    assert raw.source_format == "tuner" and len(raw.activities) == 5


def test_tuner_incomplete_set_names_expected_columns(tmp_path: Path) -> None:
    folder = write_tuner(tmp_path / "tuner")
    with pytest.raises(InputSchemaError) as err:
        read_partner_input([folder / "T1.csv", folder / "T2.csv"])
    assert "input_assay_id" in str(err.value) and "T0" in str(err.value)


def test_tuner_table_with_wrong_columns_is_named(tmp_path: Path) -> None:
    folder = write_tuner(tmp_path / "tuner")
    write(folder / "T1.csv", "input_compound_id,input_assay_id,qualifier,value\n1,10,=,7\n")
    with pytest.raises(InputSchemaError) as err:
        read_partner_input(folder)
    assert "T1.csv" in str(err.value) and "standard_value" in str(err.value)


def test_ambiguous_compound_id_is_flagged(tmp_path: Path) -> None:
    folder = write_tuner(tmp_path / "tuner")
    write(folder / "T2.csv", "input_compound_id,smiles\n1,CCO\n1,CCCl\n2,CCN\n3,CCC\n")
    acts = read_partner_input(folder).activities
    assert acts["reject_reason"].tolist()[:3] == [schema.AMBIGUOUS_STRUCTURE, None, schema.AMBIGUOUS_STRUCTURE]


def test_legacy_tuner_example_with_bom(shared_data: Path) -> None:
    folder = shared_data / "ci" / "melloddy_tuner" / "unit_test" / "input" / "chembl"
    raw = read_partner_input(folder)
    acts = raw.activities
    t4 = pd.read_csv(folder / "chembl_23_example_T4.csv")
    assert raw.source_format == "tuner_legacy"
    assert len(acts) == len(t4) == 3085
    assert set(acts["value"]) == {"0", "1"} and set(acts["unit"]) == {"label"}
    assert sorted(raw.assays["assay_id"]) == ["CHEMBL235", "CHEMBL2954"]  # BOM stripped from T3's first column
    assert raw.assays["thresholds"].tolist() == [(6.5,), (6.5,)]
    assert acts["smiles"].notna().all()


def test_thresholds_file_overrides_assay_metadata(tmp_path: Path) -> None:
    path = write(tmp_path / "acts.csv", LONG_HEADER + "c1,CCO,A,1,nM,=,,\nc1,CCO,B,1,nM,=,,\n")
    thresholds = write(
        tmp_path / "thr.csv", "assay_id,thresholds,direction,weight,endpoint\nA,6;7.5,low,0.5,pXC50\nZ,5,,,\n"
    )
    assays = read_partner_input(path, thresholds=thresholds).assays.set_index("assay_id")
    assert assays.loc["A", "thresholds"] == (6.0, 7.5)
    assert assays.loc["A", "direction"] == "low" and assays.loc["A", "weight"] == 0.5
    assert assays.loc["B", "thresholds"] == ()
    assert assays.loc["Z", "thresholds"] == (5.0,)


def test_thresholds_file_errors(tmp_path: Path) -> None:
    bad = write(tmp_path / "thr.csv", "assay,thresholds\nA,6\n")
    with pytest.raises(InputSchemaError, match="assay_id"):
        schema.read_thresholds(bad)
    words = write(tmp_path / "thr2.csv", "assay_id,thresholds\nA,six\n")
    with pytest.raises(InputSchemaError, match="not numbers"):
        schema.read_thresholds(words)
    direction = write(tmp_path / "thr3.csv", "assay_id,thresholds,direction\nA,6,up\n")
    with pytest.raises(InputSchemaError, match="direction"):
        schema.read_thresholds(direction)


def test_thresholds_toml(tmp_path: Path) -> None:
    path = write(
        tmp_path / "thr.toml",
        '[A]\nthresholds = [7.5, 6]\ndirection = "low"\nweight = 2\n\n["CHEMBL 1"]\nthresholds = 5\n',
    )
    table = schema.read_thresholds(path).set_index("assay_id")
    assert table.loc["A", "thresholds"] == (6.0, 7.5) and table.loc["A", "direction"] == "low"
    assert table.loc["A", "weight"] == 2.0 and table.loc["CHEMBL 1", "thresholds"] == (5.0,)
    with pytest.raises(InputSchemaError, match="may have"):
        schema.read_thresholds(write(tmp_path / "bad.toml", "[A]\nthreshold = [6]\n"))
    with pytest.raises(InputFileError, match="not valid TOML"):
        schema.read_thresholds(write(tmp_path / "broken.toml", "[A\nthresholds = [6]\n"))
    with pytest.raises(InputSchemaError, match="not numbers"):
        schema.read_thresholds(write(tmp_path / "words.toml", '[A]\nthresholds = ["six"]\n'))
