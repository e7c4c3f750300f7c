"""The routing policies the evaluation compares, behind one interface: fit on train (tune on dev), predict
per-model quality scores for prompts; and the simple baselines.

`fit` receives the data with its test split removed, so no policy can see test outcomes while fitting.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np
import pandas as pd

from finerouter.data.artifacts import ASSIGNMENTS, TASKS
from finerouter.discovery.nearest import majority_smallest, top_k_inner_product
from finerouter.evaluation.data import EvalData, Split
from finerouter.evaluation.metrics import outcome_of
from finerouter.routing.rule import choose_tolerance


class RoutingPolicy(ABC):
    """What the evaluation compares: FineRouter's bundle, its ablations and the baselines each implement it."""

    name: str

    @abstractmethod
    def fit(self, data: EvalData) -> None:
        """Learn from data.train, tune on data.dev (data.test is None here)."""

    @abstractmethod
    def scores(self, split: Split) -> np.ndarray:
        """(n, M) predicted quality of every model for every prompt of `split`."""


def dev_quality(router: RoutingPolicy, data: EvalData) -> float:
    """Mean dev quality when routing to the predicted best model (the tuning objective)."""
    available = np.where(np.isnan(data.dev.quality), np.nan, router.scores(data.dev))
    cost = np.broadcast_to(data.model_cost, data.dev.quality.shape)
    choice = choose_tolerance(available, cost, 0.0)
    return outcome_of(choice, np.nan_to_num(data.dev.quality), cost)[0]


class RandomRouter(RoutingPolicy):
    name = "random"

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def fit(self, data: EvalData) -> None:
        self.n_models = len(data.models)

    def scores(self, split: Split) -> np.ndarray:
        return np.random.default_rng(self.seed).random((len(split), self.n_models))


class KnnRouter(RoutingPolicy):
    """Mean quality of each model over the k nearest train prompts (cosine over prompt embeddings); k tuned on dev."""

    name = "knn"

    def __init__(self, ks: tuple[int, ...] = (5, 10, 20, 50, 100)) -> None:
        self.ks = ks
        self.k = ks[0]

    def fit(self, data: EvalData) -> None:
        self.train = data.train
        self.k = max(self.ks, key=lambda k: (self._with_k(k, data), -k))

    def _with_k(self, k: int, data: EvalData) -> float:
        self.k = k
        return dev_quality(self, data)

    def scores(self, split: Split) -> np.ndarray:
        import faiss

        index = faiss.IndexFlatIP(self.train.emb.shape[1])
        index.add(np.ascontiguousarray(self.train.emb, dtype=np.float32))
        _, idx = index.search(np.ascontiguousarray(split.emb, dtype=np.float32), min(self.k, len(self.train)))
        with np.errstate(all="ignore"):
            return np.nanmean(self.train.quality[idx], axis=1)


class Stage1Router(RoutingPolicy):
    """FineRouter stage 1 alone: a prompt takes the task most of its nearest train prompts belong to, and is
    routed by that task's prior (median quality per model; the Others prior when the vote says Others)."""

    name = "finerouter-stage1"

    def __init__(self, run_dir: Path, k: int = 10) -> None:
        self.run_dir = run_dir
        self.k = k

    def fit(self, data: EvalData) -> None:
        assigned = pd.read_parquet(self.run_dir / ASSIGNMENTS).set_index("prompt_id")["task_id"]
        self.train_tasks = assigned.reindex(data.train.prompts["prompt_id"]).to_numpy()
        if np.isnan(self.train_tasks.astype(float)).any():
            raise ValueError("stage-1 assignments do not cover the train split; rerun the rebuild's stage 1")
        tasks = pd.read_parquet(self.run_dir / TASKS)
        self.task_ids = tasks["task_id"].to_numpy()
        self.priors = np.array([[np.nan if p is None else p for p in row] for row in tasks["prior"]], dtype=float)
        self.train_emb = data.train.emb

    def assign(self, split: Split) -> np.ndarray:
        return majority_smallest(self.train_tasks[top_k_inner_product(split.emb, self.train_emb, self.k)].astype(int))

    def scores(self, split: Split) -> np.ndarray:
        row = pd.Series(np.arange(len(self.task_ids)), index=self.task_ids)
        return np.nan_to_num(self.priors[row.loc[self.assign(split)].to_numpy()], nan=0.0)
