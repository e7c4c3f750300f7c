"""How good are discovered tasks: agreement with reference labels and within-task preference agreement."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from finerouter.discovery.nearest import majority_smallest, top_k_inner_product
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


def held_out_prediction(
    train_emb: np.ndarray,
    train_labels: np.ndarray,
    train_quality: np.ndarray,
    held_emb: np.ndarray,
    held_quality: np.ndarray,
    k: int = 10,
    sample: int | None = None,
    seed: int = 0,
) -> dict[str, float]:
    """Do tasks predict prompts that discovery never saw? (a routing-relevant check, not in the paper)

    Each held-out prompt joins the most common task among its k nearest train prompts (prompt embeddings,
    cosine); its per-model quality is predicted by that task's train mean (Others and empty cells: the global
    train mean) and, as the baseline, by the global train mean. Reported: Brier score of both predictions over
    the observed outcomes, and the mean quality of the model each prediction ranks first. With more held-out
    prompts than `sample`, a seeded sample of `sample` of them (reported with `held_out_of`, their number): the
    check compares each held-out prompt with every train prompt.
    """
    if len(held_emb) == 0 or len(train_emb) == 0:
        return {}
    total = len(held_emb)
    if sample is not None and total > sample:
        rows = np.sort(np.random.default_rng(seed).choice(total, sample, replace=False))
        held_emb, held_quality = held_emb[rows], held_quality[rows]
    with np.errstate(all="ignore"):
        global_mean = np.nanmean(train_quality, axis=0)
    global_mean = np.nan_to_num(global_mean, nan=0.0)
    n_tasks = int(train_labels.max()) + 1 if (train_labels >= 0).any() else 0
    task_mean = np.tile(global_mean, (n_tasks + 1, 1))  # last row: Others
    for task in range(n_tasks):
        with np.errstate(all="ignore"):
            mean = np.nanmean(train_quality[train_labels == task], axis=0)
        task_mean[task] = np.where(np.isnan(mean), global_mean, mean)
    nearest = train_labels[top_k_inner_product(held_emb, train_emb, k)]
    assigned = majority_smallest(np.where(nearest >= 0, nearest, n_tasks))
    by_task = task_mean[assigned]
    observed = ~np.isnan(held_quality)
    outcome = np.nan_to_num(held_quality)

    def brier(pred: np.ndarray) -> float:
        return float(((pred - outcome) ** 2)[observed].mean())

    def top_quality(pred: np.ndarray) -> float:
        scores = np.where(observed, pred, -np.inf)
        return float(outcome[np.arange(len(outcome)), scores.argmax(axis=1)].mean())

    flat = np.broadcast_to(global_mean, outcome.shape)
    return ({"held_out_of": total} if total > len(held_emb) else {}) | {
        "held_out_prompts": len(held_emb),
        "assigned_to_others": round(float((assigned == n_tasks).mean()), 4),
        "brier_task": round(brier(by_task), 4),
        "brier_global": round(brier(flat), 4),
        "top_model_quality_task": round(top_quality(by_task), 4),
        "top_model_quality_global": round(top_quality(flat), 4),
    }
