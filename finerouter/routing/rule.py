"""The decision rule: which model each prompt goes to, given its models' scores and costs.

One implementation, used by the online `Router` and by the evaluation's curves, so the rule that is evaluated is
the one that is shipped. `scores` is (B, M), NaN for a model not offered for that prompt (never chosen); `cost` is
(M,) or (B, M) expected cost, NaN for unknown.
"""

from __future__ import annotations

import numpy as np

SCORE_TIE = 1e-12  # scores this close to the bound count as within it


def choose_tolerance(scores: np.ndarray, cost: np.ndarray, tolerance: float) -> np.ndarray:
    """Per row, the cheapest model whose score is within `tolerance` (tau) of the row's best; among equally cheap
    ones the higher score, then the first. Unknown costs count as dearer than any known one."""
    s = np.where(np.isnan(scores), -np.inf, scores)
    ok = s >= s.max(axis=1, keepdims=True) - tolerance - SCORE_TIE
    c = np.where(ok, np.nan_to_num(cost, nan=np.inf), np.inf)
    cheapest = c.min(axis=1, keepdims=True)
    return np.where(ok & (c == cheapest), s, -np.inf).argmax(axis=1)


def choose_willingness(scores: np.ndarray, cost: np.ndarray, willingness: float) -> np.ndarray:
    """Per row, argmax(score - willingness * cost / dearest cost): `willingness` (lambda) is the score given up
    per unit of cost relative to the dearest model's. An unknown cost counts as dearer than any known one (at
    willingness 0 cost does not count)."""
    cost = np.asarray(cost, dtype=float)
    scale = float(np.nanmax(cost)) if np.isfinite(cost).any() else 1.0
    unknown_penalty = np.inf if willingness > 0 else 0.0
    penalty = np.where(np.isnan(cost), unknown_penalty, willingness * np.nan_to_num(cost) / (scale or 1.0))
    utility = np.where(np.isnan(scores), -np.inf, scores - penalty)
    return utility.argmax(axis=1)
