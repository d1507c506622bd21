"""Get a registered public file: from a mirror folder first, else download and verify.

Order: ``data_dir`` argument, else env ``FEDQSAR_DATA``; a file found there is verified
against its pinned sha256 (a mismatch is an error, never silently used). Otherwise the file
is downloaded from its pinned raw GitHub address into a cache folder (``cache_dir``, env
``FEDQSAR_CACHE`` or ``~/.cache/fedqsar/datasets``), verified, and only then moved into
place — a failed or tampered download leaves nothing behind.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import IO

from fedqsar.datasets.registry import RAW_BASE_URL, DataFile, get
from fedqsar.errors import ChecksumError, DatasetError
from fedqsar.hashing import sha256_file

Opener = Callable[[str], IO[bytes]]
CHUNK = 1 << 20


def mirror_dir(data_dir: Path | str | None = None) -> Path | None:
    """The mirror folder in use: ``data_dir``, else env ``FEDQSAR_DATA``, else None."""
    if data_dir is not None:
        return Path(data_dir)
    env = os.environ.get("FEDQSAR_DATA")
    return Path(env) if env else None


def cache_dir_default() -> Path:
    """Download cache: env ``FEDQSAR_CACHE`` or ``~/.cache/fedqsar/datasets``."""
    env = os.environ.get("FEDQSAR_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "fedqsar" / "datasets"


def verify(path: Path, entry: DataFile) -> Path:
    """Return ``path`` if its sha256 is the pinned one.

    Raises
    ------
    ChecksumError
        Naming the file, the expected and the actual digest.
    """
    actual = sha256_file(path)
    if actual != entry.sha256:
        raise ChecksumError(
            f"{path} has sha256 {actual[:16]}..., but {entry.name} from {entry.source.repo}@"
            f"{entry.source.commit[:12]} must have {entry.sha256[:16]}...",
            "the file was altered or is another version: delete it and fetch again, or point "
            "FEDQSAR_DATA/--data-dir at an unmodified mirror",
        )
    return path


def fetch(
    name: str,
    data_dir: Path | str | None = None,
    *,
    cache_dir: Path | str | None = None,
    base_url: str = RAW_BASE_URL,
    opener: Opener | None = None,
) -> Path:
    """Path of the verified local copy of registered file ``name``.

    Parameters
    ----------
    name
        Registry name, e.g. ``"biogen_adme/ADME_public_set_3521.csv"``.
    data_dir
        Mirror folder read first (else env ``FEDQSAR_DATA``).
    cache_dir
        Where downloads go (else env ``FEDQSAR_CACHE`` or ``~/.cache/fedqsar/datasets``).
    base_url
        Raw-file server; ``{base_url}/{repo}/{commit}/{path}`` is fetched.
    opener
        ``opener(url) -> binary file object``; defaults to ``urllib.request.urlopen``.

    Raises
    ------
    DatasetError
        Unknown name, or not in the mirror and the download failed.
    ChecksumError
        The mirror's or the downloaded file's sha256 differs from the pinned one.
    """
    entry = get(name)
    mirror = mirror_dir(data_dir)
    if mirror is not None and (mirror / name).is_file():
        return verify(mirror / name, entry)
    target = Path(cache_dir) if cache_dir is not None else cache_dir_default()
    cached = target / name
    if cached.is_file():
        return verify(cached, entry)
    return _download(entry, cached, base_url, opener or _urlopen)


def _urlopen(url: str) -> IO[bytes]:
    return urllib.request.urlopen(url, timeout=60)  # noqa: S310 - pinned https/file URL


def _download(entry: DataFile, target: Path, base_url: str, opener: Opener) -> Path:
    url = entry.raw_url(base_url)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp_name = tempfile.mkstemp(prefix=".part-", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(handle, "wb") as out, opener(url) as response:
            shutil.copyfileobj(response, out, CHUNK)
        verify(tmp, entry)
        tmp.replace(target)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise DatasetError(
            f"cannot download {entry.name} from {url}: {exc}",
            "check the internet connection, or set FEDQSAR_DATA / --data-dir to a mirror folder holding it",
        ) from exc
    finally:
        tmp.unlink(missing_ok=True)
    return target
