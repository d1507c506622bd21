from __future__ import annotations

import base64
import hashlib
import hmac
import json
import stat
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from fedqsar.errors import KeyFileError
from fedqsar.prep.keys import ConsortiumKey, generate_key, load_key, save_key

FIXED = ConsortiumKey(bytes(range(32)))


def test_saved_key_loads_back_equal_and_private(tmp_path: Path) -> None:
    key = generate_key()
    path = tmp_path / "sub" / "consortium.key"
    save_key(key, path)
    loaded = load_key(path)
    assert loaded == key
    assert loaded.key_id == key.key_id
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    data = json.loads(path.read_text())
    assert data["format"] == "fedqsar-consortium-key" and data["version"] == 1


def test_repr_and_key_id_do_not_reveal_the_secret() -> None:
    key = generate_key()
    assert key.secret.hex() not in repr(key)
    assert len(key.key_id) == 16 and int(key.key_id, 16) >= 0
    assert key.key_id not in key.secret.hex()
    assert generate_key().key_id != key.key_id


def test_save_refuses_to_overwrite_unless_asked(tmp_path: Path) -> None:
    path = tmp_path / "k.key"
    first, second = generate_key(), generate_key()
    save_key(first, path)
    with pytest.raises(KeyFileError, match="already exists"):
        save_key(second, path)
    assert load_key(path) == first
    save_key(second, path, overwrite=True)
    assert load_key(path) == second


def _write(path: Path, payload: object) -> Path:
    path.write_text(payload if isinstance(payload, str) else json.dumps(payload))
    path.chmod(0o600)
    return path


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_key_readable_by_group_or_others_is_refused_with_the_chmod_fix(tmp_path: Path, mode: int) -> None:
    key = generate_key()
    path = tmp_path / "k.key"
    save_key(key, path)
    path.chmod(mode)
    with pytest.raises(KeyFileError, match=f"mode {mode:04o}") as info:
        load_key(path)
    assert f"chmod 600 {path}" in info.value.fix and "--allow-open-key" in info.value.fix
    assert load_key(path, allow_open=True) == key  # containers whose mounts cannot keep modes


def _valid_payload() -> dict:
    key = generate_key()
    return {
        "format": "fedqsar-consortium-key",
        "version": 1,
        "key_id": key.key_id,
        "secret": base64.b64encode(key.secret).decode(),
    }


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda p: "not json {", "not JSON"),
        (lambda p: {**p, "format": "something-else"}, "format tag"),
        (lambda p: {**p, "version": 99}, "version 99"),
        (lambda p: {**p, "secret": "%%%"}, "base64"),
        (lambda p: {**p, "secret": base64.b64encode(b"short").decode()}, "at least 16"),
        (lambda p: {**p, "key_id": "0" * 16}, "does not match"),
    ],
)
def test_malformed_key_files_are_refused_with_a_fix(tmp_path: Path, change, message: str) -> None:
    path = _write(tmp_path / "bad.key", change(_valid_payload()))
    with pytest.raises(KeyFileError, match=message) as info:
        load_key(path)
    assert info.value.fix


def test_missing_key_file_names_keygen(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError) as info:
        load_key(tmp_path / "absent.key")
    assert "keygen" in info.value.fix


@pytest.mark.parametrize("n_bits", [1, 2, 7, 1000, 32768])
def test_permutation_is_a_permutation(n_bits: int) -> None:
    perm = generate_key().permutation(n_bits)
    assert perm.dtype == np.int64 and perm.shape == (n_bits,)
    assert np.array_equal(np.sort(perm), np.arange(n_bits))


def test_permutation_depends_on_the_key_only_and_is_read_only() -> None:
    key = generate_key()
    again = ConsortiumKey(key.secret)
    assert np.array_equal(key.permutation(4096), again.permutation(4096))
    other = generate_key().permutation(4096)
    assert np.mean(other == key.permutation(4096)) < 0.01  # a random pair agrees on ~1/n
    with pytest.raises(ValueError):
        key.permutation(16)[0] = 3


def test_permutation_of_two_follows_the_hmac_counter_stream() -> None:
    # Independent derivation of the spec: word 0 of HMAC(secret, label || counter 0) decides
    # the single Fisher-Yates swap of a 2-element permutation.
    block = hmac.new(FIXED.secret, b"fedqsar/bit-permutation/v1/2" + (0).to_bytes(8, "big"), hashlib.sha256).digest()
    j = int.from_bytes(block[:8], "big") % 2
    expected = [0, 1] if j == 1 else [1, 0]
    assert FIXED.permutation(2).tolist() == expected


def test_permutation_known_answer_pins_the_format_across_versions() -> None:
    # Partners running different fedqsar versions must derive the same columns: this vector
    # was produced by the first release of the algorithm; change it only with a new label.
    assert FIXED.permutation(16).tolist() == [11, 15, 7, 9, 13, 2, 10, 1, 5, 3, 0, 8, 6, 12, 14, 4]


def test_permutations_of_three_are_uniform_over_keys() -> None:
    counts = Counter(tuple(ConsortiumKey(bytes([i % 256, i // 256]) * 16).permutation(3)) for i in range(1200))
    assert len(counts) == 6
    assert all(140 < c < 260 for c in counts.values()), counts  # expected 200 each


def test_fold_of_is_deterministic_balanced_and_keyed() -> None:
    texts = [f"scaffold-{i}" for i in range(1000)]
    key, other = generate_key(), generate_key()
    folds = np.array([key.fold_of(t, 5) for t in texts])
    assert folds.min() == 0 and folds.max() == 4
    assert np.all(np.bincount(folds, minlength=5) > 120)  # expected 200 each
    assert [ConsortiumKey(key.secret).fold_of(t, 5) for t in texts] == folds.tolist()
    other_folds = np.array([other.fold_of(t, 5) for t in texts])
    assert 0.1 < np.mean(other_folds == folds) < 0.3  # independent keys agree ~1/5 of the time
    with pytest.raises(ValueError):
        key.fold_of("x", 0)


def test_short_secrets_are_refused() -> None:
    with pytest.raises(KeyFileError):
        ConsortiumKey(b"too short")
