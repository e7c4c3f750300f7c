"""One decision rule: the evaluation's choice is the shipped Router's, on random scores with ties and gaps."""

from __future__ import annotations

import numpy as np
import pytest

from finerouter.evaluation import harness
from finerouter.routing.bundle import BundleParts, read_bundle
from finerouter.routing.router import Router
from finerouter.routing.rule import choose_tolerance, choose_willingness
from tests.routing.factory import make_bundle, synthetic_run


@pytest.fixture(scope="module")
def router(tmp_path_factory) -> Router:
    """A real Router whose first two models cost the same (a cost tie is broken by score, then by order)."""
    parts = read_bundle(make_bundle(tmp_path_factory.mktemp("b") / "bundle", synthetic_run(n_prompts=300)))
    first, second = parts.meta.models[:2]
    tied = {**parts.meta.model_cost, second: parts.meta.model_cost[first]}
    return Router(BundleParts(parts.meta.with_updates(model_cost=tied), parts.tensors, parts.tasks))


def random_scores(rng: np.random.Generator, rows: int, models: int) -> np.ndarray:
    """Scores on a coarse grid (many exact ties), some models not offered (NaN), never a whole row."""
    scores = rng.integers(0, 6, size=(rows, models)) / 5.0
    hidden = rng.random((rows, models)) < 0.2
    hidden[np.arange(rows), rng.integers(0, models, rows)] = False
    return np.where(hidden, np.nan, scores)


def test_the_evaluated_choice_is_the_routers(router) -> None:
    rng = np.random.default_rng(0)
    models = len(router.models)
    cost = np.array([router.model_cost[m] for m in router.models], dtype=float)
    for _ in range(50):
        scores = random_scores(rng, 64, models)
        expected_cost = np.where(np.isnan(scores), np.nan, np.broadcast_to(cost, scores.shape))
        for tau in (0.0, 0.2, 0.4, 1.0):
            chosen = router.choose(scores, tau)
            np.testing.assert_array_equal(harness.CHOOSERS["tau"](scores, expected_cost, tau), chosen)
            np.testing.assert_array_equal(choose_tolerance(scores, cost, tau), chosen)
        for lam in (0.0, 0.2, 1.0, 5.0):
            chosen = router.choose_willingness(scores, lam)
            np.testing.assert_array_equal(choose_willingness(scores, cost, lam), chosen)
            if np.nanmax(expected_cost) == np.nanmax(cost):  # the evaluation scales by the dearest offered model
                np.testing.assert_array_equal(harness.CHOOSERS["lambda"](scores, expected_cost, lam), chosen)


def test_the_rule_on_a_worked_example() -> None:
    scores = np.array([[0.9, 0.85, 0.5], [0.7, np.nan, 0.7]])
    cost = np.array([3.0, 1.0, 0.5])
    assert choose_tolerance(scores, cost, 0.0).tolist() == [0, 2]  # equal top scores: the cheaper
    assert choose_tolerance(scores, cost, 0.05).tolist() == [1, 2]
    assert choose_tolerance(scores, cost, 0.5).tolist() == [2, 2]
    assert choose_willingness(scores, cost, 0.0).tolist() == [0, 0]  # equal utilities: the first
    assert choose_willingness(scores, cost, 0.3).tolist() == [1, 2]  # 0.9 - 0.3 < 0.85 - 0.1


def test_tolerance_with_per_prompt_costs_picks_the_cheapest_model_within_tau() -> None:
    scores = np.array([[0.9, 0.85, 0.5], [0.2, 0.9, np.nan]])
    cost = np.array([[10.0, 2.0, 1.0], [1.0, 5.0, 0.1]])
    assert choose_tolerance(scores, cost, 0.0).tolist() == [0, 1]
    assert choose_tolerance(scores, cost, 0.05).tolist() == [1, 1]
    assert choose_tolerance(scores, cost, 0.5).tolist() == [2, 1]  # NaN score never chosen
    assert choose_tolerance(scores, cost, 1.0).tolist() == [2, 0]


def test_willingness_to_pay_with_per_prompt_costs() -> None:
    scores = np.array([[0.9, 0.8]])
    cost = np.array([[10.0, 1.0]])
    assert choose_willingness(scores, cost, 0.0).tolist() == [0]
    assert choose_willingness(scores, cost, 0.2).tolist() == [1]  # 0.9 - 0.2 < 0.8 - 0.02


@pytest.mark.parametrize("willingness", [0.0, 0.5])
def test_a_model_of_unknown_cost_is_never_preferred_for_its_cost(willingness: float) -> None:
    scores = np.array([[0.9, 0.5], [0.4, 0.8]])
    cost = np.array([np.nan, 1.0])
    # at willingness 0 the better score wins whatever its cost; above it the unknown cost counts as the dearest
    expected = [0, 1] if willingness == 0 else [1, 1]
    assert choose_willingness(scores, cost, willingness).tolist() == expected
    assert choose_tolerance(scores, cost, 0.0).tolist() == [0, 1]
