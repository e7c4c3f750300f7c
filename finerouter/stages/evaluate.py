"""Stage `evaluate`: every router fitted on train, tuned on dev, compared on test (report, results, Pareto plot).

The subject is FineRouter as shipped: the rebuild's router bundle, scoring the test prompts' embeddings, beside
the baselines. With `evaluate.ablations: true` its ablations (stage 2 without the prior, general heads only, the
prior alone, source labels as tasks) and an alpha sweep are evaluated too.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import torch

from finerouter.build.source_tasks import SourceTaskRouter
from finerouter.evaluation.data import load_run
from finerouter.evaluation.finerouter import BundleRouter
from finerouter.evaluation.harness import evaluate
from finerouter.evaluation.registry import build_routers
from finerouter.evaluation.report import write_report
from finerouter.pipeline.stage import Stage, StageContext
from finerouter.stage2.config import ALPHA_GRID

if TYPE_CHECKING:
    from finerouter.config import RebuildConfig

BASELINE_ROUTERS = ["random", "knn", "mlp", "mf", "ipr", "finerouter-stage1"]
SUBJECT = "finerouter"
ABLATION_ROUTERS = ["finerouter-stage2", "finerouter-general", "finerouter-prior"]
SOURCE_TASKS = "finerouter-source-tasks"


class EvaluateStage(Stage):
    name = "evaluate"
    inputs = ("import", "embed", "describe", "preferences", "tasks", "bundle")
    version = 4  # 2: the bundle is the subject; ablations, alpha sweep. 3: configurable sweep. 4: ablations opt-in

    def config_key(self, config: RebuildConfig) -> Any:
        key: dict[str, Any] = {
            "routers": routers_evaluated(config),
            "seed": config.seed,
            "sweep": config.evaluate.sweep,
        }
        if config.evaluate.ablations:
            d = config.discovery
            key["source_tasks"] = {"delta": d.coverage_delta, "k_rrf": d.k_rrf, "stage2": config.stage2.model_dump()}
        return key

    def run(self, ctx: StageContext) -> dict[str, Any]:
        torch.set_num_threads(ctx.config.stage2.torch_threads)
        data = load_run(ctx.run_dir)
        d, seed, ablations = ctx.config.discovery, ctx.config.seed, ctx.config.evaluate.ablations
        routers = build_routers([r for r in routers_evaluated(ctx.config) if r != SOURCE_TASKS], ctx.run_dir, seed)
        if ablations:
            routers.append(SourceTaskRouter(ctx.run_dir, ctx.config.stage2, d.coverage_delta, d.k_rrf))
        sweep = ctx.config.evaluate.sweep
        results = evaluate(data, routers, subject=SUBJECT, seed=seed, sweep=sweep)
        if ablations:
            results["alpha_sweep"] = alpha_sweep(data, ctx.run_dir, sweep)
        results["bundle"] = json.loads((ctx.run_dir / "bundle" / "bundle.json").read_text())["version"]
        write_report(results, ctx.out_dir, "Evaluation")  # no run name: identical runs write identical reports
        if ablations:
            with (ctx.out_dir / "report.md").open("a") as report:
                report.write(alpha_sweep_markdown(results["alpha_sweep"]))
        return {n: {k: _round(r[k]) for k in ("quality", "cost", "aiq")} for n, r in results["routers"].items()}


def routers_evaluated(config: RebuildConfig) -> list[str]:
    """The baselines and FineRouter always; its ablations only with `evaluate.ablations`."""
    ablations = [*ABLATION_ROUTERS, SOURCE_TASKS] if config.evaluate.ablations else []
    return [*BASELINE_ROUTERS, SUBJECT, *ablations]


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 4)


def _cell(x: float | None, spec: str) -> str:
    return "n/a" if x is None else format(x, spec)


def alpha_sweep(data, run_dir, sweep: str = "tau") -> list[dict[str, float]]:
    """Test quality, cost and AIQ of the full bundle at every alpha (reported only; alpha is chosen on dev)."""
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
