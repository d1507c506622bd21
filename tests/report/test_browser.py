"""The report rendered in a real headless Chromium: sections visible, images decoded, no errors."""

from __future__ import annotations

import re
from pathlib import Path

from fedqsar.report import SECTION_IDS

EXTERNAL_REFERENCE = re.compile(
    r"""(?:src|href|action|srcset|xlink:href)\s*=\s*["']?\s*(?:https?:)?//|url\(\s*["']?\s*(?:https?:)?//|@import""",
    re.I,
)


def test_html_references_nothing_outside_itself(rendered_report: Path) -> None:
    html = rendered_report.read_text(encoding="utf-8")
    assert not EXTERNAL_REFERENCE.search(html)
    assert "http://" not in html and "https://" not in html
    assert "<script" not in html.lower()


def test_report_renders_in_chromium(browser, rendered_report: Path) -> None:  # noqa: ANN001 - selenium driver
    from selenium.webdriver.common.by import By

    browser.get(rendered_report.resolve().as_uri())
    assert browser.title.startswith("fedqsar report")
    for section_id in SECTION_IDS:
        section = browser.find_element(By.ID, section_id)
        assert section.is_displayed(), section_id
        assert section.size["height"] > 40, section_id

    images = browser.find_elements(By.CSS_SELECTOR, "img")
    assert len(images) >= 7  # forest, recovered share, scatter, curves, distributions, coverage, domain
    for image in images:
        assert browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth", image) > 0
        assert image.size["width"] > 100 and image.size["height"] > 100
        assert image.get_attribute("alt")
    for svg in browser.find_elements(By.CSS_SELECTOR, "svg"):
        assert svg.size["width"] > 0 and svg.size["height"] > 0

    loaded = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert [name for name in loaded if not name.startswith("data:")] == []
    severe = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert severe == []


def test_browser_sees_console_errors(browser, tmp_path: Path) -> None:  # noqa: ANN001 - selenium driver
    """The console check can fail: a page with a broken image does log a SEVERE entry."""
    page = tmp_path / "broken.html"
    page.write_text('<!DOCTYPE html><html><body><img src="missing.png"></body></html>', encoding="utf-8")
    browser.get_log("browser")  # drain
    browser.get(page.as_uri())
    assert any(entry["level"] == "SEVERE" for entry in browser.get_log("browser"))
