from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest

from fedqsar.datasets import registry
from fedqsar.datasets.fetch import fetch
from fedqsar.errors import ChecksumError, DatasetError
from fedqsar.hashing import sha256_file

NAME = "biogen_adme/MPNN/ADME_rPPB_test.csv"  # small, also in the ci mirror


def test_registry_entries_are_complete() -> None:
    entries = registry.files()
    assert len(entries) > 300
    for entry in entries:
        assert len(entry.sha256) == 64 and len(entry.source.commit) == 40
        assert entry.source.licence and "/" in entry.source.repo
    lipo = registry.get("moleculenet_chemprop/lipo.csv")
    assert lipo.source.repo == "chemprop/chemprop"
    biogen = registry.get("biogen_adme/ADME_public_set_3521.csv")
    assert biogen.raw_url() == (
        "https://raw.githubusercontent.com/molecularinformatics/Computational-ADME/"
        "b00df003de117ce9e5b381afd886095c5f2af2d5/ADME_public_set_3521.csv"
    )


def test_unknown_name_suggests_close_ones() -> None:
    with pytest.raises(DatasetError, match="ADME_public_set_3521"):
        registry.get("biogen_adme/ADME_public_set.csv")


def test_registry_agrees_with_mirror_manifest(shared_data: Path) -> None:
    rows = (shared_data / "MANIFEST.tsv").read_text().splitlines()[1:]
    checked = 0
    for line in rows:
        path, size, sha16, repo, commit = line.split("\t")[:5]
        entry = registry.get(path)
        assert entry.sha256[:16] == sha16 and entry.size == int(size)
        assert (entry.source.repo, entry.source.commit) == (repo, commit)
        checked += 1
    assert checked == len(rows)


def test_mirror_first_and_verified(shared_data: Path, tmp_path: Path) -> None:
    path = fetch(NAME, shared_data / "ci", cache_dir=tmp_path, opener=_no_network)
    assert path == shared_data / "ci" / NAME
    assert sha256_file(path) == registry.get(NAME).sha256


def test_env_mirror(shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEDQSAR_DATA", str(shared_data))
    assert fetch(NAME, cache_dir=tmp_path, opener=_no_network) == shared_data / NAME


def test_tampered_mirror_raises(shared_data: Path, tmp_path: Path) -> None:
    copy = tmp_path / "mirror" / NAME
    copy.parent.mkdir(parents=True)
    copy.write_bytes((shared_data / NAME).read_bytes() + b"\n")
    with pytest.raises(ChecksumError, match="sha256"):
        fetch(NAME, tmp_path / "mirror", cache_dir=tmp_path / "cache", opener=_no_network)


def test_download_with_injected_opener(shared_data: Path, tmp_path: Path) -> None:
    seen: list[str] = []
    content = (shared_data / NAME).read_bytes()

    def opener(url: str) -> io.BytesIO:
        seen.append(url)
        return io.BytesIO(content)

    path = fetch(NAME, tmp_path / "empty_mirror", cache_dir=tmp_path / "cache", opener=opener)
    assert path == tmp_path / "cache" / NAME and path.read_bytes() == content
    assert seen == [registry.get(NAME).raw_url()]
    # second call is served from the cache without a download
    assert fetch(NAME, tmp_path / "empty_mirror", cache_dir=tmp_path / "cache", opener=_no_network) == path


def test_download_checksum_mismatch_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(ChecksumError):
        fetch(NAME, tmp_path / "none", cache_dir=tmp_path / "cache", opener=lambda url: io.BytesIO(b"not the file"))
    assert not (tmp_path / "cache" / NAME).exists()
    assert not list((tmp_path / "cache").rglob(".part-*"))


def test_download_over_file_url(shared_data: Path, tmp_path: Path) -> None:
    entry = registry.get(NAME)
    served = tmp_path / "server" / entry.source.repo / entry.source.commit / entry.origin_path
    served.parent.mkdir(parents=True)
    served.write_bytes((shared_data / NAME).read_bytes())
    path = fetch(NAME, tmp_path / "none", cache_dir=tmp_path / "cache", base_url=(tmp_path / "server").as_uri())
    assert hashlib.sha256(path.read_bytes()).hexdigest() == entry.sha256


def test_failed_download_says_how_to_fix(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="FEDQSAR_DATA"):
        fetch(NAME, tmp_path / "none", cache_dir=tmp_path / "cache", base_url=(tmp_path / "nowhere").as_uri())


def _no_network(url: str) -> io.BytesIO:
    raise AssertionError(f"unexpected download of {url}")
