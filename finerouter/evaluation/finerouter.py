"""FineRouter (stage 2) in the harness: the router bundle a rebuild wrote, scored on precomputed embeddings (or,
for a bundle with its own fine-tuned encoder, on the split's prompts embedded with that encoder).

Nothing is refitted here: the bundle was trained on train and calibrated on dev by the rebuild, so `fit` only loads
it and checks that it routes over the same models. Ablations are the same bundle with parts switched off.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np

from finerouter.evaluation.data import EvalData, Split
from finerouter.evaluation.routers import RoutingPolicy
from finerouter.routing.router import Router


class BundleEmbeddings:
    """A split's embeddings for a bundle: the harness's (the embed stage's encoder) unless the bundle carries its
    own fine-tuned encoder, which then embeds the split's prompts once for every router of that encoder (the
    ablations are the same bundle)."""

    _cache: ClassVar[dict[tuple[str, int], tuple[Split, np.ndarray]]] = {}

    def __call__(self, router: Router, split: Split) -> np.ndarray:
        if not router.finetuned_encoder:
            return split.emb
        key = (router.encoder_name, id(split))
        held = self._cache.get(key)
        if held is None or held[0] is not split:
            held = (split, router.embed(list(split.prompts["prompt"])))
            self._cache[key] = held
        return held[1]


# name -> (alpha override, use task heads): None = the bundle's dev-calibrated choice
VARIANTS: dict[str, tuple[float | None, bool | None]] = {
    "finerouter": (None, None),
    "finerouter-stage2": (1.0, True),  # no stage-1 prior, task heads
    "finerouter-general": (1.0, False),  # stage 2 with general heads only
    "finerouter-prior": (0.0, None),  # stage 1 only: the classifier's task and its prior (no estimate)
}


class BundleRouter(RoutingPolicy):
    def __init__(
        self, bundle_dir: Path, name: str = "finerouter", alpha: float | None = None, tasks: bool | None = None
    ) -> None:
        self.bundle_dir, self.name, self.alpha, self.use_task_heads = Path(bundle_dir), name, alpha, tasks
        self.embeddings = BundleEmbeddings()

    @classmethod
    def variant(cls, bundle_dir: Path, name: str) -> BundleRouter:
        alpha, tasks = VARIANTS[name]
        return cls(bundle_dir, name, alpha, tasks)

    def fit(self, data: EvalData) -> None:
        self.router = Router.load(self.bundle_dir)
        if self.router.models != data.models:
            raise ValueError(
                f"bundle {self.bundle_dir} routes over {self.router.models}, the data has {data.models}; "
                "rebuild the bundle from this run"
            )

    def scores(self, split: Split) -> np.ndarray:
        emb = self.embeddings(self.router, split)
        return self.router.fused_scores(emb, alpha=self.alpha, use_task_heads=self.use_task_heads)
