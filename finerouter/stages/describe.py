"""Stage `describe`: one sentence describing the task of each train prompt (or the prompt itself)."""

from __future__ import annotations

from typing import Any

from finerouter.cluster import Demand
from finerouter.config import RebuildConfig
from finerouter.data.artifacts import DESCRIPTIONS, train_table
from finerouter.describe.backends import describe
from finerouter.pipeline.stage import Stage, StageContext
from finerouter.stages.demands import http_demand, vllm_demand


class DescribeStage(Stage):
    name = "describe"
    inputs = ("import",)
    version = 2  # 2: the `prompt` backend keeps the prompt verbatim (no whitespace collapsing)

    def __init__(self, config: RebuildConfig | None = None) -> None:
        self.needs_ray = bool(config and config.describe.backend != "prompt")  # type: ignore[misc]

    def config_key(self, config: RebuildConfig) -> Any:
        return config.describe

    def demands(self, config: RebuildConfig) -> list[Demand]:
        backend = config.describe.backend
        if backend == "openai":
            return [http_demand(self.name)]
        if backend == "vllm":
            return [vllm_demand(self.name, config.describe.vllm, "describe.vllm")]
        return []

    def run(self, ctx: StageContext) -> dict[str, Any]:
        prompts = train_table(ctx.run_dir).prompts[["prompt_id", "prompt"]]
        described = describe(prompts, ctx.config.describe)
        if len(described) != len(prompts):
            raise RuntimeError(f"describe returned {len(described)} rows for {len(prompts)} prompts")
        described = prompts[["prompt_id"]].merge(described, on="prompt_id", how="left", validate="one_to_one")
        # Text used downstream: the description, or the prompt itself where generation failed (counted).
        failed = described["description"].isna()
        fallback = prompts["prompt"].str.slice(0, ctx.config.describe.prompt_backend_chars).to_numpy()
        described["text"] = described["description"].where(~failed, fallback)
        described.to_parquet(ctx.out_dir / DESCRIPTIONS.split("/")[1], index=False)
        counts = {str(k): int(v) for k, v in described["status"].value_counts().items()}
        ctx.log.info("descriptions (%s backend): %s", ctx.config.describe.backend, counts)
        return {"backend": ctx.config.describe.backend, "rows": len(described), "status": counts}
