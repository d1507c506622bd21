"""The consortium key: a secret shared by the partners only, never by the server.

Everything keyed in preparation derives from it with HMAC-SHA256 under a distinct label:

- the fingerprint bit permutation (``ConsortiumKey.permutation``), so that the server
  cannot map trunk weights back to substructures;
- the scaffold folds (``ConsortiumKey.fold_of``), identical in every partner holding the
  same key, without revealing any scaffold;
- the public key id (``ConsortiumKey.key_id``), which partners may show and compare to check
  that they hold the same key.

The permutation is built from an HMAC-SHA256 counter-mode byte stream and a Fisher-Yates
shuffle written here, so it depends only on the key and the bit count -- never on the
stability of a library's random number stream.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from fedqsar.errors import KeyFileError

KEY_FILE_FORMAT = "fedqsar-consortium-key"
KEY_FILE_VERSION = 1
SECRET_BYTES = 32
MIN_SECRET_BYTES = 16

_LABEL_KEY_ID = b"fedqsar/key-id/v1"
_LABEL_PERMUTATION = b"fedqsar/bit-permutation/v1/"
_LABEL_FOLD = b"fedqsar/fold/v1/"


@dataclass(frozen=True)
class ConsortiumKey:
    """A consortium secret and the keyed functions derived from it.

    Parameters
    ----------
    secret
        At least 16 random bytes (``generate_key`` makes 32). Never shown by ``repr``.
    """

    secret: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.secret, bytes) or len(self.secret) < MIN_SECRET_BYTES:
            raise KeyFileError(
                f"a consortium secret must be at least {MIN_SECRET_BYTES} bytes",
                "create a key with `fedqsar keygen --out consortium.key`",
            )

    @property
    def key_id(self) -> str:
        """Public 16-hex-digit id: equal ids mean equal keys; it reveals nothing of the secret."""
        return _hmac(self.secret, _LABEL_KEY_ID)[:8].hex()

    def __repr__(self) -> str:
        return f"ConsortiumKey(key_id={self.key_id!r})"

    def permutation(self, n_bits: int) -> np.ndarray:
        """Keyed permutation of ``range(n_bits)``.

        Returns
        -------
        np.ndarray
            int64, shape (n_bits,), read-only: folded bit ``b`` becomes column ``perm[b]``.
        """
        return _permutation(self.secret, int(n_bits))

    def fold_of(self, text: str, n_folds: int) -> int:
        """Fold in ``[0, n_folds)`` of ``text`` (e.g. a generic scaffold), from its HMAC."""
        if n_folds < 1:
            raise ValueError(f"n_folds must be >= 1, got {n_folds}")
        digest = _hmac(self.secret, _LABEL_FOLD + text.encode("utf-8"))
        return int.from_bytes(digest[:8], "big") % n_folds


def _hmac(secret: bytes, message: bytes) -> bytes:
    return hmac.new(secret, message, hashlib.sha256).digest()


def _hmac_words(secret: bytes, label: bytes) -> Iterator[int]:
    """Endless stream of 64-bit words: HMAC-SHA256(secret, label || counter), 4 words a block."""
    counter = 0
    while True:
        block = _hmac(secret, label + counter.to_bytes(8, "big"))
        counter += 1
        for start in range(0, 32, 8):
            yield int.from_bytes(block[start : start + 8], "big")


def _uniform_below(words: Iterator[int], bound: int) -> int:
    """Unbiased integer in ``[0, bound)`` from 64-bit words (rejection sampling)."""
    limit = (1 << 64) - ((1 << 64) % bound)
    while True:
        word = next(words)
        if word < limit:
            return word % bound


@functools.lru_cache(maxsize=8)
def _permutation(secret: bytes, n_bits: int) -> np.ndarray:
    if n_bits < 1:
        raise ValueError(f"n_bits must be >= 1, got {n_bits}")
    words = _hmac_words(secret, _LABEL_PERMUTATION + str(n_bits).encode("ascii"))
    perm = list(range(n_bits))
    for i in range(n_bits - 1, 0, -1):  # Fisher-Yates
        j = _uniform_below(words, i + 1)
        perm[i], perm[j] = perm[j], perm[i]
    out = np.asarray(perm, dtype=np.int64)
    out.setflags(write=False)
    return out


def generate_key() -> ConsortiumKey:
    """A fresh consortium key of 32 bytes from the operating system's CSPRNG."""
    return ConsortiumKey(secrets.token_bytes(SECRET_BYTES))


def save_key(key: ConsortiumKey, path: Path, *, overwrite: bool = False) -> None:
    """Write ``key`` as a small JSON file readable only by its owner (mode 0600).

    Raises
    ------
    KeyFileError
        If ``path`` exists and ``overwrite`` is false (a lost key cannot be recovered).
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise KeyFileError(
            f"key file {path} already exists; overwriting it would lose that consortium key",
            "choose another path, or pass overwrite=True / --force if you really mean it",
        )
    payload = {
        "format": KEY_FILE_FORMAT,
        "version": KEY_FILE_VERSION,
        "key_id": key.key_id,
        "secret": base64.b64encode(key.secret).decode("ascii"),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        os.fchmod(handle.fileno(), 0o600)
        json.dump(payload, handle, indent=2)
        handle.write("\n")


def load_key(path: Path, *, allow_open: bool = False) -> ConsortiumKey:
    """Read a key written by ``save_key`` (or ``fedqsar keygen``).

    Parameters
    ----------
    allow_open
        Accept a key file that group or others may read (a container mount that cannot keep
        file modes); by default such a file is refused.

    Raises
    ------
    KeyFileError
        If the file is missing, readable by group or others (unless ``allow_open``), not
        JSON, of another format or version, or its secret is damaged (its stored key id no
        longer matches).
    """
    path = Path(path)
    fix_new = "ask the consortium for the key file, or create one with `fedqsar keygen --out FILE`"
    if not path.is_file():
        raise KeyFileError(f"consortium key file {path} does not exist", fix_new)
    mode = path.stat().st_mode & 0o777
    if mode & 0o077 and not allow_open:
        raise KeyFileError(
            f"consortium key file {path} has mode {mode:04o}: group or others can read it, and the key "
            "un-permutes every partner's fingerprint bits",
            f"chmod 600 {path}  (or pass --allow-open-key where a container's mount cannot keep file modes)",
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise KeyFileError(f"{path} is not a fedqsar key file (not JSON: {exc})", fix_new) from exc
    if not isinstance(data, dict) or data.get("format") != KEY_FILE_FORMAT:
        raise KeyFileError(f"{path} is not a fedqsar key file (format tag missing)", fix_new)
    if data.get("version") != KEY_FILE_VERSION:
        raise KeyFileError(
            f"{path} is a key file of version {data.get('version')!r}; this fedqsar reads version {KEY_FILE_VERSION}",
            "upgrade fedqsar to the version the consortium uses",
        )
    return _key_from_payload(data, path)


def _key_from_payload(data: dict, path: Path) -> ConsortiumKey:
    try:
        secret = base64.b64decode(str(data.get("secret", "")), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise KeyFileError(
            f"{path}: the secret is not valid base64", "restore the file from the consortium's copy"
        ) from exc
    if len(secret) < MIN_SECRET_BYTES:
        raise KeyFileError(
            f"{path}: the secret has {len(secret)} bytes, at least {MIN_SECRET_BYTES} are needed",
            "restore the file from the consortium's copy",
        )
    key = ConsortiumKey(secret)
    if data.get("key_id") != key.key_id:
        raise KeyFileError(
            f"{path}: stored key id {data.get('key_id')!r} does not match the secret ({key.key_id})",
            "the file was edited or damaged; restore it from the consortium's copy",
        )
    return key
