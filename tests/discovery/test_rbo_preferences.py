"""RBO against Webber et al.'s formula; preference lists, tie rules and rank fusion."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from finerouter.discovery.preferences import (
    fuse_rankings,
    preference_lists,
    ranks_from_lists,
    tie_order,
)
from finerouter.discovery.rbo import rbo_edges, rbo_reference


def test_reference_rbo_known_values() -> None:
    assert rbo_reference("abcd", "abcd", 0.9) == pytest.approx(1.0)
    # k = 2, S = ab, T = ba: X_1 = 0, X_2 = 2 -> RBO = 2/2 p^2 + (1-p)/p (0 + 2/2 p^2) = p^2 + (1-p) p
    assert rbo_reference("ab", "ba", 0.9) == pytest.approx(0.81 + 0.09)
    # Disjoint prefixes push the score down; the top of the list weighs most.
    assert rbo_reference("abcd", "abdc", 0.9) > rbo_reference("abcd", "bacd", 0.9)


@pytest.mark.parametrize("p", [0.5, 0.9, 0.98])
def test_vectorised_rbo_equals_direct_formula_on_all_pairs_of_small_lists(p: float) -> None:
    lists = np.array(list(itertools.permutations(range(4))))  # all 24 orderings of 4 models
    ranks = ranks_from_lists(lists)
    src, dst = np.array(list(itertools.product(range(24), repeat=2))).T
    fast = rbo_edges(ranks, src, dst, p, chunk=100)  # several chunks
    slow = [rbo_reference(list(lists[a]), list(lists[b]), p) for a, b in zip(src, dst, strict=True)]
    np.testing.assert_allclose(fast, slow, atol=1e-12)


def test_vectorised_rbo_random_lists_many_models() -> None:
    rng = np.random.default_rng(0)
    lists = np.array([rng.permutation(29) for _ in range(200)])
    ranks = ranks_from_lists(lists)
    src, dst = rng.integers(0, 200, 500), rng.integers(0, 200, 500)
    expected = [rbo_reference(list(lists[a]), list(lists[b]), 0.9) for a, b in zip(src, dst, strict=True)]
    np.testing.assert_allclose(rbo_edges(ranks, src, dst, 0.9), expected, atol=1e-12)


def test_ties_broken_by_cost_then_mean_quality_then_name() -> None:
    models = ["zeta", "alpha", "beta", "gamma"]
    cost = np.array([1.0, 5.0, 1.0, 1.0])
    mean_q = np.array([0.5, 0.9, 0.5, 0.7])
    order = tie_order(models, cost, mean_q, ("cost", "mean_quality", "name"))
    # cheapest first (zeta, beta, gamma at 1.0): gamma has the higher mean quality, then beta < zeta by name
    assert [models[i] for i in order] == ["gamma", "beta", "zeta", "alpha"]
    assert [models[i] for i in tie_order(models, cost, mean_q, ("name",))] == ["alpha", "beta", "gamma", "zeta"]
    quality = np.array([[1.0, 1.0, 0.0, 1.0], [0.2, np.nan, 0.9, 0.2]])
    prefs = preference_lists(quality, order)
    assert [models[i] for i in prefs[0]] == ["gamma", "zeta", "alpha", "beta"]  # three tied at 1.0
    assert [models[i] for i in prefs[1]] == ["beta", "gamma", "zeta", "alpha"]  # missing outcome last
    assert (ranks_from_lists(prefs)[np.arange(2)[:, None], prefs] == np.arange(4)).all()


def test_reciprocal_rank_fusion() -> None:
    lists = np.array([[0, 1, 2], [0, 2, 1], [1, 0, 2], [2, 1, 0]])
    groups = np.array([0, 0, 0, 1])
    fused = fuse_rankings(ranks_from_lists(lists), groups, 2, k_rrf=60)
    # group 0: model 0 ranks 1,1,2 -> highest fused score; model 1 (2,3,1) beats model 2 (3,2,3)
    assert fused[0].tolist() == [0, 1, 2]
    assert fused[1].tolist() == [2, 1, 0]
