"""Choosing a bundle's alpha and default tolerance on the dev split (test never shapes a bundle)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from finerouter.errors import ConfigError
from finerouter.stage2.config import ALPHA_GRID

if TYPE_CHECKING:
    from finerouter.evaluation.data import Split
    from finerouter.routing.bundle import BundleParts

TOLERANCE_GRID = tuple(round(0.005 * i, 3) for i in range(0, 201))


def dev_outcome(router: Any, dev: Split, alpha: float, tolerance: float) -> tuple[float, float]:
    """Mean dev quality and cost of routing with (alpha, tolerance); models without a dev outcome are not offered."""
    available = ~np.isnan(dev.quality)
    fused = np.where(available, router.fused_scores(dev.emb, alpha=alpha), np.nan)
    choice = router.choose(fused, tolerance)
    rows = np.arange(len(choice))
    return float(np.nan_to_num(dev.quality)[rows, choice].mean()), float(np.nan_to_num(dev.cost)[rows, choice].mean())


def dev_aiq(router: Any, dev: Split, model_cost: np.ndarray, alpha: float) -> float:
    """AIQ on dev of the willingness (lambda) curve of routing with `alpha`, as the evaluation traces it."""
    from finerouter.evaluation.harness import split_aiq, trace

    return split_aiq(trace(router.fused_scores(dev.emb, alpha=alpha), dev, model_cost, "lambda"), dev)


def calibrate(
    parts: BundleParts, dev: Split, model_cost: np.ndarray, *, alpha: float | str, tolerance: float,
    target_cost: float | None, alpha_objective: str = "aiq",
) -> dict[str, Any]:  # fmt: skip
    """alpha 'auto' maximises `alpha_objective` on dev: 'quality' (mean quality at tolerance 0) or 'aiq' (AIQ of
    the lambda curve); ties go to the alpha nearest 0.5."""
    from finerouter.routing.router import Router

    if alpha_objective not in ("quality", "aiq"):
        raise ConfigError(f"alpha objective {alpha_objective!r} is not supported; valid: quality, aiq")
    router = Router(_placeholder(parts))
    sweep = {a: dev_outcome(router, dev, a, 0.0) for a in ALPHA_GRID}
    aiqs = {a: dev_aiq(router, dev, model_cost, a) for a in ALPHA_GRID}
    objective = aiqs if alpha_objective == "aiq" else {a: q for a, (q, _) in sweep.items()}
    if alpha == "auto":
        chosen_alpha = max(ALPHA_GRID, key=lambda a: (round(objective[a], 9), -abs(a - 0.5)))
    else:
        chosen_alpha = float(alpha)
    out: dict[str, Any] = {
        "split": "dev",
        "prompts": len(dev),
        "alpha_sweep": [{"alpha": a, "quality": q, "cost": c, "aiq": aiqs[a]} for a, (q, c) in sweep.items()],
        "alpha": chosen_alpha,
        "alpha_source": f"dev, best {alpha_objective}" if alpha == "auto" else "config",
        "alpha_objective": alpha_objective,
    }
    if target_cost is None:
        out["tolerance"] = float(tolerance)
        out["tolerance_source"] = "config"
    else:
        points = [(t, *dev_outcome(router, dev, chosen_alpha, t)) for t in TOLERANCE_GRID]
        within = [p for p in points if p[2] <= target_cost]
        if not within:
            cheapest = min(p[2] for p in points)
            raise ConfigError(
                f"stage2.cost.target_cost {target_cost} cannot be met on dev: the cheapest tolerance gives "
                f"{cheapest:.4g} per prompt"
            )
        best = max(within, key=lambda p: (p[1], -p[0]))
        out.update(tolerance=best[0], tolerance_source=f"dev, target mean cost {target_cost}", target_cost=target_cost)
    out["dev_quality"], out["dev_cost"] = dev_outcome(router, dev, chosen_alpha, out["tolerance"])
    return out


def _placeholder(parts: BundleParts) -> BundleParts:
    """The bundle under construction, with a provisional version, so a Router can score dev with it."""
    from finerouter.routing.bundle import BundleParts

    return BundleParts({**parts.meta, "version": "calibrating"}, parts.tensors, parts.tasks, parts.extra_files)
