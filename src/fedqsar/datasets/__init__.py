"""Public data: a registry of pinned files (origin, commit, sha256, licence), a fetcher that
reads a mirror folder before downloading, and the consortium scenarios built from them."""

from fedqsar.datasets.fetch import fetch
from fedqsar.datasets.registry import DataFile, files, get

__all__ = ["DataFile", "fetch", "files", "get"]
