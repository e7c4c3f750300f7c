"""Choosing a bundle's alpha and default tolerance on the dev split (test never shapes a bundle)."""

from __future__ import annotations

from typing import Any

import numpy as np

from finerouter.errors import ConfigError
from finerouter.evaluation.data import Split
from finerouter.evaluation.harness import split_aiq, trace
from finerouter.routing.bundle import BundleParts
from finerouter.routing.router import Router
from finerouter.stage2.config import ALPHA_GRID

TOLERANCE_GRID = tuple(round(0.005 * i, 3) for i in range(0, 201))


def dev_outcome(
    router: Router, dev: Split, alpha: float, tolerance: float, task_heads: bool | None = None
) -> tuple[float, float]:
    """Mean dev quality and cost of routing with (alpha, tolerance); models without a dev outcome are not offered."""
    available = ~np.isnan(dev.quality)
    fused = np.where(available, router.fused_scores(dev.emb, alpha=alpha, use_task_heads=task_heads), np.nan)
    choice = router.choose(fused, tolerance)
    rows = np.arange(len(choice))
    return float(np.nan_to_num(dev.quality)[rows, choice].mean()), float(np.nan_to_num(dev.cost)[rows, choice].mean())


def dev_aiq(router: Router, dev: Split, model_cost: np.ndarray, alpha: float, task_heads: bool | None = None) -> float:
    """AIQ on dev of the willingness (lambda) curve of routing with `alpha`, as the evaluation traces it."""
    scores = router.fused_scores(dev.emb, alpha=alpha, use_task_heads=task_heads)
    return split_aiq(trace(scores, dev, model_cost, "lambda"), dev)


def alpha_sweep(router: Router, dev: Split, model_cost: np.ndarray, task_heads: bool) -> list[dict[str, float]]:
    """Dev quality and cost at tolerance 0, and dev AIQ, at every alpha of ALPHA_GRID."""
    return [_row_at(router, dev, model_cost, task_heads, a) for a in ALPHA_GRID]


def calibrate(
    parts: BundleParts, dev: Split, model_cost: np.ndarray, *, alpha: float | str, tolerance: float,
    target_cost: float | None, alpha_objective: str = "aiq", task_heads: bool | str = True,
) -> dict[str, Any]:  # fmt: skip
    """alpha 'auto' maximises `alpha_objective` on dev: 'quality' (mean quality at tolerance 0) or 'aiq' (AIQ of
    the lambda curve); ties go to the alpha nearest 0.5. task_heads 'auto' chooses, with alpha, between routing
    with the task heads and with the general heads only, by the same objective; ties go to the general heads."""
    if alpha_objective not in ("quality", "aiq"):
        raise ConfigError(f"alpha objective {alpha_objective!r} is not supported; valid: quality, aiq")
    if task_heads not in (True, False, "auto"):
        raise ConfigError(f"task_heads {task_heads!r} is not supported; valid: true, false, auto")
    # the bundle under construction, with a provisional version, so a Router can score dev with it
    provisional = parts.meta.with_updates(version="calibrating")
    router = Router(BundleParts(provisional, parts.tensors, parts.tasks, parts.extra_files))
    options = [False, True] if task_heads == "auto" else [bool(task_heads)]
    sweeps = {heads: alpha_sweep(router, dev, model_cost, heads) for heads in options}
    key = "aiq" if alpha_objective == "aiq" else "quality"
    if alpha == "auto":
        candidates = [(heads, row) for heads in options for row in sweeps[heads]]
    else:
        candidates = [(heads, _row_at(router, dev, model_cost, heads, float(alpha))) for heads in options]
    heads, chosen = max(candidates, key=lambda c: (round(c[1][key], 9), -abs(c[1]["alpha"] - 0.5), not c[0]))
    chosen_alpha = float(chosen["alpha"])
    out: dict[str, Any] = {
        "split": "dev",
        "prompts": len(dev),
        "alpha_sweep": sweeps[heads],
        "alpha": chosen_alpha,
        "alpha_source": f"dev, best {alpha_objective}" if alpha == "auto" else "config",
        "alpha_objective": alpha_objective,
    }
    if task_heads == "auto":
        out["task_heads"], out["task_heads_source"] = heads, f"dev, best {alpha_objective}"
        out["other_heads_alpha_sweep"] = sweeps[not heads]
    else:
        out["task_heads"], out["task_heads_source"] = heads, "config"
    if target_cost is None:
        out["tolerance"] = float(tolerance)
        out["tolerance_source"] = "config"
    else:
        points = [(t, *dev_outcome(router, dev, chosen_alpha, t, heads)) for t in TOLERANCE_GRID]
        within = [p for p in points if p[2] <= target_cost]
        if not within:
            cheapest = min(p[2] for p in points)
            raise ConfigError(
                f"stage2.cost.target_cost {target_cost} cannot be met on dev: the cheapest tolerance gives "
                f"{cheapest:.4g} per prompt"
            )
        best = max(within, key=lambda p: (p[1], -p[0]))
        out.update(tolerance=best[0], tolerance_source=f"dev, target mean cost {target_cost}", target_cost=target_cost)
    out["dev_quality"], out["dev_cost"] = dev_outcome(router, dev, chosen_alpha, out["tolerance"], heads)
    return out


def _row_at(router: Router, dev: Split, model_cost: np.ndarray, heads: bool, alpha: float) -> dict[str, float]:
    quality, cost = dev_outcome(router, dev, alpha, 0.0, heads)
    return {"alpha": alpha, "quality": quality, "cost": cost, "aiq": dev_aiq(router, dev, model_cost, alpha, heads)}
