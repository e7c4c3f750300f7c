"""Exact nearest rows by inner product, block by block (never the whole queries x base matrix), and majority votes
over the neighbours' labels, vectorised."""

from __future__ import annotations

from itertools import pairwise

import numpy as np

BLOCK_CELLS = 1 << 25  # similarities held at once: 128 MiB of float32
# Every block has at least this many query rows (or all of them): BLAS takes other code paths (gemv, small-matrix
# kernels) for a few rows, and their sums may differ in the last bit from the whole product's.
MIN_BLOCK_ROWS = 256


def top_k_inner_product(queries: np.ndarray, base: np.ndarray, k: int, block_cells: int = BLOCK_CELLS) -> np.ndarray:
    """(n, k) indices of each query's k most similar base rows, best first, ties to the lower index:
    `np.argsort(-(queries @ base.T), axis=1, kind="stable")[:, :k]` with the same products, in query blocks."""
    k = min(k, len(base))
    out = np.empty((len(queries), k), dtype=np.int64)
    if k == 0 or len(queries) == 0:
        return out
    for start, stop in query_blocks(len(queries), max(MIN_BLOCK_ROWS, block_cells // len(base))):
        out[start:stop] = stable_top_k(-(queries[start:stop] @ base.T), k)
    return out


def query_blocks(n: int, rows: int) -> list[tuple[int, int]]:
    """[start, stop) blocks of `rows` rows; a last block shorter than MIN_BLOCK_ROWS joins the one before it."""
    bounds = [*range(0, n, rows), n]
    if len(bounds) > 2 and n - bounds[-2] < MIN_BLOCK_ROWS:
        del bounds[-2]
    return list(pairwise(bounds))


def stable_top_k(keys: np.ndarray, k: int) -> np.ndarray:
    """Per row, the positions of the k smallest keys in ascending order, ties to the lower position (what a stable
    argsort puts first), in O(width) per row rather than a full sort."""
    n, width = keys.shape
    if k >= width:
        return np.argsort(keys, axis=1, kind="stable")[:, :k]
    bound = np.partition(keys, k - 1, axis=1)[:, k - 1 : k]
    below = keys < bound
    tied = keys == bound
    room = k - below.sum(axis=1)
    chosen = below | tied
    crowded = np.flatnonzero(tied.sum(axis=1) > room)  # more ties at the bound than places left: lowest first
    if len(crowded):
        chosen[crowded] = below[crowded] | (tied[crowded] & (np.cumsum(tied[crowded], axis=1) <= room[crowded, None]))
    cols = np.nonzero(chosen)[1].reshape(n, k)
    order = np.argsort(np.take_along_axis(keys, cols, axis=1), axis=1, kind="stable")
    return np.take_along_axis(cols, order, axis=1)


def _vote_counts(votes: np.ndarray) -> np.ndarray:
    """(n, k): how often each row's j-th vote occurs in that row."""
    return (votes[:, :, None] == votes[:, None, :]).sum(axis=2)


def majority_nearest(votes: np.ndarray) -> np.ndarray:
    """Per row, the most common value; ties go to the tied value that comes first in the row (the nearest)."""
    counts = _vote_counts(votes)
    first = np.argmax(counts == counts.max(axis=1, keepdims=True), axis=1)
    return votes[np.arange(len(votes)), first]


def majority_smallest(votes: np.ndarray) -> np.ndarray:
    """Per row, the most common value; ties go to the smallest tied value (what `np.bincount(row).argmax()` gives)."""
    counts = _vote_counts(votes)
    top = counts == counts.max(axis=1, keepdims=True)
    return np.where(top, votes, votes.max(axis=1, keepdims=True)).min(axis=1)
