"""Dev-only re-scoring of a rebuild's stage-2 bundle under other prior settings, routing thresholds and alphas,
without retraining: how `stage2.prior` and `stage2.routing_threshold` were chosen for configs/llmrouter.yaml
(docs/results.md).
Test is never read. The baselines' dev numbers are printed beside for scale (kNN's k is itself chosen on dev, so
its dev numbers are optimistic).

    PYTHONPATH=$PWD python benchmarks/rescore_stage2.py --run artifacts/llmrouter
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import numpy as np
import torch

from finerouter.evaluation.data import EvalData, Split, load_run
from finerouter.evaluation.harness import split_aiq, trace
from finerouter.evaluation.metrics import cost_to_reach
from finerouter.routing.router import Router, fuse, task_rows
from finerouter.stage2.config import ALPHA_GRID
from finerouter.stage2.data import load_stage2_run, stage1_priors

PRIORS = [("median", 0.0), ("mean", 0.0), ("mean", 10.0), ("mean", 20.0), ("mean", 50.0)]
THRESHOLDS = [0.0, 0.05, 0.1, 0.2, 0.3, 0.4]


def dev_row(scores: np.ndarray, dev: Split, model_cost: np.ndarray) -> dict[str, float | None]:
    """Dev quality at tau 0, AIQ under both sweeps, and the cost ratio to reach dev's best single model."""
    out: dict[str, float | None] = {}
    with np.errstate(all="ignore"):
        q, c = np.nanmean(dev.quality, axis=0), np.nanmean(dev.cost, axis=0)
    best = int(np.nanargmax(q))
    for sweep in ("tau", "lambda"):
        points = trace(scores, dev, model_cost, sweep)
        if sweep == "tau":
            out["quality"] = points[0]["quality"]
        out[f"aiq_{sweep}"] = split_aiq(points, dev)
        reach = cost_to_reach(np.array([[p["cost"], p["quality"]] for p in points]), float(q[best]))
        out[f"reach_{sweep}"] = None if reach is None else reach / float(c[best])
    return out


def fmt(row: dict[str, float | None]) -> str:
    return "  ".join(f"{k} {'never' if v is None else f'{v:.4f}'}" for k, v in row.items())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", type=Path, default=Path("artifacts/llmrouter"))
    ap.add_argument("--baselines", action="store_true", help="also fit kNN, MLP, MF and IPR-style and print dev")
    args = ap.parse_args()
    torch.set_num_threads(2)
    data, tasks = load_stage2_run(args.run)  # the fine-tuned encoder's embeddings, if the run has one
    dev = data.dev
    router = Router.load(args.run / "bundle")
    print(f"bundle {router.version}: classifier threshold {router.meta.get('classifier_threshold', router.threshold)}")
    for threshold in THRESHOLDS:
        router.threshold = threshold
        analysis = router.analyse(dev.emb)
        row_of = task_rows(analysis.task, len(tasks.task_ids))
        allowed = np.ones(analysis.estimate.shape, dtype=bool)
        for statistic, k in PRIORS:
            prior = stage1_priors(tasks, data.train.quality, statistic, k)[row_of]
            for alpha in ALPHA_GRID:
                scores = fuse(analysis.estimate, prior, alpha, allowed, router.score_scale)
                print(
                    f"threshold {threshold:.2f} (task for {np.mean(analysis.task >= 0):.0%}) prior {statistic:6s} "
                    f"k={k:4.0f} alpha {alpha:.1f}  {fmt(dev_row(scores, dev, data.model_cost))}"
                )
    if args.baselines:
        from finerouter.evaluation.registry import build_routers

        frozen: EvalData = load_run(args.run)  # the baselines see the embed stage's encoder
        fit_view = dataclasses.replace(frozen, test=None)
        for baseline in build_routers(["knn", "mlp", "mf", "ipr"], None):
            baseline.fit(fit_view)
            print(f"{baseline.name:28s}  {fmt(dev_row(baseline.scores(frozen.dev), frozen.dev, data.model_cost))}")


if __name__ == "__main__":
    main()
