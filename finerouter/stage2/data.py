"""Stage 2's inputs from a rebuild's artifacts: the discovered tasks, train labels, dev labels, the classifier."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from finerouter.discovery.discover import OTHERS
from finerouter.evaluation.data import EvalData


@dataclass
class TaskSet:
    """The real tasks (Others excluded) in tasks.parquet order; index t of every array is task_ids[t]."""

    frame: pd.DataFrame  # all rows of tasks.parquet, Others included
    task_ids: np.ndarray  # (T,)
    vectors: np.ndarray  # (T, d) summary embeddings
    candidates: list[list[int]]  # model indices per task
    priors: np.ndarray  # (T + 1, M) median quality per model; the last row is the no-task (Others) prior

    @property
    def n_tasks(self) -> int:
        return len(self.task_ids)

    def index_of(self, task_ids: np.ndarray) -> np.ndarray:
        """Task ids -> task indices, -1 for Others."""
        lookup = {int(t): i for i, t in enumerate(self.task_ids)}
        return np.array([lookup.get(int(t), -1) for t in task_ids], dtype=np.int64)


def load_tasks(tasks: pd.DataFrame, task_emb: np.ndarray, models: list[str], train_quality: np.ndarray) -> TaskSet:
    real = (tasks["task_id"] != OTHERS).to_numpy()
    position = {m: j for j, m in enumerate(models)}
    unknown = {m for row in tasks["candidates"] for m in row} - set(position)
    if unknown:
        raise ValueError(f"tasks name models not in the routing table: {sorted(unknown)}; rerun the tasks stage")
    priors = [_prior_row(row, len(models)) for row in tasks.loc[real, "prior"]]
    others = tasks.loc[~real, "prior"]
    with np.errstate(all="ignore"):
        fallback = np.nanmedian(train_quality, axis=0)
    priors.append(_prior_row(others.iloc[0], len(models)) if len(others) else np.nan_to_num(fallback))
    return TaskSet(
        frame=tasks.reset_index(drop=True),
        task_ids=tasks.loc[real, "task_id"].to_numpy(dtype=np.int64),
        vectors=np.asarray(task_emb[real], dtype=np.float32),
        candidates=[[position[m] for m in row] for row in tasks.loc[real, "candidates"]],
        priors=np.vstack(priors),
    )


def shrink(stat: np.ndarray, n: np.ndarray, overall: np.ndarray, k: float) -> np.ndarray:
    """Empirical-Bayes shrinkage of per-model statistics stat (T, M) over n (T,) prompts toward `overall` (M,):
    (n * stat + k * overall) / (n + k)."""
    weight = (np.asarray(n, dtype=np.float64) / (np.asarray(n, dtype=np.float64) + k))[:, None]
    return weight * np.asarray(stat, dtype=np.float64) + (1.0 - weight) * np.asarray(overall, dtype=np.float64)


def stage1_priors(
    tasks: TaskSet, train_quality: np.ndarray, statistic: str = "median", shrinkage: float = 0.0
) -> np.ndarray:
    """(T + 1, M) priors in TaskSet order (the last row is Others): the task's `statistic` ('median' = the paper's
    prior, 'mean') of each model's quality over its train prompts, shrunk toward the all-prompt statistic by
    `shrinkage` pseudo-prompts. median with shrinkage 0 is `tasks.priors` unchanged."""
    if statistic not in ("median", "mean"):
        raise ValueError(f"unknown prior statistic {statistic!r}; valid: median, mean")
    if shrinkage < 0:
        raise ValueError(f"prior shrinkage must be >= 0, got {shrinkage}")
    column = "prior" if statistic == "median" else "mean_quality"
    frame, n_models = tasks.frame, train_quality.shape[1]
    with np.errstate(all="ignore"):
        overall = np.nan_to_num(
            np.nanmedian(train_quality, axis=0) if statistic == "median" else np.nanmean(train_quality, axis=0)
        )
    real = (frame["task_id"] != OTHERS).to_numpy()
    stats = [_prior_row(v, n_models) for v in frame.loc[real, column]]
    sizes = frame.loc[real, "size"].to_numpy(dtype=np.float64).tolist()
    others = frame.loc[~real]
    if len(others):
        stats.append(_prior_row(others[column].iloc[0], n_models))
        sizes.append(float(others["size"].iloc[0]))
    else:  # no Others row: the all-prompt statistic itself
        stats.append(overall)
        sizes.append(np.inf)
    n = np.array(sizes)
    out = np.vstack(stats)
    finite = np.isfinite(n)
    if shrinkage > 0:
        out[finite] = shrink(out[finite], n[finite], overall, shrinkage)
    return out


def _prior_row(values, n_models: int) -> np.ndarray:
    row = np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)
    if len(row) != n_models:
        raise ValueError(f"a task prior has {len(row)} values for {n_models} models")
    return np.nan_to_num(row, nan=0.0)


def load_task_set(run_dir: Path, data: EvalData, task_embeddings: str | None = None) -> TaskSet:
    """The tasks stage's tasks, their vectors from the tasks stage (or from `task_embeddings`, relative to the run)."""
    from finerouter.stages.artifacts import TASK_EMB, TASKS

    vectors = np.load(run_dir / (task_embeddings or TASK_EMB))
    return load_tasks(pd.read_parquet(run_dir / TASKS), vectors, data.models, data.train.quality)


def train_labels(run_dir: Path, data: EvalData, tasks: TaskSet) -> np.ndarray:
    """Discovered task index of every train prompt (-1 = Others), in data.train order."""
    from finerouter.stages.artifacts import ASSIGNMENTS

    assigned = pd.read_parquet(run_dir / ASSIGNMENTS).set_index("prompt_id")["task_id"]
    ids = assigned.reindex(data.train.prompts["prompt_id"])
    if ids.isna().any():
        raise ValueError(f"{int(ids.isna().sum())} train prompts have no stage-1 assignment; rerun the tasks stage")
    return tasks.index_of(ids.to_numpy(dtype=np.int64))


def propagate_labels(train_emb: np.ndarray, labels: np.ndarray, emb: np.ndarray, k: int) -> np.ndarray:
    """Majority label of the k nearest train prompts (cosine), ties to the nearest: dev has no discovered labels."""
    sims = emb @ train_emb.T
    nearest = np.argsort(-sims, axis=1, kind="stable")[:, : min(k, len(train_emb))]
    votes = labels[nearest]
    out = np.empty(len(emb), dtype=np.int64)
    for i, row in enumerate(votes):
        values, counts = np.unique(row, return_counts=True)
        winners = set(values[counts == counts.max()])
        out[i] = next(v for v in row if v in winners)  # the nearest neighbour among the tied labels
    return out


def tune_threshold(probs: np.ndarray, labels: np.ndarray, thresholds: list[float]) -> tuple[float, dict[str, float]]:
    """The threshold with the best accuracy on `labels` (-1 = no task), and accuracy / no-task rate at it."""
    top, conf = probs.argmax(axis=1), probs.max(axis=1)
    best_t, best = thresholds[0], None
    for t in thresholds:
        pred = np.where(conf >= t, top, -1)
        acc = float((pred == labels).mean())
        if best is None or acc > best["accuracy"] + 1e-12:
            best_t, best = t, {"accuracy": acc, "no_task_rate": float((pred == -1).mean())}
    assert best is not None
    return best_t, best


FINETUNE_DIR = "finetune_encoder"
ENCODER_META = f"{FINETUNE_DIR}/encoder.json"
FINETUNED_ENCODER = f"{FINETUNE_DIR}/encoder"
FINETUNED_PROMPT_EMB = f"{FINETUNE_DIR}/prompt_embeddings.npy"
FINETUNED_PROMPT_IDS = f"{FINETUNE_DIR}/prompt_ids.parquet"
FINETUNED_TASK_EMB = f"{FINETUNE_DIR}/task_embeddings.npy"


def stage2_encoder(run_dir: Path) -> dict:
    """What stage 2 embeds with: {'mode': 'frozen', ...} (the embed stage's encoder) or {'mode': 'finetune', ...}
    (the finetune_encoder stage's copy); frozen for a run made before that stage existed."""
    import json

    path = run_dir / ENCODER_META
    return json.loads(path.read_text()) if path.is_file() else {"mode": "frozen"}


def load_stage2_run(run_dir: Path) -> tuple[EvalData, TaskSet]:
    """The splits and tasks as stage 2 sees them: prompt and task-summary embeddings from the fine-tuned encoder
    when `stage2.encoder: finetune`, else the embed and tasks stages' own."""
    from finerouter.evaluation.data import load_run

    if stage2_encoder(run_dir)["mode"] != "finetune":
        data = load_run(run_dir)
        return data, load_task_set(run_dir, data)
    data = load_run(run_dir, FINETUNED_PROMPT_EMB, FINETUNED_PROMPT_IDS)
    return data, load_task_set(run_dir, data, FINETUNED_TASK_EMB)
