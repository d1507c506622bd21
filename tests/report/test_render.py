"""The HTML file: every section, self-contained, escaped, missing files explained."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from fedqsar.errors import ReportError
from fedqsar.report import SECTION_IDS, gather, render_html, write_report


class Outline(HTMLParser):
    """Collects section ids, images and the text of the page."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: list[str] = []
        self.images: list[dict[str, str]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {k: v or "" for k, v in attrs}
        if tag == "section":
            self.sections.append(attributes.get("id", ""))
        if tag == "img":
            self.images.append(attributes)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def outline(html: str) -> Outline:
    parser = Outline()
    parser.feed(html)
    return parser


def test_report_has_every_section_in_order_and_inline_images(rendered_report: Path) -> None:
    page = outline(rendered_report.read_text(encoding="utf-8"))
    assert tuple(page.sections) == SECTION_IDS
    assert len(page.images) == 8  # the leave-one-out heat map included
    assert all(img["src"].startswith("data:image/svg+xml;base64,") and img["alt"] for img in page.images)
    text = " ".join(page.text)
    assert "Federation did not help partner pharma_b" in text
    assert "federation/ledger.sqlite" in text and "evaluation/ledger.sqlite" in text
    assert "The 3 result files match the sha256 hashes the evaluation recorded" in text
    assert "Removing biotech_c" in text and "No probe folder was given" in text


def test_missing_optional_files_are_explained_in_their_sections(run_copy: Path) -> None:
    for relative in (
        "evaluation/uplift.csv",
        "evaluation/metrics.csv",
        "federation/history.csv",
        "evaluation/endpoints.csv",
        "trust/coverage.csv",
        "trust/domain.csv",
        "evaluation/leave_one_out.csv",
        "federation/ledger.sqlite",
        "evaluation/ledger.sqlite",
    ):
        (run_copy / relative).unlink()
    html = render_html(gather(run_copy))
    page = outline(html)
    assert tuple(page.sections) == SECTION_IDS and page.images == []
    text = " ".join(page.text)
    for relative in (
        "evaluation/uplift.csv",
        "evaluation/metrics.csv",
        "federation/history.csv",
        "evaluation/endpoints.csv",
        "trust/coverage.csv",
        "trust/domain.csv",
        "evaluation/leave_one_out.csv",
    ):
        assert f"{relative} is not in this run folder" in text
    assert "Trust metrics were not computed for this run." in text and "Not computed: trust/coverage.csv" in text
    assert "no ledger" in text


def test_header_only_tables_do_not_crash(run_copy: Path) -> None:
    for relative in (
        "evaluation/uplift.csv",
        "evaluation/metrics.csv",
        "federation/history.csv",
        "evaluation/endpoints.csv",
        "trust/coverage.csv",
        "trust/domain.csv",
        "evaluation/leave_one_out.csv",
    ):
        path = run_copy / relative
        path.write_text(path.read_text(encoding="utf-8").splitlines()[0] + "\n", encoding="utf-8")
    page = outline(render_html(gather(run_copy)))
    assert tuple(page.sections) == SECTION_IDS and page.images == []
    assert "has no rows" in " ".join(page.text)


def test_text_from_the_run_folder_is_escaped(run_copy: Path) -> None:
    path = run_copy / "consortium.json"
    consortium = json.loads(path.read_text(encoding="utf-8"))
    consortium["<script>alert(1)</script>"] = consortium.pop("pharma_b")
    path.write_text(json.dumps(consortium), encoding="utf-8")
    html = render_html(gather(run_copy))
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_write_report_defaults_to_the_run_folder(run_copy: Path) -> None:
    (run_copy / "report.html").unlink(missing_ok=True)
    path = write_report(run_copy)
    assert path == run_copy / "report.html" and path.stat().st_size > 10_000


def test_write_report_to_an_unwritable_place_is_a_report_error(run_copy: Path) -> None:
    blocker = run_copy / "a_file"
    blocker.write_text("x", encoding="utf-8")
    with pytest.raises(ReportError, match="cannot write the report"):
        write_report(run_copy, blocker / "report.html")


def test_css_is_inline_and_there_is_no_script(rendered_report: Path) -> None:
    html = rendered_report.read_text(encoding="utf-8")
    assert re.search(r"<style>\s*:root", html)
    assert "<link" not in html and "<script" not in html
