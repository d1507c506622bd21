"""Keyed, folded Morgan (ECFP) fingerprints as sparse rows.

A molecule's Morgan fingerprint (radius ``cfg.radius``; 3 = ECFP6) is folded by RDKit's
``rdFingerprintGenerator`` to ``cfg.n_bits`` bits (binary, or occurrence counts if
``cfg.counts``), then every folded bit ``b`` is moved to column ``permutation[b]`` where the
permutation comes from the consortium key (``ConsortiumKey.permutation``). Without the key
nobody can tell which substructures a column stands for.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
from rdkit import Chem, rdBase
from rdkit.Chem import rdFingerprintGenerator

from fedqsar.errors import ConfigError
from fedqsar.prep.config import FingerprintConfig

FINGERPRINT_KINDS: tuple[str, ...] = ("ecfp",)


def check_config(cfg: FingerprintConfig) -> None:
    """Raise ``ConfigError`` for an unknown kind or an impossible size/radius."""
    if cfg.kind not in FINGERPRINT_KINDS:
        raise ConfigError(f"unknown fingerprint kind {cfg.kind!r}", f"valid kinds are {list(FINGERPRINT_KINDS)}")
    if cfg.n_bits < 1 or cfg.radius < 0:
        raise ConfigError(
            f"fingerprint n_bits={cfg.n_bits}, radius={cfg.radius} are invalid",
            "use n_bits >= 1 (default 32768) and radius >= 0 (3 = ECFP6)",
        )


@functools.lru_cache(maxsize=8)
def generator_for(cfg: FingerprintConfig) -> Any:
    """The cached RDKit Morgan generator of ``cfg`` (one per process and config)."""
    check_config(cfg)
    return rdFingerprintGenerator.GetMorganGenerator(
        radius=cfg.radius, fpSize=cfg.n_bits, includeChirality=cfg.use_chirality
    )


def _as_mol(mol_or_smiles: Chem.Mol | str) -> Chem.Mol:
    if isinstance(mol_or_smiles, Chem.Mol):
        return mol_or_smiles
    with rdBase.BlockLogs():
        mol = Chem.MolFromSmiles(str(mol_or_smiles))
    if mol is None:
        raise ValueError(f"cannot parse SMILES {mol_or_smiles!r}; standardise structures first")
    return mol


def folded_bits(mol: Chem.Mol, cfg: FingerprintConfig) -> tuple[np.ndarray, np.ndarray]:
    """Folded, *unpermuted* bits and values of ``mol``: (int64[k] sorted, float32[k])."""
    counts = generator_for(cfg).GetCountFingerprint(mol).GetNonzeroElements()  # the bits set are those > 0
    bits = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
    if cfg.counts:
        values = np.fromiter(counts.values(), dtype=np.float32, count=len(counts))
    else:
        values = np.ones(len(counts), dtype=np.float32)
    order = np.argsort(bits)
    return bits[order], values[order]


def fingerprint_bits(
    mol_or_smiles: Chem.Mol | str, cfg: FingerprintConfig, permutation: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Keyed fingerprint of one (standardised) molecule.

    Parameters
    ----------
    mol_or_smiles
        An RDKit molecule or a SMILES (parsed as given, not standardised).
    permutation
        int64 (cfg.n_bits,) from ``ConsortiumKey.permutation(cfg.n_bits)``.

    Returns
    -------
    tuple
        ``bits`` int64 (k,) sorted column indices after permutation, and ``values``
        float32 (k,) -- 1.0, or occurrence counts if ``cfg.counts``.
    """
    if len(permutation) != cfg.n_bits:
        raise ValueError(f"permutation has {len(permutation)} entries, fingerprint has {cfg.n_bits} bits")
    bits, values = folded_bits(_as_mol(mol_or_smiles), cfg)
    permuted = permutation[bits]
    order = np.argsort(permuted)
    return permuted[order], values[order]


def bit_environments(
    smiles: Chem.Mol | str, cfg: FingerprintConfig, permutation: np.ndarray
) -> dict[int, list[tuple[int, int]]]:
    """Which atom environments set each keyed bit, for atom-level attributions.

    Returns
    -------
    dict
        permuted bit -> [(centre atom index, radius), ...], atom indices of the molecule as
        parsed from ``smiles`` (pass the standardised SMILES).
    """
    mol = _as_mol(smiles)
    output = rdFingerprintGenerator.AdditionalOutput()
    output.AllocateBitInfoMap()
    generator_for(cfg).GetFingerprint(mol, additionalOutput=output)
    return {
        int(permutation[bit]): [(int(atom), int(radius)) for atom, radius in environments]
        for bit, environments in output.GetBitInfoMap().items()
    }


def rows_to_csr(rows: Sequence[tuple[np.ndarray, np.ndarray] | None], n_bits: int) -> sp.csr_matrix:
    """Stack per-molecule ``(bits, values)`` into a CSR matrix; ``None`` gives an empty row.

    Returns
    -------
    scipy.sparse.csr_matrix
        float32, shape (len(rows), n_bits), sorted indices.
    """
    lengths = np.fromiter((0 if row is None else len(row[0]) for row in rows), dtype=np.int64, count=len(rows))
    indptr = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(lengths, out=indptr[1:])
    present = [row for row in rows if row is not None and len(row[0])]
    indices = np.concatenate([r[0] for r in present]) if present else np.zeros(0, dtype=np.int64)
    data = np.concatenate([r[1] for r in present]) if present else np.zeros(0, dtype=np.float32)
    matrix = sp.csr_matrix(
        (data.astype(np.float32, copy=False), indices.astype(np.int32, copy=False), indptr), shape=(len(rows), n_bits)
    )
    matrix.sort_indices()
    return matrix
