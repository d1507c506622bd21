"""Accounting: buckets, invariants, rejected table; and the value stages chained on real data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fedqsar.errors import AccountingError
from fedqsar.prep import accounting as R
from fedqsar.prep.accounting import Accounting
from fedqsar.prep.config import TaskConfig, ValueConfig
from fedqsar.prep.resolve import resolve
from fedqsar.prep.schema import pre_rejects, read_partner_input
from fedqsar.prep.tasks import NO_TASK, build_tasks, rows_without_task
from fedqsar.prep.values import aggregate_replicates, harmonise


def test_buckets_and_counts() -> None:
    acc = Accounting(6)
    acc.use([0, 3])
    acc.merge(np.array([1]))
    acc.reject([2, 4], R.NON_NUMERIC_VALUE)
    acc.reject([5], [R.UNKNOWN_UNIT])
    acc.check()
    assert acc.to_dict() == {
        "input_rows": 6,
        "used": 2,
        "merged": 1,
        "rejected": {R.NON_NUMERIC_VALUE: 2, R.UNKNOWN_UNIT: 1},
    }


def test_row_in_two_buckets_raises_at_once() -> None:
    acc = Accounting(3)
    acc.use([0])
    with pytest.raises(AccountingError, match="already 'used'"):
        acc.reject([0], R.MISSING_VALUE)
    with pytest.raises(AccountingError, match="twice in one call"):
        acc.merge([1, 1])


def test_row_in_no_bucket_fails_check() -> None:
    acc = Accounting(3)
    acc.use([0, 1])
    with pytest.raises(AccountingError, match="no bucket"):
        acc.check()
    assert acc.open_rows.tolist() == [2]


def test_bad_arguments() -> None:
    acc = Accounting(2)
    with pytest.raises(AccountingError, match="out of range"):
        acc.use([2])
    with pytest.raises(AccountingError, match="empty"):
        acc.reject([0], "")
    with pytest.raises(AccountingError, match="reasons"):
        acc.reject([0, 1], ["a"])


def test_rejected_table_keeps_original_fields() -> None:
    activities = pd.DataFrame({"input_row": [0, 1, 2], "compound_id": ["a", "b", "c"], "value": ["1", "x", ""]})
    acc = Accounting(3)
    acc.use([0])
    acc.reject_table(pd.DataFrame({"input_row": [2, 1], "reason": [R.MISSING_VALUE, R.NON_NUMERIC_VALUE]}))
    table = acc.rejected_table(activities)
    assert table["input_row"].tolist() == [1, 2]
    assert table["compound_id"].tolist() == ["b", "c"] and table["value"].tolist() == ["x", ""]
    assert table["reason"].tolist() == [R.NON_NUMERIC_VALUE, R.MISSING_VALUE]


def test_empty_accounting() -> None:
    acc = Accounting(0)
    acc.check()
    assert acc.to_dict() == {"input_rows": 0, "used": 0, "merged": 0, "rejected": {}}


def run_value_stages(raw) -> tuple[Accounting, pd.DataFrame]:  # type: ignore[no-untyped-def]
    """schema -> values -> replicates -> tasks, structure key = input SMILES (no RDKit here)."""
    acts = raw.activities
    acc = Accounting(len(acts))
    acc.reject_table(pre_rejects(acts))
    open_acts = acts[~acts["input_row"].isin(acc.rejected_rows)]
    semantics = resolve(open_acts, raw.assays, tuner=raw.source_format != "long")
    ok, rejected = harmonise(open_acts, ValueConfig(), semantics=semantics)
    acc.reject_table(rejected)
    ok["structure_key"] = ok["smiles"]
    aggregated, merged, conflicts = aggregate_replicates(ok, ValueConfig())
    acc.merge(merged)
    acc.reject(conflicts, R.DUPLICATE_CONFLICT)
    tasks, labels = build_tasks(aggregated, raw.assays, TaskConfig())
    no_task = rows_without_task(aggregated, labels)
    acc.reject(no_task, NO_TASK)
    acc.use(np.setdiff1d(aggregated["input_row"].to_numpy(), no_task))
    acc.check()
    return acc, tasks


def test_value_stages_on_tuner_legacy_example(shared_data: Path) -> None:
    raw = read_partner_input(shared_data / "ci" / "melloddy_tuner" / "unit_test" / "input" / "chembl")
    acc, tasks = run_value_stages(raw)
    counts = acc.to_dict()
    assert counts["input_rows"] == 3085
    assert counts["used"] + counts["merged"] + sum(counts["rejected"].values()) == 3085
    assert counts["used"] > 3000
    assert tasks["task_name"].tolist() == ["CHEMBL235", "CHEMBL2954"]
    assert tasks["kind"].tolist() == ["classification"] * 2 and tasks["passes_quorum"].all()
    assert tasks["threshold"].tolist() == [6.5, 6.5]


def test_value_stages_on_messy_long_file(tmp_path: Path) -> None:
    text = (
        "compound_id,smiles,assay_id,value,unit,qualifier,endpoint\n"
        "a,CCO,hERG_IC50,10,nM,=,\n"  # used
        "a2,CCO,hERG_IC50,12,nM,=,\n"  # merged into a
        "b,CCN,hERG_IC50,<1,uM,,\n"  # used, censored
        "c,,hERG_IC50,5,nM,=,\n"  # missing structure
        "d,CCC,hERG_IC50,n.d.,nM,=,\n"  # non numeric
        "e,CCCC,hERG_IC50,5,furlongs,=,\n"  # unknown unit
        "f,CCCl,hERG_IC50,5,nM,?,\n"  # unknown qualifier
        "g,CCBr,hERG_IC50,,nM,=,\n"  # missing value
        "h,CCI,hERG_IC50,1,nM,=,\n"  # conflict with h2 (3 log units)
        "h2,CCI,hERG_IC50,1,uM,=,\n"
    )
    path = tmp_path / "acts.csv"
    path.write_text(text)
    raw = read_partner_input(path)
    acc, _ = run_value_stages(raw)
    assert acc.to_dict() == {
        "input_rows": 10,
        "used": 2,
        "merged": 1,
        "rejected": {
            R.MISSING_STRUCTURE: 1,
            R.NON_NUMERIC_VALUE: 1,
            R.UNKNOWN_UNIT: 1,
            R.UNKNOWN_QUALIFIER: 1,
            R.MISSING_VALUE: 1,
            R.DUPLICATE_CONFLICT: 2,
        },
    }
    table = acc.rejected_table(raw.activities)
    assert table.loc[table.compound_id == "d", "reason"].item() == R.NON_NUMERIC_VALUE


def test_value_stages_on_tuner_t0_t1_t2(tmp_path: Path) -> None:
    folder = tmp_path / "tuner"
    folder.mkdir()
    (folder / "T0.csv").write_text(
        "input_assay_id,assay_type,use_in_regression,expert_threshold_1,direction,is_binary\n"
        "1,OTHER,True,6.5,high,False\n2,AUX_HTS,False,,,True\n"
    )
    (folder / "T1.csv").write_text(
        "input_compound_id,input_assay_id,standard_qualifier,standard_value\n"
        "a,1,=,7\nb,1,<,6\nc,1,>,7\nd,1,<,7\na,2,,1\nb,2,,-1\nc,2,,0.5\ne,1,=,5\n"
    )
    (folder / "T2.csv").write_text("input_compound_id,smiles\na,CCO\nb,CCN\nc,CCC\nd,CCCl\n")
    raw = read_partner_input(folder)
    acc, tasks = run_value_stages(raw)
    assert acc.to_dict() == {
        "input_rows": 8,
        "used": 6,
        "merged": 0,
        "rejected": {R.INVALID_LABEL: 1, R.MISSING_STRUCTURE: 1},
    }
    assert tasks["task_name"].tolist() == ["1", "1@6.5", "2"]
    assert tasks["n_observed"].tolist() == [4, 3, 2]  # "<7" undetermined at 6.5; label 0.5 rejected
    assert tasks["n_positive"].tolist() == [0, 2, 1] and tasks["n_censored"].tolist() == [3, 0, 0]
