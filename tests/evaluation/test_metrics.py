"""Metrics on hand-computable cases."""

from __future__ import annotations

import numpy as np
import pytest

from finerouter.evaluation.metrics import (
    aiq,
    cost_to_reach,
    outcome_of,
    paired_bootstrap,
    quality_at_cost,
    upper_hull,
)


def test_outcome_of() -> None:
    q = np.array([[1.0, 0.0], [0.0, 1.0]])
    c = np.array([[3.0, 1.0], [3.0, 1.0]])
    assert outcome_of(np.array([0, 1]), q, c) == (1.0, 2.0)


def test_hull_aiq_and_derived_numbers_on_a_known_curve() -> None:
    # Points: (1, 0.4), (2, 0.5) under the chord, (3, 0.8), (4, 0.7) dominated.
    pts = np.array([[1, 0.4], [2, 0.5], [3, 0.8], [4, 0.7]])
    hull = upper_hull(pts)
    assert hull.tolist() == [[1, 0.4], [3, 0.8]]
    # Over [1, 4]: trapezoid 1..3 = (0.4 + 0.8) / 2 * 2 = 1.2, flat 3..4 = 0.8; total 2.0 / 3
    assert aiq(pts, 1.0, 4.0) == pytest.approx(2.0 / 3, abs=1e-4)
    # Over [0, 4]: nothing below cost 1 (0 quality): (0 + 1.2 + 0.8) / 4 = 0.5
    assert aiq(pts, 0.0, 4.0) == pytest.approx(0.5, abs=2e-3)
    assert quality_at_cost(pts, 2.0) == pytest.approx(0.6)
    assert cost_to_reach(pts, 0.6) == pytest.approx(2.0)
    assert cost_to_reach(pts, 0.3) == pytest.approx(1.0)
    assert cost_to_reach(pts, 0.9) is None


def test_paired_bootstrap_interval_covers_the_difference() -> None:
    rng = np.random.default_rng(0)
    a = rng.random(500) < 0.7
    b = rng.random(500) < 0.5
    ci = paired_bootstrap(a, b, seed=1)
    assert ci["ci_low"] < ci["mean"] < ci["ci_high"] and ci["ci_low"] > 0
    assert paired_bootstrap(a, a)["ci_high"] == 0.0


def test_paired_bootstrap_in_blocks_equals_one_matrix_of_draws(monkeypatch) -> None:
    import finerouter.evaluation.metrics as metrics

    rng = np.random.default_rng(4)
    a, b = rng.random(301), rng.random(301)
    draws = np.random.default_rng(7).integers(0, 301, size=(500, 301))
    means = (a - b)[draws].mean(axis=1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    monkeypatch.setattr(metrics, "BOOTSTRAP_CELLS", 1000)  # blocks of 3 resamples
    assert paired_bootstrap(a, b, n=500, seed=7) == {"mean": float((a - b).mean()), "ci_low": lo, "ci_high": hi}
