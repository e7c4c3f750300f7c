"""Stage `evaluate`: every router fitted on train, tuned on dev, compared on test (report, results, Pareto plot).

The subject is FineRouter as shipped: the rebuild's router bundle, scoring the test prompts' embeddings. Its
ablations (stage 2 without the prior, general heads only, the prior alone, source labels as tasks) and an alpha
sweep sit beside the baselines.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from finerouter.pipeline.stage import Stage, StageContext

if TYPE_CHECKING:
    from finerouter.config import RebuildConfig

BASELINE_ROUTERS = ["random", "knn", "mlp", "mf", "ipr", "finerouter-stage1"]
FINEROUTER_ROUTERS = ["finerouter", "finerouter-stage2", "finerouter-general", "finerouter-prior"]
SUBJECT = "finerouter"


class EvaluateStage(Stage):
    name = "evaluate"
    inputs = ("import", "embed", "describe", "preferences", "tasks", "bundle")
    version = 3  # 2: FineRouter's bundle is the subject; ablations and alpha sweep. 3: configurable sweep

    def config_key(self, config: RebuildConfig) -> Any:
        return {
            "routers": [*BASELINE_ROUTERS, *FINEROUTER_ROUTERS, "finerouter-source-tasks"],
            "seed": config.seed,
            "sweep": config.evaluate.sweep,
            "source_tasks": config.discovery.candidate_rule(),
        }

    def run(self, ctx: StageContext) -> dict[str, Any]:
        import torch

        from finerouter.evaluation.data import load_run
        from finerouter.evaluation.harness import evaluate
        from finerouter.evaluation.registry import build_routers
        from finerouter.evaluation.report import write_report
        from finerouter.evaluation.source_tasks import SourceTaskRouter

        torch.set_num_threads(ctx.config.stage2.torch_threads)
        data = load_run(ctx.run_dir)
        d, seed = ctx.config.discovery, ctx.config.seed
        routers = build_routers([*BASELINE_ROUTERS, *FINEROUTER_ROUTERS], ctx.run_dir, seed)
        routers.append(SourceTaskRouter(ctx.run_dir, d.coverage_delta, d.k_rrf, seed, d.min_candidates))
        sweep = ctx.config.evaluate.sweep
        results = evaluate(data, routers, subject=SUBJECT, seed=seed, sweep=sweep)
        results["alpha_sweep"] = alpha_sweep(data, ctx.run_dir, sweep)
        results["bundle"] = json.loads((ctx.run_dir / "bundle" / "bundle.json").read_text())["version"]
        write_report(results, ctx.out_dir, "Evaluation")  # no run name: identical runs write identical reports
        with (ctx.out_dir / "report.md").open("a") as report:
            report.write(alpha_sweep_markdown(results["alpha_sweep"]))
        return {n: {k: _round(r[k]) for k in ("quality", "cost", "aiq")} for n, r in results["routers"].items()}


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 4)


def _cell(x: float | None, spec: str) -> str:
    return "n/a" if x is None else format(x, spec)


def alpha_sweep(data, run_dir, sweep: str = "tau") -> list[dict[str, float]]:
    """Test quality, cost and AIQ of the full bundle at every alpha (reported only; alpha is chosen on dev)."""
    from finerouter.evaluation.finerouter import BundleRouter
    from finerouter.evaluation.harness import evaluate
    from finerouter.stage2.config import ALPHA_GRID

    routers = [BundleRouter(run_dir / "bundle", f"alpha={a}", alpha=a) for a in ALPHA_GRID]
    res = evaluate(data, routers, sweep=sweep)["routers"]
    dev = json.loads((run_dir / "bundle" / "bundle.json").read_text())["calibration"]["alpha_sweep"]
    dev_q = {round(p["alpha"], 3): p["quality"] for p in dev}
    return [
        {
            "alpha": a,
            "dev_quality": dev_q.get(round(a, 3)),
            **{k: res[f"alpha={a}"][k] for k in ("quality", "cost", "aiq")},
        }
        for a in ALPHA_GRID
    ]


def alpha_sweep_markdown(sweep: list[dict[str, float]]) -> str:
    lines = [
        "",
        "## Alpha sweep (FineRouter bundle; alpha is chosen on dev, test shown for reference)",
        "",
        "| alpha | dev quality | test quality | test cost | test AIQ |",
        "| --- | --- | --- | --- | --- |",
    ]
    for p in sweep:
        lines.append(
            f"| {p['alpha']:.1f} | {_cell(p['dev_quality'], '.3f')} | {p['quality']:.3f} | {_cell(p['cost'], '.4g')} "
            f"| {_cell(p['aiq'], '.3f')} |"
        )
    return "\n".join(lines) + "\n"
