"""Stage `evaluate`: every router fitted on train, tuned on dev, compared on test (report, results, Pareto plot)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from finerouter.pipeline.stage import Stage, StageContext

if TYPE_CHECKING:
    from finerouter.config import RebuildConfig

DEFAULT_ROUTERS = ["random", "knn", "mlp", "mf", "ipr", "finerouter-stage1"]


class EvaluateStage(Stage):
    name = "evaluate"
    inputs = ("import", "embed", "tasks")

    def config_key(self, config: RebuildConfig) -> Any:
        return {"routers": DEFAULT_ROUTERS, "seed": config.seed}

    def run(self, ctx: StageContext) -> dict[str, Any]:
        from finerouter.evaluation.data import load_run
        from finerouter.evaluation.harness import evaluate
        from finerouter.evaluation.registry import build_routers
        from finerouter.evaluation.report import write_report

        data = load_run(ctx.run_dir)
        routers = build_routers(DEFAULT_ROUTERS, ctx.run_dir, ctx.config.seed)
        results = evaluate(data, routers, subject="finerouter-stage1", seed=ctx.config.seed)
        write_report(results, ctx.out_dir, f"Evaluation: {ctx.config.run}")
        return {
            n: {"quality": round(r["quality"], 4), "cost": round(r["cost"], 4)} for n, r in results["routers"].items()
        }
