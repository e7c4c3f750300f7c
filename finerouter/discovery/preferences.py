"""Per-prompt model preference lists: models ranked by quality, ties broken by a configurable rule."""

from __future__ import annotations

from typing import Literal

import numpy as np

TieKey = Literal["cost", "mean_quality", "name"]
DEFAULT_TIE_RULE: tuple[TieKey, ...] = ("cost", "mean_quality", "name")


def tie_order(models: list[str], cost: np.ndarray, mean_quality: np.ndarray, rule: tuple[TieKey, ...]) -> np.ndarray:
    """Model indices in tie-break priority: cheaper first, then higher mean quality, then name (by default)."""
    keys = {
        "cost": np.nan_to_num(np.asarray(cost, dtype=float), nan=np.inf),
        "mean_quality": -np.nan_to_num(np.asarray(mean_quality, dtype=float), nan=-np.inf),
        "name": np.argsort(np.argsort(np.array(models, dtype=object))),
    }
    # np.lexsort sorts by the last key first.
    return np.lexsort([keys[k] for k in reversed((*rule, "name"))]).astype(np.int64)


def preference_lists(quality: np.ndarray, order: np.ndarray) -> np.ndarray:
    """(n, M) model indices, best first. Missing outcomes (NaN) rank last; ties follow `order`."""
    q = np.where(np.isnan(quality), -np.inf, quality)[:, order]
    within = np.argsort(-q, axis=1, kind="stable")
    return order[within].astype(np.int16 if len(order) < 32_000 else np.int32)


def ranks_from_lists(prefs: np.ndarray) -> np.ndarray:
    """(n, M) position (0 = most preferred) of each model in each list."""
    ranks = np.empty_like(prefs)
    rows = np.arange(prefs.shape[0])[:, None]
    ranks[rows, prefs] = np.arange(prefs.shape[1], dtype=prefs.dtype)[None, :]
    return ranks


def fuse_rankings(ranks: np.ndarray, groups: np.ndarray, n_groups: int, k_rrf: float = 60.0) -> np.ndarray:
    """Reciprocal-rank fusion per group: score(m) = sum over members 1 / (k_rrf + rank(m)), rank from 1.

    Returns the (n_groups, M) fused preference lists (model indices, best first); ties keep model order.
    """
    scores = np.zeros((n_groups, ranks.shape[1]))
    np.add.at(scores, groups, 1.0 / (k_rrf + ranks.astype(np.float64) + 1.0))
    return np.argsort(-scores, axis=1, kind="stable").astype(ranks.dtype)
