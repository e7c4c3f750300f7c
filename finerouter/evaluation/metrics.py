"""Cost settings and cost-quality metrics.

Conventions (also printed in every report):
- A router's choice is scored with the test outcome of the chosen model; models without an outcome for a prompt
  are not offered to any router for that prompt.
- Cost is the table's cost basis: USD per call, or the blended model price (USD per 1M tokens).
- Curves: sweeping tolerance tau (or willingness-to-pay lambda) gives (mean cost, mean quality) points; the choice
  at each point is the shipped Router's rule (finerouter.routing.rule). AIQ is the
  area under the non-decreasing upper convex hull of a router's points (RouterBench), integrated over the cost
  range [cheapest single model's cost, dearest single model's cost] and divided by that range. Below a router's
  cheapest point its quality counts as 0 (it cannot operate there); beyond its dearest point the hull stays flat.
- Without costs (a table with neither per-call costs nor model prices) the oracle is the best model per prompt and
  routers are compared by quality alone: cost, curves, AIQ and cost ratios are n/a (null in results.json).
"""

from __future__ import annotations

import numpy as np

TAUS = (0.0, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0)
LAMBDAS = (0.0, 0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 5.0)
SWEEPS = {"tau": TAUS, "lambda": LAMBDAS}


def outcome_of(choice: np.ndarray, quality: np.ndarray, cost: np.ndarray) -> tuple[float, float]:
    rows = np.arange(len(choice))
    return float(np.mean(quality[rows, choice])), float(np.mean(cost[rows, choice]))


def upper_hull(points: np.ndarray) -> np.ndarray:
    """Non-decreasing upper convex hull of (cost, quality) points, sorted by cost."""
    pts = points[np.lexsort((-points[:, 1], points[:, 0]))]
    hull: list[np.ndarray] = []
    for p in pts:
        if hull and p[1] <= hull[-1][1]:
            continue  # dominated: costs at least as much for no more quality
        while len(hull) >= 2:
            (x1, y1), (x2, y2) = hull[-2], hull[-1]
            if (x2 - x1) * (p[1] - y1) - (y2 - y1) * (p[0] - x1) >= 0:  # hull[-1] is under the chord
                hull.pop()
            else:
                break
        hull.append(p)
    return np.array(hull)


def hull_value(hull: np.ndarray, cost: float) -> float:
    """Best quality reachable at `cost` by mixing hull points (0 below the cheapest point)."""
    if cost < hull[0, 0]:
        return 0.0
    return float(np.interp(cost, hull[:, 0], hull[:, 1]))


def aiq(points: np.ndarray, c_min: float, c_max: float, grid: int = 2001) -> float:
    """Average quality over [c_min, c_max] of the non-decreasing upper convex hull (RouterBench AIQ)."""
    if c_max <= c_min:
        return float(upper_hull(points)[:, 1].max())
    hull = upper_hull(points)
    xs = np.linspace(c_min, c_max, grid)
    ys = np.array([hull_value(hull, x) for x in xs])
    return float(np.trapezoid(ys, xs) / (c_max - c_min))


def quality_at_cost(points: np.ndarray, budget: float) -> float:
    return hull_value(upper_hull(points), budget)


def cost_to_reach(points: np.ndarray, target: float) -> float | None:
    """Least cost at which the hull reaches `target` quality (None if it never does)."""
    hull = upper_hull(points)
    if hull[-1, 1] < target - 1e-12:
        return None
    if hull[0, 1] >= target:
        return float(hull[0, 0])
    j = int(np.argmax(hull[:, 1] >= target - 1e-12))
    (x1, y1), (x2, y2) = hull[j - 1], hull[j]
    return float(x1 + (target - y1) * (x2 - x1) / (y2 - y1))


BOOTSTRAP_CELLS = 1 << 22  # resampled indices drawn at once (32 MiB of int64)


def paired_bootstrap(a: np.ndarray, b: np.ndarray, n: int = 2000, seed: int = 0) -> dict[str, float]:
    """Mean of a - b over prompts with a 95% percentile interval from a paired bootstrap."""
    diff = np.asarray(a, float) - np.asarray(b, float)
    lo, hi = np.percentile(bootstrap_means(diff, n, np.random.default_rng(seed)), [2.5, 97.5])
    return {"mean": float(diff.mean()), "ci_low": float(lo), "ci_high": float(hi)}


def bootstrap_means(values: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Means of `n` resamples of `values`, drawn a block of resamples at a time: the same draws, in the same order,
    as one (n, len(values)) matrix of indices, in bounded memory."""
    rows = max(1, BOOTSTRAP_CELLS // max(len(values), 1))
    blocks = [min(rows, n - start) for start in range(0, n, rows)]
    return np.concatenate([values[rng.integers(0, len(values), size=(m, len(values)))].mean(axis=1) for m in blocks])
