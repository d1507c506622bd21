"""Lay the sections out as one self-contained HTML file (inline CSS and images, no scripts)."""

from __future__ import annotations

from importlib import resources

import jinja2
from markupsafe import Markup

from fedqsar.report.files import missing_message
from fedqsar.report.gather import ReportData
from fedqsar.report.plots import PartnerStyle
from fedqsar.report.sections import Section
from fedqsar.report.sections_data import consistency_section, consortium_section, provenance_section, trust_section
from fedqsar.report.sections_privacy import privacy_section
from fedqsar.report.sections_results import curves_section, scatter_section, summary_section, uplift_section
from fedqsar.report.sections_valuation import probe_section, valuation_section

SECTION_IDS = (
    "summary",
    "consortium",
    "uplift",
    "scatter",
    "curves",
    "consistency",
    "trust",
    "valuation",
    "probe",
    "privacy",
    "provenance",
)
"""Section ids in report order; tests and in-page links rely on them."""


def build_sections(data: ReportData) -> tuple[Section, ...]:
    """Every section of the report, in ``SECTION_IDS`` order."""
    style = PartnerStyle.for_partners(data.partner_names)
    return (
        summary_section(data),
        consortium_section(data),
        uplift_section(data, style),
        scatter_section(data, style),
        curves_section(data, style),
        consistency_section(data, style),
        trust_section(data, style),
        valuation_section(data.table("leave_one_out"), missing_message("leave_one_out"), list(data.partner_names)),
        probe_section(data.probes),
        privacy_section(data),
        provenance_section(data),
    )


def environment() -> jinja2.Environment:
    """The report's template environment (``templates/``: report.html, probe.html, section.html)."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("fedqsar.report", "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def inline_css() -> Markup:
    """The report's stylesheet, to inline into a page."""
    return Markup(resources.files("fedqsar.report").joinpath("templates/style.css").read_text(encoding="utf-8"))


def render_html(data: ReportData) -> str:
    """The report as one HTML document; every image is an inline data URI, CSS is inline."""
    template = environment().get_template("report.html")
    return template.render(data=data, sections=build_sections(data), css=inline_css())
