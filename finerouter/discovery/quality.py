"""How good are discovered tasks: agreement with reference labels and within-task preference agreement."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from finerouter.discovery.rbo import rbo_edges


def label_agreement(tasks: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    """ARI and NMI of task ids (Others counted as one group) against reference labels."""
    return {
        "ari": round(float(adjusted_rand_score(reference, tasks)), 4),
        "nmi": round(float(normalized_mutual_info_score(reference, tasks)), 4),
    }


def within_group_rbo(labels: np.ndarray, ranks: np.ndarray, p: float, pairs: int, seed: int) -> float:
    """Mean RBO between random pairs of distinct prompts sharing a label (labels < 0 excluded)."""
    rng = np.random.default_rng(seed)
    idx = np.flatnonzero(labels >= 0)
    if len(idx) < 2:
        return float("nan")
    a = rng.choice(idx, size=pairs)
    order = idx[np.argsort(labels[idx], kind="stable")]
    sorted_labels = labels[order]
    start = np.searchsorted(sorted_labels, labels[a], side="left")
    size = np.searchsorted(sorted_labels, labels[a], side="right") - start
    b = order[start + (rng.random(pairs) * size).astype(int)]
    distinct = a != b
    return float(rbo_edges(ranks, a[distinct], b[distinct], p).mean())


def rbo_vs_random(labels: np.ndarray, ranks: np.ndarray, p: float, seed: int, pairs: int = 50_000) -> dict[str, float]:
    """Within-task RBO, and the same for a random grouping with identical group sizes (the baseline)."""
    shuffled = labels.copy()
    member = labels >= 0
    shuffled[member] = np.random.default_rng(seed + 1).permutation(labels[member])
    return {
        "within_task_rbo": round(within_group_rbo(labels, ranks, p, pairs, seed), 4),
        "random_grouping_rbo": round(within_group_rbo(shuffled, ranks, p, pairs, seed), 4),
    }
