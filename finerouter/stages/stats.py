"""Stage `stats`: summary statistics of the imported routing table (stats.json, stats.txt)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from finerouter.data.stats import format_stats, table_stats
from finerouter.data.table import RoutingTable
from finerouter.pipeline.stage import Stage, StageContext
from finerouter.stages.ingest import table_path

if TYPE_CHECKING:
    from finerouter.config import RebuildConfig


class StatsStage(Stage):
    name = "stats"
    inputs = ("import",)

    def config_key(self, config: RebuildConfig) -> Any:
        return {}

    def run(self, ctx: StageContext) -> dict[str, Any]:
        stats = table_stats(RoutingTable.load(table_path(ctx.run_dir)))
        (ctx.out_dir / "stats.json").write_text(json.dumps(stats, indent=2) + "\n")
        text = format_stats(stats)
        (ctx.out_dir / "stats.txt").write_text(text + "\n")
        ctx.log.info("routing-table statistics:\n%s", text)
        summary = {}
        for split, s in stats["splits"].items():
            if s.get("prompts"):
                summary[split] = {
                    "prompts": s["prompts"],
                    "best_single": s["best_single_model"],
                    "oracle": s["oracle"],
                }
        return summary
