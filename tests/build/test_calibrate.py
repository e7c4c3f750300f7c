"""Calibrating a bundle on dev: alpha and the heads chosen by the dev objective."""

from __future__ import annotations

import pytest

from finerouter.build.calibrate import calibrate
from finerouter.errors import ConfigError
from finerouter.routing.bundle import read_bundle
from tests.routing.factory import _subset


@pytest.mark.parametrize("objective", ["quality", "aiq"])
def test_alpha_auto_maximises_the_chosen_dev_objective(run, bundle, objective) -> None:
    parts = read_bundle(bundle)
    data = _subset(run.data, [run.data.models.index(m) for m in parts.meta.models])
    cal = calibrate(parts, data.dev, data.model_cost, alpha="auto", tolerance=0.0, target_cost=None,
                    alpha_objective=objective)  # fmt: skip
    best = max(row[objective] for row in cal["alpha_sweep"])
    chosen = next(row for row in cal["alpha_sweep"] if row["alpha"] == cal["alpha"])
    assert chosen[objective] == pytest.approx(best, abs=1e-9) and cal["alpha_objective"] == objective
    assert all(0.0 <= row["aiq"] <= 1.0 for row in cal["alpha_sweep"])
    with pytest.raises(ConfigError, match="alpha objective 'cost' is not supported; valid: quality, aiq"):
        calibrate(parts, data.dev, data.model_cost, alpha="auto", tolerance=0.0, target_cost=None,
                  alpha_objective="cost")  # fmt: skip


def test_task_heads_auto_picks_the_better_heads_and_alpha_on_dev(run, bundle) -> None:
    parts = read_bundle(bundle)
    data = _subset(run.data, [run.data.models.index(m) for m in parts.meta.models])
    cal = calibrate(parts, data.dev, data.model_cost, alpha="auto", tolerance=0.0, target_cost=None, task_heads="auto")
    rows = [(cal["task_heads"], r) for r in cal["alpha_sweep"]]
    rows += [(not cal["task_heads"], r) for r in cal["other_heads_alpha_sweep"]]
    best = max(r["aiq"] for _, r in rows)
    chosen = next(r for heads, r in rows if heads == cal["task_heads"] and r["alpha"] == cal["alpha"])
    assert chosen["aiq"] == pytest.approx(best, abs=1e-9) and cal["task_heads_source"] == "dev, best aiq"
    for fixed in (True, False):
        cal = calibrate(parts, data.dev, data.model_cost, alpha=0.7, tolerance=0.0, target_cost=None, task_heads=fixed)
        assert (
            cal["task_heads"] is fixed and cal["task_heads_source"] == "config" and "other_heads_alpha_sweep" not in cal
        )
    with pytest.raises(ConfigError, match="task_heads 'maybe' is not supported; valid: true, false, auto"):
        calibrate(parts, data.dev, data.model_cost, alpha="auto", tolerance=0.0, target_cost=None, task_heads="maybe")
