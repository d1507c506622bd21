"""Difficulty estimates: larger where neighbours disagree or are far."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from fedqsar.trust.difficulty import DifficultyInputs, distance, knn_spread


def _rows(bit_sets: list[list[int]], n_bits: int = 64) -> sp.csr_matrix:
    dense = np.zeros((len(bit_sets), n_bits), dtype=np.float32)
    for i, bits in enumerate(bit_sets):
        dense[i, bits] = 1.0
    return sp.csr_matrix(dense)


def test_knn_spread_is_larger_where_neighbours_disagree_and_where_none_are_close() -> None:
    calm = [[0, 1, 2, 3, i] for i in range(10, 15)]  # series A: values all 5.0
    cliff = [[20, 21, 22, 23, i] for i in range(30, 35)]  # series B: values 4 or 8
    reference = _rows(calm + cliff)
    values = np.array([5.0] * 5 + [4.0, 8.0, 4.0, 8.0, 4.0])
    queries = _rows([[0, 1, 2, 3, 16], [20, 21, 22, 23, 36], [50, 51, 52, 53]])
    inputs = DifficultyInputs(
        queries, np.array([0.6, 0.6, 0.0]), reference, values, k=5, beta=0.05, max_block_bytes=10**6
    )
    sigma = knn_spread(inputs)
    assert sigma[1] > sigma[0] + 1.5  # cliff series: spread ~2
    assert sigma[2] > sigma[0] + 0.5  # no neighbours with shared bits: distance term 1
    np.testing.assert_allclose(distance(inputs), [0.45, 0.45, 1.05])


def test_knn_spread_falls_back_to_distance_without_reference_values() -> None:
    queries = _rows([[0, 1], [2, 3]])
    inputs = DifficultyInputs(queries, np.array([0.5, 0.2]), _rows([[0, 1]]), np.array([3.0]), 5, 0.05, 10**6)
    np.testing.assert_allclose(knn_spread(inputs), distance(inputs))
