"""Before any training: do all partners' PreparedSets fit together?

Each partner answers the server's handshake with ``handshake_summary(manifest, n_bits)``: its
compatibility profile (``fedqsar.compatibility.profile``: settings and hashes only - prep
hashes, key id, fingerprint settings, format version, library versions) plus the manifest's
own sha256; the client adds its name and training example count, which its updates reveal
anyway. No compound, label or task name is in it. The server compares all summaries with
``check_compatible``, the same validator evaluation and ``manifest-diff`` use.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fedqsar.compatibility import check_partners, profile
from fedqsar.hashing import hash_json

LOGGER = logging.getLogger("fedqsar.federation")


def handshake_summary(manifest: Mapping[str, Any], n_bits: int) -> dict[str, str | int]:
    """The settings a partner reveals before federating (all scalars, Flower-config safe)."""
    return {**profile(manifest, n_bits), "manifest_sha256": hash_json(dict(manifest))}


def check_compatible(summaries: Mapping[str, Mapping[str, Any]]) -> None:
    """Raise unless every partner's summary agrees on every blocking field; log the warnings.

    Raises
    ------
    IncompatiblePartnersError
        Naming the first partner that differs from the first one, each differing field and
        both values.
    """
    for name, difference in check_partners(summaries):
        LOGGER.warning("partner %s: %s", name, difference.describe())
