"""Tanimoto k-NN: exact against a brute-force reference, bounded blocks, monotone score."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from fedqsar.trust.domain import choose_thresholds, embedding_knn_distance, tanimoto_knn


def _random_fingerprints(rng: np.random.Generator, n: int, n_bits: int = 256, density: float = 0.08) -> sp.csr_matrix:
    dense = (rng.random((n, n_bits)) < density).astype(np.float32)
    dense[0] = 0.0  # one empty fingerprint
    return sp.csr_matrix(dense * rng.integers(1, 4, size=dense.shape))  # counts: binarised inside


def _brute_force(query: np.ndarray, ref: np.ndarray) -> np.ndarray:
    q, r = query > 0, ref > 0
    sims = np.zeros((len(q), len(r)))
    for i, a in enumerate(q):
        for j, b in enumerate(r):
            union = np.logical_or(a, b).sum()
            sims[i, j] = np.logical_and(a, b).sum() / union if union else 0.0
    return sims


def test_matches_brute_force_with_tiny_blocks() -> None:
    rng = np.random.default_rng(0)
    query, ref = _random_fingerprints(rng, 30), _random_fingerprints(rng, 80)
    expected = np.sort(_brute_force(query.toarray(), ref.toarray()), axis=1)[:, ::-1][:, :4]
    for block_bytes in (1, 4 * 80 * 7, 10**9):  # 1 row, 7 rows, everything per block
        sims, idx = tanimoto_knn(query, ref, k=4, max_block_bytes=block_bytes)
        np.testing.assert_allclose(sims, expected, atol=1e-6)
        full = _brute_force(query.toarray(), ref.toarray())
        np.testing.assert_allclose(np.take_along_axis(full, idx, axis=1), sims, atol=1e-6)


def test_exclude_self_is_leave_one_out() -> None:
    rng = np.random.default_rng(1)
    ref = _random_fingerprints(rng, 40)
    sims, idx = tanimoto_knn(ref, ref, k=3, exclude_self=True)
    assert not np.any(idx == np.arange(40)[:, None])
    sims_with_self, idx_with_self = tanimoto_knn(ref, ref, k=1)
    nonempty = np.diff(ref.indptr) > 0
    assert np.allclose(sims_with_self[nonempty, 0], 1.0)


def test_similarity_score_is_monotone_when_bits_are_removed() -> None:
    """Dropping more and more of a training compound's bits lowers its similarity step by step."""
    rng = np.random.default_rng(2)
    ref = _random_fingerprints(rng, 50, density=0.2)
    base = ref[5].toarray()[0] > 0
    on = np.flatnonzero(base)
    rows = []
    for n_removed in range(0, len(on), 3):
        row = base.copy()
        row[on[:n_removed]] = False
        rows.append(row)
    sims, _ = tanimoto_knn(sp.csr_matrix(np.array(rows, dtype=np.float32)), ref, k=1)
    assert sims[0, 0] == 1.0
    assert np.all(np.diff(sims[:, 0]) <= 1e-7)


def test_embedding_distance_matches_brute_force() -> None:
    rng = np.random.default_rng(3)
    E_ref, E_query = rng.normal(size=(60, 8)), rng.normal(size=(20, 8))
    dist = np.linalg.norm(E_query[:, None, :] - E_ref[None, :, :], axis=2)
    expected = np.sort(dist, axis=1)[:, :3].mean(axis=1)
    np.testing.assert_allclose(
        embedding_knn_distance(E_query, E_ref, k=3, max_block_bytes=4 * 60 * 6), expected, rtol=1e-4
    )


def test_thresholds_flag_the_requested_share_of_calibration_compounds() -> None:
    rng = np.random.default_rng(4)
    sims, dist = rng.uniform(0.2, 0.9, 1000), rng.gamma(2.0, 1.0, 1000)
    thresholds = choose_thresholds(sims, dist, quantile=0.05)
    flag = thresholds.in_domain(sims, dist / thresholds.embedding_scale)
    assert 0.88 <= flag.mean() <= 0.92
    assert thresholds.in_domain(np.array([0.99]), np.array([0.0]))[0]
    assert not thresholds.in_domain(np.array([0.0]), np.array([0.0]))[0]
