"""Stage `finetune_encoder`: with `stage2.encoder: finetune`, train a copy of the sentence encoder on the train
prompts' outcomes (Ray Train, `stage2.scaling`'s workers), then embed every prompt and task summary with it;
stage 2 and the bundle use those. With `frozen` (the default) it records that and stage 2 uses the embed stage's.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

from finerouter.cluster import Demand
from finerouter.config import RebuildConfig
from finerouter.data.artifacts import TASKS, load_table
from finerouter.embed.encoder import local_model_dir
from finerouter.pipeline.progress import Progress
from finerouter.pipeline.stage import Stage, StageContext
from finerouter.stage2.finetune import encoder_weights, save_finetuned_encoder
from finerouter.stages.demands import embed_demand, train_demand
from finerouter.stages.embed import embed_texts
from finerouter.stages.stage2 import ray_train

FROZEN_NOTE = "stage2.encoder: frozen: stage 2 uses the embed stage's embeddings"


class FinetuneEncoderStage(Stage):
    name = "finetune_encoder"
    inputs = ("import", "embed", "tasks")

    def __init__(self, config: RebuildConfig | None = None) -> None:
        self.needs_ray = bool(config and config.stage2.encoder == "finetune")  # type: ignore[misc]

    def config_key(self, config: RebuildConfig) -> Any:
        s = config.stage2
        if s.encoder == "frozen":
            return {"encoder": "frozen", "name": config.embed.encoder}
        return {"encoder": "finetune", "name": config.embed.encoder, "finetune": s.finetune.model_dump(),
                "head": _head(config), "seed": s.seed}  # fmt: skip

    def demands(self, config: RebuildConfig) -> list[Demand]:
        if config.stage2.encoder != "finetune":
            return []
        return [train_demand(self.name, config), embed_demand(self.name, config)]

    def run(self, ctx: StageContext) -> dict[str, Any]:
        cfg = ctx.config
        if cfg.stage2.encoder == "frozen":
            _write_meta(ctx, {"mode": "frozen", "name": cfg.embed.encoder})
            return {"mode": "frozen", "note": FROZEN_NOTE}
        table = load_table(ctx.run_dir)
        train, dev = table.split("train"), table.split("dev")
        arrays = {
            "encoder": cfg.embed.encoder,
            "texts": train.prompts["prompt"].to_numpy(dtype=object), "quality": train.quality_matrix(),
            "texts_dev": dev.prompts["prompt"].to_numpy(dtype=object), "quality_dev": dev.quality_matrix(),
        }  # fmt: skip
        settings = {**cfg.stage2.finetune.model_dump(), "head": _head(cfg)}
        state = ray_train(ctx, self, "encoder", arrays, settings)
        encoder_dir = save_finetuned_encoder(
            local_model_dir(cfg.embed.encoder), encoder_weights(state["model"]), ctx.out_dir / "encoder"
        )
        prompts = list(table.prompts["prompt"])
        summaries = pd.read_parquet(ctx.run_dir / TASKS)["summary"].fillna("").astype(str).tolist()
        vectors = embed_texts(
            prompts + summaries,
            cfg.embed.model_copy(update={"encoder": str(encoder_dir.resolve())}),
            fault_tolerance=cfg.ray.fault_tolerance,
            progress=lambda total: Progress(
                cfg.run, self.name, total, unit="texts", interval_s=cfg.ray.progress_interval_s, logger=ctx.log
            ),
            name=f"{cfg.run}.{self.name}",
        )
        np.save(ctx.out_dir / "prompt_embeddings.npy", vectors[: len(prompts)])
        table.prompts[["prompt_id", "split"]].to_parquet(ctx.out_dir / "prompt_ids.parquet", index=False)
        np.save(ctx.out_dir / "task_embeddings.npy", vectors[len(prompts) :])
        history = [h for h in state.get("history", []) if h["epoch"] >= 0]
        stats = {
            "mode": "finetune",
            "base": cfg.embed.encoder,
            "dim": int(vectors.shape[1]),
            "epochs": len(history),
            "best_dev_loss": state.get("best_dev_loss", {}).get("encoder"),
            "dev_loss_by_epoch": [round(h["dev_loss"], 6) for h in history],
        }
        _write_meta(ctx, {**stats, "name": encoder_dir.name, "history": history})
        ctx.log.info("fine-tuned encoder: %s", stats)
        return stats


def _head(config: RebuildConfig) -> dict[str, Any]:
    e = config.stage2.estimator
    return {"adapter_dim": e.adapter_dim, "model_dim": e.model_dim, "hidden": e.hidden, "dropout": e.dropout}


def _write_meta(ctx: StageContext, meta: dict[str, Any]) -> None:
    (ctx.out_dir / "encoder.json").write_text(json.dumps(meta, indent=2, default=float) + "\n")
