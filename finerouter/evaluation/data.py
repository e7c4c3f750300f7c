"""What every router sees: the train and dev splits, prompt embeddings, model costs; test only for scoring."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from finerouter.data.artifacts import (
    PROMPT_EMB,
    PROMPT_EMB_IDS,
    TASKS,
    embeddings_of,
    load_table,
    stage2_embedding_files,
)
from finerouter.data.table import RoutingTable
from finerouter.stage2.data import TaskSet, load_tasks


@dataclass
class Split:
    prompts: pd.DataFrame
    quality: np.ndarray  # (n, M), NaN = no outcome
    cost: np.ndarray  # (n, M)
    emb: np.ndarray  # (n, d)

    def __len__(self) -> int:
        return len(self.prompts)


@dataclass
class EvalData:
    models: list[str]
    model_cost: np.ndarray  # expected cost per call of each model, from train (what a router may know)
    cost_unit: str
    train: Split
    dev: Split
    test: Split

    @property
    def has_costs(self) -> bool:
        """False for a table with neither per-call costs nor model prices: routers are then compared by quality."""
        return bool(np.isfinite(self.model_cost).any())


def load_eval_data(table: RoutingTable, embeddings: np.ndarray, prompt_ids: np.ndarray) -> EvalData:
    """`embeddings[i]` belongs to `prompt_ids[i]`; every prompt of the table must have one."""

    def split(name: str) -> Split:
        part = table.split(name)
        emb = embeddings_of(embeddings, prompt_ids, part.prompts["prompt_id"], name)
        return Split(part.prompts, part.quality_matrix(), part.cost_matrix(), emb)

    train = split("train")
    with np.errstate(all="ignore"):
        model_cost = np.nanmean(train.cost, axis=0)
    unit = {"call": "USD per prompt", "price": "USD per 1M tokens (blended model price)"}.get(table.cost_basis, "n/a")
    return EvalData(table.model_names, model_cost, unit, train, split("dev"), split("test"))


def load_run(run_dir: Path, embeddings: str | None = None, prompt_ids: str | None = None) -> EvalData:
    """From a rebuild's artifacts: the imported table and the embed stage's prompt embeddings (or those at
    `embeddings`, with their `prompt_ids`, both relative to the run)."""
    ids = pd.read_parquet(run_dir / (prompt_ids or PROMPT_EMB_IDS))["prompt_id"].to_numpy()
    return load_eval_data(load_table(run_dir), np.load(run_dir / (embeddings or PROMPT_EMB)), ids)


def load_stage2_run(run_dir: Path) -> tuple[EvalData, TaskSet]:
    """The splits and tasks as stage 2 saw them: prompt and task-summary embeddings from the fine-tuned encoder
    when `stage2.encoder: finetune`, else the embed and tasks stages' own (what the bundle's heads read)."""
    prompt_emb, prompt_ids, task_emb = stage2_embedding_files(run_dir)
    data = load_run(run_dir, prompt_emb, prompt_ids)
    tasks = load_tasks(pd.read_parquet(run_dir / TASKS), np.load(run_dir / task_emb), data.models, data.train.quality)
    return data, tasks
