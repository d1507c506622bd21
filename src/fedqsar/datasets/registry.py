"""Registry of every public data file fedqsar reads: origin, commit, path, sha256, licence.

The table lives in ``registry.json`` beside this module (generated from the shared data
mirror, full sha256 of each file). A file's *name* is its path inside a mirror folder,
e.g. ``"biogen_adme/ADME_public_set_3521.csv"``; its first folder names the source, and
the rest (after the source's ``origin_prefix``) is its path in the origin repository at
the pinned commit, so that ``raw_url`` gives the exact bytes on GitHub.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from fedqsar.errors import DatasetError

RAW_BASE_URL = "https://raw.githubusercontent.com"
REGISTRY_FILE = Path(__file__).with_name("registry.json")


@dataclass(frozen=True)
class DataSource:
    """One public repository at a pinned commit."""

    folder: str  # first folder of the file names from this source
    repo: str  # "owner/name" on GitHub
    commit: str  # 40-hex commit
    licence: str
    description: str
    origin_prefix: str  # prepended to the path below ``folder`` to get the repository path
    origin_path_verified: bool  # False: repository layout at that commit inferred, not checked


@dataclass(frozen=True)
class DataFile:
    """One file: where it comes from and what its bytes must hash to."""

    name: str
    source: DataSource
    sha256: str
    size: int

    @property
    def origin_path(self) -> str:
        """Path of the file inside its origin repository."""
        return self.source.origin_prefix + self.name.split("/", 1)[1]

    def raw_url(self, base_url: str = RAW_BASE_URL) -> str:
        """``{base}/{repo}/{commit}/{path}`` — the pinned raw download address."""
        return f"{base_url.rstrip('/')}/{self.source.repo}/{self.source.commit}/{self.origin_path}"


@lru_cache(maxsize=1)
def _table() -> tuple[dict[str, DataSource], dict[str, DataFile]]:
    raw = json.loads(REGISTRY_FILE.read_text(encoding="utf-8"))
    sources = {folder: DataSource(folder=folder, **spec) for folder, spec in raw["sources"].items()}
    files = {
        name: DataFile(name=name, source=sources[name.split("/", 1)[0]], sha256=sha, size=int(size))
        for name, (sha, size) in raw["files"].items()
    }
    return sources, files


def sources() -> dict[str, DataSource]:
    """All sources by folder name."""
    return dict(_table()[0])


def files(prefix: str = "") -> list[DataFile]:
    """All registered files whose name starts with ``prefix``, sorted by name."""
    return [f for name, f in sorted(_table()[1].items()) if name.startswith(prefix)]


def get(name: str) -> DataFile:
    """The registry entry of ``name``.

    Raises
    ------
    DatasetError
        If ``name`` is not registered (naming the closest registered names).
    """
    table = _table()[1]
    if name in table:
        return table[name]
    close = difflib.get_close_matches(name, list(table), n=3, cutoff=0.5)
    raise DatasetError(
        f"no public data file named {name!r} in the fedqsar registry",
        f"use a registered name such as {close or sorted(table)[:3]} (see fedqsar.datasets.registry.files())",
    )
