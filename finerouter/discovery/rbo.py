"""Rank-Biased Overlap (Webber, Moffat & Zobel 2010), extrapolated form, vectorised over edges."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def rbo_reference(s: Sequence, t: Sequence, p: float) -> float:
    """Direct implementation of RBO_ext (Webber et al. eq. 32) for two lists of equal length k:

    RBO_ext = X_k / k * p^k + (1 - p) / p * sum_{d=1..k} X_d / d * p^d,  X_d = |S[:d] ∩ T[:d]|.
    """
    if len(s) != len(t):
        raise ValueError("rbo_reference handles lists of equal length")
    k = len(s)
    total = 0.0
    for d in range(1, k + 1):
        total += len(set(s[:d]) & set(t[:d])) / d * p**d
    return len(set(s) & set(t)) / k * p**k + (1 - p) / p * total


def rbo_edges(ranks: np.ndarray, src: np.ndarray, dst: np.ndarray, p: float, chunk: int = 1 << 19) -> np.ndarray:
    """RBO_ext of the full preference lists of src[e] and dst[e] for every edge e, without a Python pair loop.

    With positions r_a, r_b of every model, a model is in both depth-d prefixes iff max(r_a, r_b) < d, so
    X_d is the cumulative histogram of max(r_a, r_b) over models.
    """
    n_models = ranks.shape[1]
    depths = np.arange(1, n_models + 1, dtype=np.float64)
    coef = (1 - p) / p * p**depths / depths
    out = np.empty(len(src), dtype=np.float64)
    for start in range(0, len(src), chunk):
        a, b = src[start : start + chunk], dst[start : start + chunk]
        deepest = np.maximum(ranks[a], ranks[b]).astype(np.int64)  # (E, M)
        hist = np.zeros((len(a), n_models), dtype=np.int32)
        rows = np.arange(len(a))
        for j in range(n_models):
            hist[rows, deepest[:, j]] += 1
        overlap = np.cumsum(hist, axis=1)  # X_d for d = 1..M
        out[start : start + chunk] = overlap @ coef + overlap[:, -1] / n_models * p**n_models
    return out
