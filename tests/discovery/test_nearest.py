"""Blockwise exact top-k and vectorised votes equal the dense computations they replace."""

from __future__ import annotations

import numpy as np
import pytest

from finerouter.discovery import nearest
from finerouter.discovery.nearest import (
    majority_nearest,
    majority_smallest,
    query_blocks,
    stable_top_k,
    top_k_inner_product,
)


def _integer_vectors(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    """Small integers: every product is exact whatever the BLAS path, and duplicates make ties."""
    x = rng.integers(-2, 3, size=(n, dim)).astype(np.float32)
    x[rng.integers(0, n, n // 3)] = x[rng.integers(0, n, n // 3)]
    return x


@pytest.mark.parametrize("k", [1, 3, 10, 57, 500])
def test_top_k_equals_the_dense_stable_argsort_in_any_blocks(k: int, monkeypatch) -> None:
    monkeypatch.setattr(nearest, "MIN_BLOCK_ROWS", 1)
    rng = np.random.default_rng(k)
    base, queries = _integer_vectors(rng, 211, 6), _integer_vectors(rng, 97, 6)
    dense = np.argsort(-(queries @ base.T), axis=1, kind="stable")[:, : min(k, len(base))]
    for cells in (1, 500, 5000, 10**6):
        assert np.array_equal(top_k_inner_product(queries, base, k, block_cells=cells), dense)


def test_top_k_on_unit_vectors_in_one_block() -> None:
    rng = np.random.default_rng(0)
    base = rng.normal(size=(300, 16)).astype(np.float32)
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    queries = np.vstack([rng.normal(size=(40, 16)).astype(np.float32), base[:5]])
    dense = np.argsort(-(queries @ base.T), axis=1, kind="stable")[:, :10]
    assert np.array_equal(top_k_inner_product(queries, base, 10), dense)
    assert top_k_inner_product(queries[:0], base, 10).shape == (0, 10)


def test_stable_top_k_with_many_ties() -> None:
    keys = np.random.default_rng(1).integers(0, 3, size=(60, 40)).astype(np.float64)
    for k in (1, 7, 39, 40):
        assert np.array_equal(stable_top_k(keys, k), np.argsort(keys, axis=1, kind="stable")[:, :k])


def test_query_blocks_cover_every_row_and_never_end_short(monkeypatch) -> None:
    monkeypatch.setattr(nearest, "MIN_BLOCK_ROWS", 4)
    assert query_blocks(10, 4) == [(0, 4), (4, 10)]
    assert query_blocks(12, 4) == [(0, 4), (4, 8), (8, 12)]
    assert query_blocks(3, 4) == [(0, 3)]


def _nearest_first_reference(votes: np.ndarray) -> np.ndarray:
    out = []
    for row in votes:
        values, counts = np.unique(row, return_counts=True)
        winners = set(values[counts == counts.max()])
        out.append(next(v for v in row if v in winners))
    return np.array(out)


def test_majority_votes_equal_the_per_row_loops() -> None:
    votes = np.random.default_rng(2).integers(-1, 5, size=(400, 10))
    assert np.array_equal(majority_nearest(votes), _nearest_first_reference(votes))
    smallest = np.array([np.bincount(v - v.min()).argmax() + v.min() for v in votes])
    assert np.array_equal(majority_smallest(votes), smallest)
