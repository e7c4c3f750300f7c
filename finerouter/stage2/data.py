"""What stage 2 trains on: the train and dev prompts (embeddings, per-model quality), the discovered tasks, the
task labels; and the label, prior and threshold rules. The rebuild's stages build these from its artifacts."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from finerouter.data.artifacts import embeddings_of
from finerouter.data.table import RoutingTable
from finerouter.discovery.discover import OTHERS
from finerouter.discovery.nearest import majority_nearest, top_k_inner_product


@dataclass
class TrainingSplit:
    prompt_ids: np.ndarray  # (n,)
    emb: np.ndarray  # (n, d) prompt embeddings
    quality: np.ndarray  # (n, M), NaN = no outcome

    def __len__(self) -> int:
        return len(self.prompt_ids)


@dataclass
class TrainingData:
    """The train and dev prompts of a routing table with their embeddings; stage 2 never sees test."""

    models: list[str]
    train: TrainingSplit
    dev: TrainingSplit


def training_data(table: RoutingTable, embeddings: np.ndarray, prompt_ids: np.ndarray) -> TrainingData:
    """`embeddings[i]` belongs to `prompt_ids[i]`; every train and dev prompt of the table must have one."""

    def split(name: str) -> TrainingSplit:
        part = table.split(name)
        ids = part.prompts["prompt_id"]
        return TrainingSplit(ids.to_numpy(), embeddings_of(embeddings, prompt_ids, ids, name), part.quality_matrix())

    return TrainingData(table.model_names, split("train"), split("dev"))


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


def propagate_labels(train_emb: np.ndarray, labels: np.ndarray, emb: np.ndarray, k: int) -> np.ndarray:
    """Majority label of the k nearest train prompts (cosine), ties to the nearest: dev has no discovered labels."""
    votes = labels[top_k_inner_product(emb, train_emb, k)]
    return majority_nearest(votes).astype(np.int64)


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
