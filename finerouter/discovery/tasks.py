"""From final communities to tasks: candidate models, stage-1 priors and summary descriptions."""

from __future__ import annotations

import numpy as np
import pandas as pd

from finerouter.discovery.discover import OTHERS
from finerouter.discovery.preferences import fuse_rankings


def candidate_models(fused: np.ndarray, top_choice: np.ndarray, delta: float) -> list[int]:
    """Models in fused order until the share of member prompts whose top model is in the set reaches delta."""
    chosen: list[int] = []
    covered = 0.0
    for model in fused:
        chosen.append(int(model))
        covered += float(np.mean(top_choice == model))
        if covered >= delta - 1e-12:
            break
    return chosen


def build_tasks(
    labels: np.ndarray,
    quality: np.ndarray,
    prefs: np.ndarray,
    ranks: np.ndarray,
    emb: np.ndarray,
    descriptions: list[str],
    models: list[str],
    delta: float,
    k_rrf: float = 60.0,
) -> tuple[pd.DataFrame, np.ndarray]:
    """One row per task (Others last, task_id -1) and the (tasks, dim) summary embeddings in the same order.

    The deterministic summary is the member description nearest the task centre (the medoid); an LLM-written
    summary can replace it later (the `summary_source` column says which).
    """
    task_ids = [int(t) for t in np.unique(labels) if t != OTHERS]
    if (labels == OTHERS).any():
        task_ids.append(OTHERS)
    ordered = np.array(sorted(task_ids))  # fusion groups are indexed in sorted task-id order
    fused_all = fuse_rankings(ranks, np.searchsorted(ordered, labels), len(task_ids), k_rrf)
    rows, summary_emb = [], []
    for task in task_ids:
        members = np.flatnonzero(labels == task)
        fused = fused_all[np.searchsorted(ordered, task)]
        centre = np.median(emb[members], axis=0)
        centre /= max(float(np.linalg.norm(centre)), 1e-12)
        medoid = members[int(np.argmax(emb[members] @ centre))]
        with np.errstate(all="ignore"):
            prior = np.nanmedian(quality[members], axis=0)
        candidates = candidate_models(fused, prefs[members, 0], delta)
        rows.append(
            {
                "task_id": task,
                "size": len(members),
                "summary": descriptions[medoid],
                "summary_source": "medoid",
                "medoid_index": int(medoid),
                "candidates": [models[m] for m in candidates],
                "fused_ranking": [models[m] for m in fused],
                "prior": [None if np.isnan(v) else float(v) for v in prior],
                "mean_quality": [None if np.isnan(v) else float(v) for v in np.nanmean(quality[members], axis=0)],
                "cohesion": float(np.median(emb[members] @ centre)),
            }
        )
        summary_emb.append(emb[medoid])
    return pd.DataFrame(rows), np.asarray(summary_emb, dtype=np.float32)
