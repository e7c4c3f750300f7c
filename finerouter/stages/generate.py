"""Stages `generate` and `score`: candidate models answer the prompts file; the answers are graded.

Without a `generation` section both do nothing and record that. `generate` keeps results keyed by
(prompt_id, model): a rerun reads the previous completed output (and checkpoints of an interrupted run,
in `<run>/.generate-cache/`, which this stage owns) and generates only the missing or failed pairs. While
any pair has failed, the stage's key changes on every run, so the next run retries them.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from finerouter.cluster import Demand
from finerouter.config import RebuildConfig
from finerouter.describe.openai_client import read_api_key
from finerouter.generate import table
from finerouter.generate.config import OpenAIEngine
from finerouter.generate.engines import where
from finerouter.generate.prompts import load_requests
from finerouter.generate.run import generate_all
from finerouter.generate.score import score
from finerouter.generate.store import ResultStore
from finerouter.pipeline.stage import Stage, StageContext, read_marker
from finerouter.stages.demands import http_demand, vllm_demand

RESPONSES = "responses.parquet"
REQUESTS = "requests.parquet"
REJECTED = "rejected_prompts.parquet"
CACHE_DIR = ".generate-cache"
NOT_CONFIGURED = {"configured": False, "note": "no generation section in the config: nothing to generate"}


class GenerateStage(Stage):
    name = "generate"

    def __init__(self, config: RebuildConfig | None = None) -> None:
        self.needs_ray = bool(config and config.generation)  # type: ignore[misc]

    def config_key(self, config: RebuildConfig) -> Any:
        if config.generation is None:
            return None
        marker = read_marker(config.run_dir / self.name)
        failed = bool(marker and marker.get("stats", {}).get("failed"))
        return {"generation": config.generation, "retry_failed_of": marker["finished"] if failed else None}

    def external_inputs(self, config: RebuildConfig) -> list[Path]:
        return [config.generation.prompts] if config.generation else []

    def demands(self, config: RebuildConfig) -> list[Demand]:
        if config.generation is None:
            return []
        return [
            vllm_demand(self.name, model.engine, f"generation.models[{i}].engine")
            if model.engine.kind == "vllm"
            else http_demand(self.name)
            for i, model in enumerate(config.generation.models)
        ]

    def run(self, ctx: StageContext) -> dict[str, Any]:
        cfg = ctx.config.generation
        if cfg is None:
            return NOT_CONFIGURED
        for model in cfg.models:  # a missing key fails here, before anything is generated
            if isinstance(model.engine, OpenAIEngine):
                read_api_key(model.engine, where(model))
        requests, rejected = load_requests(cfg)
        ctx.log.info("prompts: %d usable, %d rejected (see %s)", len(requests), len(rejected), REJECTED)
        previous = ctx.run_dir / self.name
        marker = read_marker(previous)
        finished = datetime.fromisoformat(marker["finished"]).timestamp() if marker else None
        store = ResultStore(previous / RESPONSES, ctx.run_dir / CACHE_DIR, finished)
        results, by_model = generate_all(cfg, requests, store)
        results.to_parquet(ctx.out_dir / RESPONSES, index=False)
        requests.to_parquet(ctx.out_dir / REQUESTS, index=False)
        rejected.to_parquet(ctx.out_dir / REJECTED, index=False)
        failed = sum(s["failed"] for s in by_model.values())
        pairs = len(requests) * len(cfg.models)
        if len(results) != pairs:
            raise RuntimeError(f"generate: {len(results)} results for {pairs} (prompt, model) pairs")
        return {
            "configured": True,
            "prompts": len(requests),
            "prompts_rejected": len(rejected),
            "pairs": pairs,
            "reused": sum(s["reused"] for s in by_model.values()),
            "generated": sum(s["generated"] for s in by_model.values()),
            "failed": failed,
            "by_model": by_model,
        }


class ScoreStage(Stage):
    name = "score"
    inputs = ("generate",)

    def config_key(self, config: RebuildConfig) -> Any:
        cfg = config.generation
        if cfg is None:
            return None
        return {"graders": cfg.graders, "prices": {m.name: m.prices for m in cfg.models}}

    def run(self, ctx: StageContext) -> dict[str, Any]:
        cfg = ctx.config.generation
        if cfg is None:
            return NOT_CONFIGURED
        generated = ctx.input_dir("generate")
        requests = pd.read_parquet(generated / REQUESTS)
        scored = score(cfg, requests, pd.read_parquet(generated / RESPONSES))
        scored.to_parquet(ctx.out_dir / table.SCORED, index=False)
        requests[["prompt_id", "prompt", "source"]].to_parquet(ctx.out_dir / table.PROMPTS, index=False)
        models = pd.DataFrame(
            [{"model": m.name, "input_price": m.prices.input_price, "output_price": m.prices.output_price}
             for m in cfg.models]
        )  # fmt: skip
        models.to_parquet(ctx.out_dir / table.MODELS, index=False)
        pd.read_parquet(generated / REJECTED).to_parquet(ctx.out_dir / table.REJECTED, index=False)
        ok = scored[scored["status"] == "ok"]
        by_model = {
            str(m): {"graded": len(g), "mean_quality": round(float(g["quality"].mean()), 4),
                     "cost_usd": round(float(g["cost"].sum()), 6)}
            for m, g in ok.groupby("model")
        }  # fmt: skip
        ctx.log.info("graded %d responses (%d failed generations left unscored): %s",
                     len(ok), len(scored) - len(ok), by_model)  # fmt: skip
        return {"configured": True, "graded": len(ok), "unscored_failed": len(scored) - len(ok), "by_model": by_model}
