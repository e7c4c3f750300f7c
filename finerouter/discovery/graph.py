"""The preference graph: kNN edges kept when the two prompts' preference lists agree (RBO)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import ConfigDict, Field, field_validator

from finerouter.config_model import ConfigModel
from finerouter.discovery.rbo import rbo_edges


class RboConfig(ConfigModel):
    model_config = ConfigDict(extra="forbid")

    p: float = Field(0.9, gt=0, lt=1, description="RBO persistence")
    threshold: float | str = Field(
        "auto",
        description="drop edges with RBO below this; 'auto' = the null quantile of RBO between random prompt pairs",
    )
    null_quantile: float = Field(0.75, gt=0, lt=1, description="the quantile used by threshold 'auto'")
    null_pairs: int = Field(100_000, ge=100)

    @field_validator("threshold")
    @classmethod
    def _threshold(cls, value: float | str) -> float | str:
        if isinstance(value, str) and value != "auto":
            raise ValueError(f"rbo.threshold must be a number in [0, 1] or 'auto', got {value!r}")
        if not isinstance(value, str) and not 0 <= value <= 1:
            raise ValueError(f"rbo.threshold must be in [0, 1], got {value}")
        return value


@dataclass
class Edges:
    src: np.ndarray
    dst: np.ndarray
    weight: np.ndarray
    cosine: np.ndarray
    rbo: np.ndarray

    def __len__(self) -> int:
        return len(self.src)


def resolve_threshold(ranks: np.ndarray, cfg: RboConfig, seed: int) -> float:
    if cfg.threshold != "auto":
        return float(cfg.threshold)
    n = len(ranks)
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, n, cfg.null_pairs), rng.integers(0, n, cfg.null_pairs)
    distinct = a != b
    return float(np.quantile(rbo_edges(ranks, a[distinct], b[distinct], cfg.p), cfg.null_quantile))


def minmax(x: np.ndarray) -> np.ndarray:
    if len(x) == 0:
        return x
    lo, hi = float(x.min()), float(x.max())
    return np.ones_like(x) if hi - lo < 1e-12 else (x - lo) / (hi - lo)


def preference_graph(
    src: np.ndarray, dst: np.ndarray, cosine: np.ndarray, ranks: np.ndarray, cfg: RboConfig, seed: int = 0
) -> tuple[Edges, dict[str, Any]]:
    """Keep kNN edges whose RBO passes the threshold; weight = sqrt(minmax(cos) * minmax(rbo)) over kept edges."""
    threshold = resolve_threshold(ranks, cfg, seed)
    rbo = rbo_edges(ranks, src, dst, cfg.p)
    mean_candidate_rbo = float(rbo.mean()) if len(rbo) else 0.0
    keep = rbo >= threshold
    src, dst, cosine, rbo = src[keep], dst[keep], cosine[keep], rbo[keep]
    weight = np.sqrt(minmax(cosine) * minmax(rbo))
    positive = weight > 0  # an edge at both minima carries no weight: it would be a no-op for Leiden
    edges = Edges(src[positive], dst[positive], weight[positive], cosine[positive], rbo[positive])
    stats = {
        "candidate_edges": len(keep),
        "rbo_threshold": round(threshold, 4),
        "kept_edges": len(edges),
        "dropped_low_rbo": int((~keep).sum()),
        "dropped_zero_weight": int((~positive).sum()),
        "mean_rbo_candidates": round(mean_candidate_rbo, 4),
    }
    return edges, stats
