"""Summary-level links judged on members' own preference lists: merge two communities only without dilution.

The paper links community nodes by the RBO of their RRF-fused lists. On binary (0/1) quality a fused list
regresses to the global model order as a community grows, so fused lists of unrelated communities agree and the
summary levels merge them. The `member_rbo` rule asks instead whether the members agree: two linked communities
merge only when the mean RBO between members across them is at least each community's own mean member-to-member
RBO (one-member communities: the prompt-level threshold), so a merge dilutes the agreement of neither. Taking the
lower of the two instead let chains of merges dilute tasks on MMLU-Pro (28 instead of 129 tasks, within-task RBO
0.586 instead of 0.622; docs/benchmarks.md).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from finerouter.discovery.graph import Edges, minmax
from finerouter.discovery.rbo import rbo_edges


def member_index(labels: np.ndarray, n_groups: int) -> tuple[np.ndarray, np.ndarray]:
    """Prompt indices sorted by group, and each group's [start, end) bounds in that order."""
    order = np.argsort(labels, kind="stable")
    return order, np.searchsorted(labels[order], np.arange(n_groups + 1))


def _sample(order: np.ndarray, bounds: np.ndarray, groups: np.ndarray, pairs: int, rng) -> np.ndarray:
    start, size = bounds[groups], bounds[groups + 1] - bounds[groups]
    return order[start[:, None] + (rng.random((len(groups), pairs)) * size[:, None]).astype(np.int64)]


def cross_member_rbo(
    ranks: np.ndarray, order: np.ndarray, bounds: np.ndarray, a: np.ndarray, b: np.ndarray, pairs: int, p: float, rng
) -> np.ndarray:
    """Per link (a[e], b[e]), the mean RBO between `pairs` random members of a[e] and of b[e]."""
    if len(a) == 0:
        return np.zeros(0)
    left, right = _sample(order, bounds, a, pairs, rng), _sample(order, bounds, b, pairs, rng)
    return rbo_edges(ranks, left.ravel(), right.ravel(), p).reshape(len(a), pairs).mean(axis=1)


def within_member_rbo(
    ranks: np.ndarray, order: np.ndarray, bounds: np.ndarray, pairs: int, p: float, singleton: float, rng
) -> np.ndarray:
    """Per group, the mean RBO between random pairs of distinct members; `singleton` for one-member groups."""
    sizes = np.diff(bounds)
    out = np.full(len(sizes), singleton, dtype=np.float64)
    groups = np.flatnonzero(sizes >= 2)
    if len(groups) == 0:
        return out
    left, right = _sample(order, bounds, groups, pairs, rng), _sample(order, bounds, groups, pairs, rng)
    rbo = rbo_edges(ranks, left.ravel(), right.ravel(), p).reshape(len(groups), pairs)
    distinct = (left != right).astype(np.float64)
    counted = distinct.sum(axis=1)
    mean = (rbo * distinct).sum(axis=1) / np.maximum(counted, 1)
    out[groups] = np.where(counted > 0, mean, singleton)
    return out


def member_rbo_graph(
    src: np.ndarray,
    dst: np.ndarray,
    cosine: np.ndarray,
    ranks: np.ndarray,
    community: np.ndarray,
    n_groups: int,
    singleton_floor: float,
    p: float,
    pairs: int,
    seed: int,
) -> tuple[Edges, dict[str, Any]]:
    """Keep links that dilute neither community's agreement; weight = sqrt(minmax(cos) * minmax(member RBO))."""
    rng = np.random.default_rng(seed)
    order, bounds = member_index(community, n_groups)
    within = within_member_rbo(ranks, order, bounds, pairs, p, singleton_floor, rng)
    cross = cross_member_rbo(ranks, order, bounds, src, dst, pairs, p, rng)
    keep = cross >= np.maximum(within[src], within[dst])
    src, dst, cosine, cross = src[keep], dst[keep], cosine[keep], cross[keep]
    weight = np.sqrt(minmax(cosine) * minmax(cross))
    positive = weight > 0
    edges = Edges(src[positive], dst[positive], weight[positive], cosine[positive], cross[positive])
    stats = {
        "candidate_edges": len(keep),
        "rule": "member_rbo",
        "singleton_floor": round(singleton_floor, 4),
        "kept_edges": len(edges),
        "dropped_diluting": int((~keep).sum()),
        "dropped_zero_weight": int((~positive).sum()),
        "mean_within_rbo": round(float(within.mean()), 4) if len(within) else 0.0,
    }
    return edges, stats
