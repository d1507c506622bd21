"""What the sections say: verdicts per partner, shifted endpoints, under-coverage, missing files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fedqsar.report import gather
from fedqsar.report.metric_names import curve_order, metric_info
from fedqsar.report.plot_results import task_pairs, verdict
from fedqsar.report.plots import PartnerStyle
from fedqsar.report.sections_data import consistency_section, consortium_section, endpoint_summary, trust_section
from fedqsar.report.sections_results import curves_section, partner_sentence, summary_section, uplift_section


def uplift_rows(*rows: tuple[str, float, float, float]) -> pd.DataFrame:
    return pd.DataFrame([{"metric": m, "delta_abs": d, "ci_low": lo, "ci_high": hi} for m, d, lo, hi in rows])


@pytest.mark.parametrize(
    "delta, low, high, higher_is_better, expected",
    [
        (0.02, 0.01, 0.03, True, "better"),
        (0.02, -0.01, 0.03, True, "unclear"),
        (-0.02, -0.03, -0.01, True, "worse"),
        (-0.02, -0.03, -0.01, False, "better"),
        (0.02, 0.01, 0.03, False, "worse"),
        (0.02, np.nan, np.nan, True, "no interval"),
        (0.02, 0.01, 0.03, None, "unclear"),
    ],
)
def test_verdict_follows_the_interval_and_the_metric_direction(delta, low, high, higher_is_better, expected) -> None:
    assert verdict(delta, low, high, higher_is_better) == expected


def test_partner_sentences_say_helped_not_helped_and_hurt() -> None:
    helped = partner_sentence("A", uplift_rows(("auc_pr", 0.03, 0.01, 0.05), ("rmse", -0.05, -0.08, -0.02)))
    assert helped.startswith("Federation helped A:") and "+0.030" in helped and "-0.080" in helped
    unclear = partner_sentence("B", uplift_rows(("auc_pr", 0.003, -0.01, 0.02)))
    assert unclear.startswith("Federation did not help partner B")
    hurt = partner_sentence("C", uplift_rows(("rmse", 0.05, 0.02, 0.08)))
    assert hurt.startswith("Federation did not help partner C; it made it worse")
    mixed = partner_sentence("D", uplift_rows(("auc_pr", 0.03, 0.01, 0.05), ("rmse", 0.05, 0.02, 0.08)))
    assert "some metrics" in mixed
    single_task = partner_sentence("E", uplift_rows(("auc_pr", 0.03, np.nan, np.nan)))
    assert single_task.startswith("Whether federation helped E cannot be told") and "CI — to —" in single_task
    half = partner_sentence("F", uplift_rows(("auc_pr", 0.03, np.nan, np.nan), ("rmse", 0.01, -0.01, 0.03)))
    assert half.startswith("Federation did not help partner F")


def test_summary_names_the_partner_federation_did_not_help(synthetic_run: Path) -> None:
    text = " ".join(summary_section(gather(synthetic_run)).paragraphs)
    assert "3 partners" in text and "48 tasks" in text and "23,275 input rows" in text
    assert "Federation did not help partner pharma_b" in text
    assert "Federation helped biotech_c" in text and "Federation helped pharma_a" in text
    assert "Over all partners' tasks together" in text


def test_uplift_tables_separate_the_main_comparison(synthetic_run: Path) -> None:
    data = gather(synthetic_run)
    section = uplift_section(data, PartnerStyle.for_partners(data.partner_names))
    main, others, folds = section.tables
    assert len(main.rows) == 8  # (3 partners + "(all)") x (AUC-PR, RMSE)
    assert [row[0] for row in main.rows[-2:]] == ["(all)", "(all)"]  # consortium order, summary last
    assert others.title.startswith("Other comparisons") and len(others.rows) == 24
    assert {row[2] for row in others.rows} == {"federated vs rf", "pooled vs local", "rf vs local"}
    assert len(section.figures) == 2
    assert [row[0] for row in folds.rows] == list(data.partner_names)  # consortium order
    schemes = {row[0]: (row[1], row[4]) for row in folds.rows}  # scheme, test compounds another partner trained on
    assert schemes == {"pharma_a": ("scaffold", "0"), "pharma_b": ("time", "12"), "biotech_c": ("scaffold", "0")}


def test_the_uplift_section_says_each_partners_fold_scheme_only_when_evaluated(run_copy: Path) -> None:
    (run_copy / "evaluation" / "folds.csv").unlink()  # a run evaluated before folds.csv existed
    data = gather(run_copy)
    assert len(uplift_section(data, PartnerStyle.for_partners(data.partner_names)).tables) == 2


def test_task_pairs_average_folds_and_need_both_kinds() -> None:
    metrics = pd.DataFrame(
        [
            ("A", "t1", "e", kind, fold, "auc_pr", value)
            for kind, fold, value in [
                ("local", 0, 0.5),
                ("local", 1, 0.7),
                ("federated", 0, 0.8),
                ("federated", 1, 0.6),
            ]
        ]
        + [("A", "t2", "e", "local", 0, "auc_pr", 0.4)],
        columns=["partner", "task", "endpoint", "model_kind", "fold", "metric", "value"],
    )
    pairs = task_pairs(metrics, "auc_pr")
    assert pairs[["task", "local", "federated"]].values.tolist() == [["t1", 0.6, 0.7]]


def test_endpoint_summary_flags_only_the_shifted_partner(synthetic_run: Path) -> None:
    summary = endpoint_summary(gather(synthetic_run).table("endpoints"))
    flagged = summary[summary["shift_sd"].abs() > 0.5]
    assert flagged[["endpoint", "partner"]].values.tolist() == [["logD7.4", "pharma_b"]]
    assert flagged["shift_sd"].iloc[0] > 0  # the sample shifts pharma_b's logD up by 1.0 (SD 1.1)


def test_consistency_section_warns_about_the_shift(synthetic_run: Path) -> None:
    data = gather(synthetic_run)
    section = consistency_section(data, PartnerStyle.for_partners(data.partner_names))
    assert len(section.warnings) == 1 and "pharma_b's logD7.4" in section.warnings[0]
    assert sum(section.tables[0].flags) == 1


def test_endpoint_with_one_partner_has_no_shift() -> None:
    summary = endpoint_summary(pd.DataFrame({"partner": ["A"] * 5, "endpoint": ["x"] * 5, "value": [1.0, 2, 3, 4, 5]}))
    assert summary["n"].tolist() == [5] and summary["median"].tolist() == [3.0] and summary["shift_sd"].isna().all()


def test_trust_section_flags_under_coverage(run_copy: Path) -> None:
    path = run_copy / "trust" / "coverage.csv"
    table = pd.read_csv(path)
    table.loc[(table["partner"] == "pharma_a") & (table["confidence"] == 0.9), "coverage"] = 0.7
    table.to_csv(path, index=False)
    data = gather(run_copy)
    section = trust_section(data, PartnerStyle.for_partners(data.partner_names))
    assert len(section.warnings) == 2  # pharma_a at 0.9: classification and regression
    assert all(w.startswith("pharma_a") for w in section.warnings)


def test_trust_section_says_not_computed_without_trust_files(run_copy: Path) -> None:
    for name in ("coverage.csv", "domain.csv"):
        (run_copy / "trust" / name).unlink()
    data = gather(run_copy)
    section = trust_section(data, PartnerStyle.for_partners(data.partner_names))
    assert section.figures == () and section.paragraphs == ("Trust metrics were not computed for this run.",)
    assert len(section.missing) == 2
    assert all(m.startswith("Not computed: trust/") and "fedqsar demo" in m for m in section.missing)


def test_consortium_section_warns_on_unbalanced_accounting_and_differing_prep(run_copy: Path) -> None:
    path = run_copy / "consortium.json"
    consortium = json.loads(path.read_text(encoding="utf-8"))
    consortium["pharma_a"]["accounting"]["used"] -= 10
    consortium["pharma_b"]["prep_hash"] = "0000aaaa"
    path.write_text(json.dumps(consortium), encoding="utf-8")
    section = consortium_section(gather(run_copy))
    assert section.tables[0].flags == (False, True, False)
    assert any("pharma_a" in w and "unaccounted" in w for w in section.warnings)
    assert any("prep hashes differ" in w for w in section.warnings)


def test_history_metrics_read_losses_first_and_timings_last() -> None:
    names = ["train_seconds", "val_spearman", "val_auc_roc", "train_loss", "val_loss", "val_auc_pr", "val_rmse"]
    assert curve_order(names) == [
        "train_loss",
        "val_loss",
        "val_auc_pr",
        "val_rmse",
        "val_auc_roc",
        "val_spearman",
        "train_seconds",
    ]
    assert metric_info("val_auc_pr").label == "validation AUC-PR" and metric_info("val_rmse").higher_is_better is False
    assert metric_info("odd_metric").higher_is_better is None


def test_curves_section_says_which_metrics_it_leaves_out(run_copy: Path) -> None:
    path = run_copy / "federation" / "history.csv"
    history = pd.read_csv(path)
    extra = [history.assign(metric=name) for name in ("val_loss", "val_rmse", "val_auc_roc", "val_r2", "train_seconds")]
    pd.concat([history, *extra]).to_csv(path, index=False)
    data = gather(run_copy)
    section = curves_section(data, PartnerStyle.for_partners(data.partner_names))
    assert "Showing 6 of 7 recorded metrics; not shown: training seconds." in section.paragraphs[0]


def test_consistency_section_warns_about_values_outside_the_endpoints_plausible_range(run_copy: Path) -> None:
    """The same registry ranges as each partner's prepare: PPB read in % bound instead of log10(fu)."""
    path = run_copy / "evaluation" / "endpoints.csv"
    table = pd.read_csv(path)
    wrong = pd.DataFrame({"partner": "pharma_a", "endpoint": "PPB", "value": np.linspace(80.0, 99.0, 40)})
    right = pd.DataFrame({"partner": "pharma_b", "endpoint": "PPB", "value": np.linspace(-2.5, -0.5, 40)})
    pd.concat([table, wrong, right], ignore_index=True).to_csv(path, index=False)
    data = gather(run_copy)
    section = consistency_section(data, PartnerStyle.for_partners(data.partner_names))
    ppb = [w for w in section.warnings if "PPB" in w and "plausible range" in w]
    assert len(ppb) == 1 and ppb[0].startswith("pharma_a's PPB: 100% of 40 values lie outside")
    assert "100% of -4 – 0" in [row[6] for row in section.tables[0].rows if row[:2] == ("PPB", "pharma_a")]


def test_privacy_section_reports_the_audit_and_flags_a_leak(run_copy: Path) -> None:
    from fedqsar.report.sections_privacy import privacy_section

    section = privacy_section(gather(run_copy))
    assert section.missing == () and section.warnings == ()
    assert any("AUC 0.50" in p for p in section.paragraphs) and "private_input" in section.paragraphs[0]
    (membership,) = section.tables
    assert {r[1] for r in membership.rows} == {"local", "federated", "personalised"}
    summary_file = run_copy / "privacy" / "summary.csv"
    summary = pd.read_csv(summary_file)
    summary.loc[summary["key"] == "bit_auc", "value"] = "0.97"
    summary.to_csv(summary_file, index=False)
    warned = privacy_section(gather(run_copy))
    assert any("Bit-recovery AUC 0.97" in w and "private_input" in w for w in warned.warnings)


def test_privacy_section_names_the_audit_command_when_not_run(run_copy: Path) -> None:
    from fedqsar.report.sections_privacy import privacy_section

    for name in ("bits.csv", "membership.csv", "summary.csv"):
        (run_copy / "privacy" / name).unlink()
    section = privacy_section(gather(run_copy))
    assert section.paragraphs == ("The privacy audit was not run for this run folder.",)
    assert len(section.missing) == 3 and all("fedqsar audit privacy RUN" in m for m in section.missing)
