"""Stage 2's training data and tasks, read from a rebuild's artifacts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from finerouter.data.artifacts import ASSIGNMENTS, TASKS, load_table, stage2_embedding_files
from finerouter.stage2.data import TaskSet, TrainingData, load_tasks, training_data


def load_training_run(run_dir: Path) -> tuple[TrainingData, TaskSet]:
    """The train and dev prompts and the tasks as stage 2 sees them: prompt and task-summary embeddings from the
    fine-tuned encoder when `stage2.encoder: finetune`, else the embed and tasks stages' own."""
    prompt_emb, prompt_ids, task_emb = stage2_embedding_files(run_dir)
    ids = pd.read_parquet(run_dir / prompt_ids)["prompt_id"].to_numpy()
    data = training_data(load_table(run_dir), np.load(run_dir / prompt_emb), ids)
    tasks = load_tasks(pd.read_parquet(run_dir / TASKS), np.load(run_dir / task_emb), data.models, data.train.quality)
    return data, tasks


def train_labels(run_dir: Path, data: TrainingData, tasks: TaskSet) -> np.ndarray:
    """Discovered task index of every train prompt (-1 = Others), in data.train order."""
    assigned = pd.read_parquet(run_dir / ASSIGNMENTS).set_index("prompt_id")["task_id"]
    ids = assigned.reindex(data.train.prompt_ids)
    if ids.isna().any():
        raise ValueError(f"{int(ids.isna().sum())} train prompts have no stage-1 assignment; rerun the tasks stage")
    return tasks.index_of(ids.to_numpy(dtype=np.int64))
