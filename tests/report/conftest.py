"""Fixtures of the report tests: a synthetic run folder and a headless Chromium.

The run folder is *test fixture data* written by ``tests/report/synthetic_run.py`` (seeded random
numbers shaped like a run, real ledger and real uplift statistics); ``fedqsar report`` never
uses it on a real run.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from fedqsar.report import write_report

from .synthetic_run import write_synthetic_run

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)


@pytest.fixture(scope="session")
def synthetic_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A complete synthetic run folder (read-only by convention: copy it before editing)."""
    return write_synthetic_run(tmp_path_factory.mktemp("run") / "RUN")


@pytest.fixture(scope="session")
def rendered_report(synthetic_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The HTML report of ``synthetic_run``."""
    return write_report(synthetic_run, tmp_path_factory.mktemp("html") / "report.html")


@pytest.fixture
def run_copy(synthetic_run: Path, tmp_path: Path) -> Path:
    """A private copy of the synthetic run folder, free to edit."""
    return Path(shutil.copytree(synthetic_run, tmp_path / "RUN"))


def ensure_chromium() -> None:
    """Install Debian's chromium and chromium-driver with apt when missing; fail clearly if that fails."""
    if CHROMIUM.is_file() and CHROMEDRIVER.is_file():
        return
    commands = (
        ["apt-get", "update"],
        ["apt-get", "install", "-y", "--no-install-recommends", "chromium", "chromium-driver"],
    )
    for command in commands:
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            pytest.fail(
                f"`{' '.join(command)}` could not run ({exc}); install chromium and chromium-driver "
                "(Debian packages) as root, then re-run the tests"
            )
        if done.returncode != 0:
            pytest.fail(
                f"`{' '.join(command)}` failed (exit {done.returncode}): {done.stderr[-2000:]}\n"
                "install chromium and chromium-driver (Debian packages) as root, then re-run the tests"
            )
    if not (CHROMIUM.is_file() and CHROMEDRIVER.is_file()):
        pytest.fail(f"apt installed chromium but {CHROMIUM} or {CHROMEDRIVER} is still missing")


@pytest.fixture(scope="session")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """A headless Chromium driven by selenium through Debian's chromedriver, browser log enabled."""
    ensure_chromium()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.add_argument("--window-size=1280,2000")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()
