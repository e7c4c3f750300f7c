"""The train prompts as task discovery sees them, read from a rebuild's artifacts."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from finerouter.data.artifacts import DESC_EMB, DESCRIPTIONS, PREFERENCES, train_table
from finerouter.discovery.preferences import ranks_from_lists


@dataclass
class TrainView:
    """The train prompts in one fixed order, with everything stage 1 computes about them."""

    prompts: pd.DataFrame
    descriptions: list[str]
    embeddings: np.ndarray
    quality: np.ndarray
    prefs: np.ndarray
    models: list[str]

    @property
    def prompt_ids(self) -> np.ndarray:
        return self.prompts["prompt_id"].to_numpy()

    @property
    def ranks(self) -> np.ndarray:
        return ranks_from_lists(self.prefs)


def train_view(run_dir: Path) -> TrainView:
    table = train_table(run_dir)
    described = pd.read_parquet(run_dir / DESCRIPTIONS)
    if list(described["prompt_id"]) != list(table.prompts["prompt_id"]):
        raise RuntimeError("descriptions are not aligned with the train prompts; rerun with --force describe")
    return TrainView(
        prompts=table.prompts,
        descriptions=list(described["text"]),
        embeddings=np.load(run_dir / DESC_EMB),
        quality=table.quality_matrix(),
        prefs=np.load(run_dir / PREFERENCES),
        models=table.model_names,
    )
