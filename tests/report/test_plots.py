"""Each figure is a valid standalone SVG that names what it plots."""

from __future__ import annotations

import base64
import xml.etree.ElementTree as ET
from pathlib import Path

import pandas as pd
import pytest

from fedqsar.report import gather
from fedqsar.report.plot_data import plot_coverage, plot_domain_error, plot_endpoint_distributions
from fedqsar.report.plot_results import (
    plot_recovered_share,
    plot_task_scatter,
    plot_training_curves,
    plot_uplift_forest,
)
from fedqsar.report.plots import PartnerStyle, Plot

SVG = "{http://www.w3.org/2000/svg}"


def svg_texts(plot: Plot) -> str:
    root = ET.fromstring(plot.svg)
    assert root.tag == f"{SVG}svg"
    assert float(root.get("width").rstrip("pt")) > 100 and float(root.get("height").rstrip("pt")) > 100
    return " ".join("".join(node.itertext()) for node in root.iter(f"{SVG}text"))


@pytest.fixture(scope="module")
def data(synthetic_run: Path):  # noqa: ANN201
    return gather(synthetic_run)


@pytest.fixture(scope="module")
def style(data) -> PartnerStyle:  # noqa: ANN001
    return PartnerStyle.for_partners(data.partner_names)


def test_forest_plot_has_a_row_per_partner_and_a_panel_per_metric(data) -> None:  # noqa: ANN001
    uplift = data.table("uplift")
    chosen = uplift[uplift["comparison"] == "federated_vs_local"]
    text = svg_texts(plot_uplift_forest(chosen, ["auc_pr", "rmse"], ["biotech_c", "pharma_a", "pharma_b", "(all)"]))
    for label in ("biotech_c", "pharma_a", "pharma_b", "(all)", "AUC-PR", "RMSE", "federated better"):
        assert label in text
    share = svg_texts(plot_recovered_share(chosen, ["auc_pr"], ["pharma_a"]))
    assert "pharma_a" in share and "pooled gain" in share


def test_scatter_and_curves_name_metrics_and_partners(data, style) -> None:  # noqa: ANN001
    scatter = svg_texts(plot_task_scatter(data.table("metrics"), ["auc_pr", "rmse"], style))
    assert "local AUC-PR" in scatter and "federated RMSE" in scatter and "pharma_b" in scatter
    curves = svg_texts(plot_training_curves(data.table("history"), ["train_loss", "val_auc_pr"], style))
    assert "training loss" in curves and "validation AUC-PR" in curves and "federation round" in curves


def test_data_and_trust_plots(data, style) -> None:  # noqa: ANN001
    assert "logD7.4" in svg_texts(plot_endpoint_distributions(data.table("endpoints"), style))
    coverage = svg_texts(plot_coverage(data.table("coverage"), style))
    assert "Coverage vs nominal" in coverage and "Prediction set size" in coverage and "Interval width" in coverage
    assert "similarity" in svg_texts(plot_domain_error(data.table("domain"), style))


def test_coverage_without_kind_column_has_one_efficiency_panel(data, style) -> None:  # noqa: ANN001
    coverage = data.table("coverage").drop(columns=["kind"])
    text = svg_texts(plot_coverage(coverage, style))
    assert "Efficiency" in text and "Prediction set size" not in text


def test_same_figure_gives_same_svg_and_data_uri_round_trips(data, style) -> None:  # noqa: ANN001
    first = plot_domain_error(data.table("domain"), style)
    second = plot_domain_error(data.table("domain"), style)
    assert first.svg == second.svg
    prefix = "data:image/svg+xml;base64,"
    assert first.data_uri.startswith(prefix)
    assert base64.b64decode(first.data_uri[len(prefix) :]).decode("utf-8") == first.svg


def test_partner_missing_from_consortium_still_gets_a_style() -> None:
    style = PartnerStyle.for_partners(["a", "b"])
    assert style.colour("a") != style.colour("b") and style.colour("zzz") == "#7f7f7f"
    endpoints = pd.DataFrame({"partner": ["a", "zzz"] * 20, "endpoint": ["x"] * 40, "value": range(40)})
    assert "zzz" in svg_texts(plot_endpoint_distributions(endpoints.astype({"value": float}), style))
