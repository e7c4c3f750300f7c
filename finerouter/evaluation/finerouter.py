"""FineRouter (stage 2) in the harness: the router bundle a rebuild wrote, scored on precomputed embeddings.

Nothing is refitted here: the bundle was trained on train and calibrated on dev by the rebuild, so `fit` only loads
it and checks that it routes over the same models. Ablations are the same bundle with parts switched off.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from finerouter.evaluation.data import EvalData, Split
from finerouter.evaluation.routers import Router

# name -> (alpha override, use task heads): alpha None = the bundle's dev-calibrated alpha
VARIANTS: dict[str, tuple[float | None, bool]] = {
    "finerouter": (None, True),
    "finerouter-stage2": (1.0, True),  # no stage-1 prior
    "finerouter-general": (1.0, False),  # stage 2 with general heads only
    "finerouter-prior": (0.0, True),  # stage 1 only: the classifier's task and its prior
}


class BundleRouter(Router):
    def __init__(self, bundle_dir: Path, name: str = "finerouter", alpha: float | None = None, tasks: bool = True):
        self.bundle_dir, self.name, self.alpha, self.use_task_heads = Path(bundle_dir), name, alpha, tasks

    @classmethod
    def variant(cls, bundle_dir: Path, name: str) -> BundleRouter:
        alpha, tasks = VARIANTS[name]
        return cls(bundle_dir, name, alpha, tasks)

    def fit(self, data: EvalData) -> None:
        from finerouter.routing.router import Router as OnlineRouter

        self.router = OnlineRouter.load(self.bundle_dir)
        if self.router.models != data.models:
            raise ValueError(
                f"bundle {self.bundle_dir} routes over {self.router.models}, the data has {data.models}; "
                "rebuild the bundle from this run"
            )

    def scores(self, split: Split) -> np.ndarray:
        return self.router.fused_scores(split.emb, alpha=self.alpha, use_task_heads=self.use_task_heads)
