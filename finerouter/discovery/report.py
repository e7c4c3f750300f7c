"""Human-readable task report (Markdown) and a 2-D map of task centres (PNG)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from finerouter.discovery.discover import OTHERS


def describe_note(backend: str, status: dict[str, int]) -> str:
    if backend == "prompt":
        return (
            "Descriptions: backend `prompt`, no LLM: each prompt's own text (truncated) stands in for its description."
        )
    counts = ", ".join(f"{v:,} {k}" for k, v in sorted(status.items()))
    return f"Descriptions: written by the `{backend}` backend ({counts}; failed rows fall back to the prompt text)."


def task_report(
    tasks: pd.DataFrame,
    prompts: pd.DataFrame,
    labels: np.ndarray,
    models: list[str],
    metrics: dict[str, Any],
    descriptions: str = "",
) -> str:
    lines = ["# Discovered tasks", "", *([descriptions, ""] if descriptions else [])]
    lines.append(
        f"{metrics['tasks']} tasks over {len(labels):,} train prompts; {metrics['others_share']:.1%} in Others."
    )
    lines.append(
        f"Mean RBO of preference lists within a task: {metrics['within_task_rbo']:.3f} "
        f"(random grouping of the same sizes: {metrics['random_grouping_rbo']:.3f})."
    )
    for column in ("source", "category"):
        if f"vs_{column}" in metrics:
            m = metrics[f"vs_{column}"]
            lines.append(f"Against `{column}` ({m['labels']} labels): NMI {m['nmi']:.3f}, ARI {m['ari']:.3f}.")
    held = metrics.get("held_out") or {}
    if held:
        of = f" (a seeded sample) of {held['held_out_of']:,}" if "held_out_of" in held else ""
        lines.append(
            f"Held-out check ({held['held_out_prompts']:,}{of} dev/test prompts, each joined to the task of its 10 "
            f"nearest train prompts): Brier score of per-model quality predicted by the task mean "
            f"{held['brier_task']:.4f} vs the global mean {held['brier_global']:.4f}; quality of the model ranked "
            f"first {held['top_model_quality_task']:.3f} vs {held['top_model_quality_global']:.3f}."
        )
    lines.append("")
    sources = prompts["source"].fillna("(none)").to_numpy()
    for row in tasks.itertuples():
        members = labels == row.task_id
        top = pd.Series(sources[members]).value_counts().head(3)
        name = "Others (no task)" if row.task_id == OTHERS else f"Task {row.task_id}"
        lines += [f"## {name} — {row.size:,} prompts", "", f"> {_one_line(row.summary)}", ""]
        lines.append("Top sources: " + ", ".join(f"{k} ({v / row.size:.0%})" for k, v in top.items()))
        lines.append("Candidates: " + ", ".join(row.candidates))
        prior = sorted(
            ((m, p) for m, p in zip(models, row.prior, strict=True) if p is not None), key=lambda mp: -mp[1]
        )[:5]
        lines.append("Prior (median quality): " + ", ".join(f"{m} {p:.2f}" for m, p in prior))
        lines.append("")
    return "\n".join(lines)


def top_labels(tasks: pd.DataFrame, labels: np.ndarray, reference: pd.Series) -> list[str]:
    """Per task, its most common reference label (e.g. source) with its share, for plot annotations."""
    ref = reference.fillna("(none)").to_numpy()
    out = []
    for task in tasks["task_id"]:
        counts = pd.Series(ref[labels == task]).value_counts()
        out.append(f"{counts.index[0]} {counts.iloc[0] / counts.sum():.0%}" if len(counts) else "")
    return out


def task_map(tasks: pd.DataFrame, task_emb: np.ndarray, out: Path, names: list[str] | None = None) -> None:
    """PCA of task summary embeddings, bubble size = task size, each labelled by `names` or its summary."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    real = (tasks["task_id"] != OTHERS).to_numpy()
    x = task_emb[real] - task_emb[real].mean(axis=0) if real.any() else task_emb[:0]
    fig, ax = plt.subplots(figsize=(9, 7), dpi=110)
    if len(x) >= 2:
        _, _, vt = np.linalg.svd(x, full_matrices=False)
        xy = x @ vt[:2].T
        sizes = tasks.loc[real, "size"].to_numpy()
        ax.scatter(xy[:, 0], xy[:, 1], s=20 + 400 * sizes / sizes.max(), alpha=0.55, c=np.arange(len(xy)), cmap="tab20")
        text = np.array(names if names is not None else [_one_line(s)[:28] for s in tasks["summary"]], dtype=object)
        for (px, py), task, label in zip(xy, tasks.loc[real, "task_id"], text[real], strict=True):
            ax.annotate(f"{task}: {label}", (px, py), fontsize=6, alpha=0.8)
    ax.set_title(f"Discovered tasks ({int(real.sum())}), PCA of summary embeddings; area ~ prompts")
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())[:160]
