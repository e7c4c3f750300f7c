"""Stage `embed`: sentence embeddings of every prompt and of the train descriptions, on a Ray actor pool."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from finerouter.embed.config import EmbedConfig
from finerouter.embed.stage import EmbedTexts
from finerouter.pipeline.batch import Resources, map_stage
from finerouter.pipeline.progress import Progress
from finerouter.pipeline.stage import Stage, StageContext
from finerouter.stages.artifacts import DESCRIPTIONS, load_table

if TYPE_CHECKING:
    from finerouter.config import FaultToleranceConfig, RebuildConfig


def embed_texts(
    texts: list[str],
    cfg: EmbedConfig,
    *,
    fault_tolerance: FaultToleranceConfig | None = None,
    progress: Callable[[int], Progress] | None = None,
    name: str | None = None,
) -> np.ndarray:
    """Embed unique texts once through Ray Data; rows come back in input order.

    `progress(total)` makes the tracker of rows embedded; `name` labels the dataset in the Ray dashboard.
    """
    import ray.data

    unique, inverse = np.unique(np.asarray(texts, dtype=object), return_inverse=True)
    frame = pd.DataFrame({"row": np.arange(len(unique)), "text": unique})
    stage = EmbedTexts(cfg.encoder, cfg.batch_size, Resources(cfg.num_cpus, cfg.num_gpus))
    # Blocks of a few batches each, so several actors can share the work and progress is visible per block.
    rows_per_block = cfg.batch_size * 8
    blocks = [frame.iloc[i : i + rows_per_block] for i in range(0, len(frame), rows_per_block)] or [frame]
    out = map_stage(
        ray.data.from_pandas(blocks),
        stage,
        batch_size=cfg.batch_size * 4,
        workers=cfg.workers,
        fault_tolerance=fault_tolerance,
        name=name,
    )
    tracker = progress(len(unique)) if progress else None
    vectors = np.empty((len(unique), 0), dtype=np.float32)
    for batch in out.select_columns(["row", "embedding"]).iter_batches(batch_format="numpy", batch_size=None):
        emb = np.stack(batch["embedding"]).astype(np.float32)
        if tracker:
            tracker.update(len(emb))
        if vectors.shape[1] == 0:
            vectors = np.zeros((len(unique), emb.shape[1]), dtype=np.float32)
        vectors[batch["row"]] = emb
    return vectors[inverse]


class EmbedStage(Stage):
    name = "embed"
    inputs = ("import", "describe")
    needs_ray = True

    def config_key(self, config: RebuildConfig) -> Any:
        return config.embed.model_dump(exclude={"workers", "num_cpus", "num_gpus", "batch_size"})

    def run(self, ctx: StageContext) -> dict[str, Any]:
        table = load_table(ctx.run_dir)
        descriptions = pd.read_parquet(ctx.run_dir / DESCRIPTIONS)
        prompts = list(table.prompts["prompt"])
        texts = prompts + list(descriptions["text"])
        run, ray_cfg = ctx.config.run, ctx.config.ray
        vectors = embed_texts(
            texts,
            ctx.config.embed,
            fault_tolerance=ray_cfg.fault_tolerance,
            progress=lambda total: Progress(
                run, self.name, total, unit="texts", interval_s=ray_cfg.progress_interval_s, logger=ctx.log
            ),
            name=f"{run}.{self.name}",
        )
        np.save(ctx.out_dir / "prompt_embeddings.npy", vectors[: len(prompts)])
        table.prompts[["prompt_id", "split"]].to_parquet(ctx.out_dir / "prompt_ids.parquet", index=False)
        np.save(ctx.out_dir / "description_embeddings.npy", vectors[len(prompts) :])
        ctx.log.info(
            "embedded %d prompts and %d descriptions (dim %d)", len(prompts), len(descriptions), vectors.shape[1]
        )
        return {"prompts": len(prompts), "descriptions": len(descriptions), "dim": int(vectors.shape[1])}
