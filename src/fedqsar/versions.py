"""The library versions fedqsar records: one function, and the ``versions.json`` of a run folder.

:func:`library_versions` is what a PreparedSet manifest records (``PREP_LIBRARIES``: what shapes
a PreparedSet), what ``fedqsar --version`` prints and what run folders record in
``versions.json`` (written beside their configs by ``fedqsar train``, the federation server and
the evaluation). The report shows the versions a run folder *recorded*, never those installed
when it renders.

Light on purpose (standard library only): the CLI imports it at start-up.
"""

from __future__ import annotations

import json
import platform
from importlib import metadata
from pathlib import Path

from fedqsar import __version__

LIBRARIES: tuple[str, ...] = (
    "fedqsar",
    "python",
    "numpy",
    "scipy",
    "pandas",
    "rdkit",
    "torch",
    "flwr",
    "matplotlib",
    "jinja2",
)
"""Everything a run folder records and ``fedqsar --version`` prints."""

PREP_LIBRARIES: tuple[str, ...] = ("fedqsar", "python", "rdkit", "numpy", "scipy", "pandas")
"""What a PreparedSet manifest records under ``versions`` (compared, as a warning, between partners)."""

NOT_INSTALLED = "not installed"
VERSIONS_FILE = "versions.json"


def _version(name: str) -> str:
    if name == "fedqsar":
        return __version__
    if name == "python":
        return platform.python_version()
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return NOT_INSTALLED


def library_versions(names: tuple[str, ...] = LIBRARIES) -> dict[str, str]:
    """Installed version of each of ``names`` (fedqsar's own, Python's, else the distribution's).

    A distribution that is not installed reads ``"not installed"``.
    """
    return {name: _version(name) for name in names}


def write_versions(folder: Path) -> Path:
    """Write ``folder/versions.json`` (the installed :data:`LIBRARIES`); returns its path."""
    path = Path(folder) / VERSIONS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(library_versions(), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path


def read_versions(path: Path) -> dict[str, str] | None:
    """The versions recorded in a ``versions.json`` file; None if it is absent or not a JSON object of strings."""
    try:
        recorded = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(recorded, dict):
        return None
    return {str(name): str(version) for name, version in recorded.items()}
