"""Shared fixtures: where the real public data lives.

CI clones the repository with ``../shared/data`` beside it; users and CI may also point
``FEDQSAR_DATA`` at a mirror. A missing data folder is a failure, never a skip.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    """The folder of real public data (``FEDQSAR_DATA`` or ``../shared/data``)."""
    env = os.environ.get("FEDQSAR_DATA")
    return Path(env) if env else (REPO_ROOT / ".." / "shared" / "data").resolve()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = shared_data_dir()
    if not (path / "README.md").is_file():
        pytest.fail(
            f"shared data not found at {path}: set FEDQSAR_DATA to the data mirror "
            "or clone the repository next to shared/data"
        )
    return path
