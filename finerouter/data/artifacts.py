"""Where a rebuild's stages write their outputs, relative to the run directory: one place that knows the file names."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from finerouter.data.table import RoutingTable

TABLE = "import/table"
DESCRIPTIONS = "describe/descriptions.parquet"
PROMPT_EMB = "embed/prompt_embeddings.npy"
PROMPT_EMB_IDS = "embed/prompt_ids.parquet"
DESC_EMB = "embed/description_embeddings.npy"
PREFERENCES = "preferences/preferences.npy"
KNN = "knn/knn.npz"
EDGES = "graph/edges.parquet"
COMMUNITIES = "communities/communities.parquet"
TASKS = "tasks/tasks.parquet"
TASK_EMB = "tasks/task_embeddings.npy"
ASSIGNMENTS = "tasks/assignments.parquet"

FINETUNE_DIR = "finetune_encoder"
ENCODER_META = f"{FINETUNE_DIR}/encoder.json"
FINETUNED_ENCODER = f"{FINETUNE_DIR}/encoder"
FINETUNED_PROMPT_EMB = f"{FINETUNE_DIR}/prompt_embeddings.npy"
FINETUNED_PROMPT_IDS = f"{FINETUNE_DIR}/prompt_ids.parquet"
FINETUNED_TASK_EMB = f"{FINETUNE_DIR}/task_embeddings.npy"


def load_table(run_dir: Path) -> RoutingTable:
    return RoutingTable.load(run_dir / TABLE)


def train_table(run_dir: Path) -> RoutingTable:
    """Task discovery uses the train split only: dev and test never shape the tasks."""
    return load_table(run_dir).split("train")


def stage2_encoder(run_dir: Path) -> dict[str, Any]:
    """What stage 2 embeds with: {'mode': 'frozen', ...} (the embed stage's encoder) or {'mode': 'finetune', ...}
    (the finetune_encoder stage's copy); frozen for a run made before that stage existed."""
    path = run_dir / ENCODER_META
    return json.loads(path.read_text()) if path.is_file() else {"mode": "frozen"}


def stage2_embedding_files(run_dir: Path) -> tuple[str, str, str]:
    """The prompt embeddings, their prompt ids and the task-summary embeddings stage 2 reads: the fine-tuned
    encoder's with `stage2.encoder: finetune`, else the embed and tasks stages' own."""
    if stage2_encoder(run_dir)["mode"] == "finetune":
        return FINETUNED_PROMPT_EMB, FINETUNED_PROMPT_IDS, FINETUNED_TASK_EMB
    return PROMPT_EMB, PROMPT_EMB_IDS, TASK_EMB


def embeddings_of(
    embeddings: np.ndarray, prompt_ids: np.ndarray, wanted: pd.Series | np.ndarray, what: str
) -> np.ndarray:
    """The rows of `embeddings` (row i belongs to `prompt_ids[i]`) of the `wanted` prompts, in their order; every
    wanted prompt must have one (`what` names them in the error)."""
    row_of = pd.Series(np.arange(len(prompt_ids)), index=pd.Index(prompt_ids))
    rows = row_of.reindex(wanted)
    if rows.isna().any():
        raise ValueError(f"{int(rows.isna().sum())} {what} prompts have no embedding; rerun the embed stage")
    return embeddings[rows.to_numpy(dtype=int)]
