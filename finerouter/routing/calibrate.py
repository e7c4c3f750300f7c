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


def calibrate(
    parts: BundleParts, dev: Split, model_cost: np.ndarray, *, alpha: float | str, tolerance: float,
    target_cost: float | None,
) -> dict[str, Any]:  # fmt: skip
    from finerouter.routing.router import Router

    router = Router(_placeholder(parts))
    sweep = {a: dev_outcome(router, dev, a, 0.0) for a in ALPHA_GRID}
    if alpha == "auto":
        chosen_alpha = max(ALPHA_GRID, key=lambda a: (round(sweep[a][0], 9), -abs(a - 0.5)))
    else:
        chosen_alpha = float(alpha)
    out: dict[str, Any] = {
        "split": "dev",
        "prompts": len(dev),
        "alpha_sweep": [{"alpha": a, "quality": q, "cost": c} for a, (q, c) in sweep.items()],
        "alpha": chosen_alpha,
        "alpha_source": "dev" if alpha == "auto" else "config",
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

    return BundleParts({**parts.meta, "version": "calibrating"}, parts.tensors, parts.tasks)
