"""Stage `embed`: sentence embeddings of every prompt and of the train descriptions, on a Ray actor pool."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from finerouter.batch import Resources, map_stage
from finerouter.cluster import Demand
from finerouter.config import RebuildConfig
from finerouter.data.artifacts import DESCRIPTIONS, load_table
from finerouter.embed.config import EmbedConfig
from finerouter.embed.hardware import EncoderChoice, choose_batch_encoder, plan_actors, torch_threads
from finerouter.embed.options import check_encoder_options
from finerouter.embed.stage import EmbedTexts
from finerouter.pipeline.progress import Progress
from finerouter.pipeline.stage import Stage, StageContext
from finerouter.ray_config import FaultToleranceConfig
from finerouter.stages.demands import embed_demand

OVERRIDE_HINT = "override with embed.dtype / embed.runtime"


def encoder_choice(cfg: EmbedConfig) -> EncoderChoice:
    """The runtime and dtype the actors will run, checked here so a combination that cannot run fails first."""
    device = "cuda" if cfg.num_gpus > 0 else "cpu"
    choice = choose_batch_encoder(cfg.runtime, cfg.dtype, device)
    check_encoder_options(choice.dtype, choice.runtime, device)
    return choice


@dataclass(frozen=True)
class EmbedPlan:
    workers: int
    workers_reason: str
    threads: int
    encoder: EncoderChoice

    def describe(self) -> str:
        return (
            f"{self.workers} encoder actor(s) ({self.workers_reason}), {self.threads} torch thread(s) each; "
            f"{self.encoder.describe(OVERRIDE_HINT)}"
        )

    def stats(self) -> dict[str, Any]:
        return {
            "workers": self.workers,
            "threads_per_worker": self.threads,
            "encoder_runtime": self.encoder.runtime,
            "encoder_dtype": self.encoder.dtype,
        }


def plan_embedding(cfg: EmbedConfig) -> EmbedPlan:
    """The actor pool for the connected Ray (`workers: auto` counts what Ray offers now) and the encoder's
    runtime and dtype."""
    import ray

    if not ray.is_initialized():  # as Ray Data itself would on first use (a stage that does not declare needs_ray)
        ray.init()
    actors = plan_actors(cfg.workers, cfg.num_cpus, cfg.num_gpus, ray.available_resources(), "encoder actors")
    return EmbedPlan(actors.workers, actors.reason, torch_threads(cfg.num_cpus), encoder_choice(cfg))


def length_blocks(texts: np.ndarray, rows_per_block: int, seed: int = 0) -> list[pd.DataFrame]:
    """`texts` sorted by length and cut into blocks of `rows_per_block` ("row": index into `texts`, "text"): two
    encoder batches each, one Ray Data batch each, so every actor gets work even on a few hundred texts, progress
    moves per block, and a text's batch mates (so its floating-point result) do not depend on how many actors run.

    The full blocks go out in a seeded random order: longest first, the first minutes ran at a fifth of the
    stage's texts/s and the progress ETA was several times too long (1 h 16 min at 6% of a 23-minute stage). The
    short block stays last: anywhere else, Ray Data would fill its batch from the next block and shift every
    batch after it off the blocks."""
    lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
    order = np.argsort(-lengths, kind="stable")
    frame = pd.DataFrame({"row": order, "text": texts[order]})
    blocks = [frame.iloc[i : i + rows_per_block] for i in range(0, len(frame), rows_per_block)] or [frame]
    full = np.random.default_rng(seed).permutation(len(blocks) - 1)
    return [*(blocks[i] for i in full), blocks[-1]]


def embed_texts(
    texts: list[str],
    cfg: EmbedConfig,
    *,
    fault_tolerance: FaultToleranceConfig | None = None,
    progress: Callable[[int], Progress] | None = None,
    name: str | None = None,
    plan: EmbedPlan | None = None,
) -> np.ndarray:
    """Embed unique texts once through Ray Data; rows come back in input order.

    Texts go out in blocks of similar length (`length_blocks`). `progress(total)` makes the tracker of rows
    embedded; `name` labels the dataset in the Ray dashboard; `plan` (default: `plan_embedding(cfg)`) sizes the pool.
    """
    import ray.data

    plan = plan or plan_embedding(cfg)
    unique, inverse = np.unique(np.asarray(texts, dtype=object), return_inverse=True)
    stage = EmbedTexts(
        cfg.encoder,
        cfg.batch_size,
        Resources(cfg.num_cpus, cfg.num_gpus),
        dtype=plan.encoder.dtype,
        runtime=plan.encoder.runtime,
    )
    rows_per_block = cfg.batch_size * 2
    out = map_stage(
        ray.data.from_pandas(length_blocks(unique, rows_per_block)),
        stage,
        batch_size=rows_per_block,
        workers=plan.workers,
        fault_tolerance=fault_tolerance,
        name=name,
    )
    tracker = progress(len(unique)) if progress else None
    vectors = np.empty((len(unique), 0), dtype=np.float32)
    # Blocks are read straight off the actor pool: an operator after it (a column projection, say) would need a CPU
    # the pool's actors hold until the last block, so every vector would reach this loop only at the end.
    for batch in out.iter_batches(batch_format="numpy", batch_size=None):
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
        """The encoder and, when not torch float32 (the only choice before they were options), the runtime and
        dtype it runs in here: `auto` resolves on this machine, and a bfloat16 embedding differs in the 4th digit."""
        cfg = config.embed
        key = cfg.model_dump(exclude={"workers", "num_cpus", "num_gpus", "batch_size", "dtype", "runtime"})
        choice = encoder_choice(cfg)
        if (choice.runtime, choice.dtype) != ("torch", "float32"):
            key |= {"runtime": choice.runtime, "dtype": choice.dtype}
        return key

    def demands(self, config: RebuildConfig) -> list[Demand]:
        return [embed_demand(self.name, config)]

    def run(self, ctx: StageContext) -> dict[str, Any]:
        table = load_table(ctx.run_dir)
        descriptions = pd.read_parquet(ctx.run_dir / DESCRIPTIONS)
        prompts = list(table.prompts["prompt"])
        texts = prompts + list(descriptions["text"])
        run, ray_cfg = ctx.config.run, ctx.config.ray
        plan = plan_embedding(ctx.config.embed)
        ctx.log.info("embedding: %s", plan.describe())
        vectors = embed_texts(
            texts,
            ctx.config.embed,
            fault_tolerance=ray_cfg.fault_tolerance,
            progress=lambda total: Progress(
                run, self.name, total, unit="texts", interval_s=ray_cfg.progress_interval_s, logger=ctx.log
            ),
            name=f"{run}.{self.name}",
            plan=plan,
        )
        np.save(ctx.out_dir / "prompt_embeddings.npy", vectors[: len(prompts)])
        table.prompts[["prompt_id", "split"]].to_parquet(ctx.out_dir / "prompt_ids.parquet", index=False)
        np.save(ctx.out_dir / "description_embeddings.npy", vectors[len(prompts) :])
        ctx.log.info(
            "embedded %d prompts and %d descriptions (dim %d)", len(prompts), len(descriptions), vectors.shape[1]
        )
        unique_texts = len(set(texts))
        return {
            "prompts": len(prompts),
            "descriptions": len(descriptions),
            "unique_texts": unique_texts,
            "dim": int(vectors.shape[1]),
        } | plan.stats()
