"""The same bundle's scores on both scales (`stage2.score_scale`): min-max per prompt vs quality units.

Each run's bundle is re-scored on one split at the bundle's own alpha and heads, once with fused scores in [0, 1]
per prompt (`minmax`, the paper) and once mapped back to predicted quality (`quality`). The model chosen at
tolerance 0 is the same on both scales; the cost-quality curve differs. Printed per run: AIQ of the willingness
(lambda) curve and the cost at which the curve reaches the best single model's quality on that split, as a
multiple of that model's cost (the evaluation harness's metrics).

Usage (the development folds, the shipped test held out):
  OMP_NUM_THREADS=2 python benchmarks/score_scale.py --runs artifacts/llmrouter-devcv5-{0,1,2,3,4}
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import numpy as np
import torch
from alpha_rule_cv import load_split, metrics  # benchmarks/ is on sys.path when run as a script

from finerouter.evaluation.data import Split
from finerouter.evaluation.harness import best_single_model, single_models, trace
from finerouter.evaluation.metrics import cost_to_reach
from finerouter.routing.router import SCORE_SCALES, Router, fuse


def cost_ratio(scores: np.ndarray, split: Split, model_cost: np.ndarray) -> float | None:
    """Cost to reach the best single model's quality along the lambda curve, over that model's cost."""
    singles = single_models(split, [str(j) for j in range(split.quality.shape[1])])
    best = best_single_model(singles)
    curve = np.array([[p["cost"], p["quality"]] for p in trace(scores, split, model_cost, "lambda")])
    reach = cost_to_reach(curve, singles[best]["quality"])
    return None if reach is None else reach / singles[best]["cost"]


def score_run(run_dir: Path, split_name: str) -> tuple[Router, dict[str, tuple[float, float, float | None]]]:
    """The run's bundle, and scale -> (quality at tau 0, AIQ, cost ratio) of it on `split_name`."""
    router = Router.load(run_dir / "bundle")
    split, model_cost = load_split(run_dir, split_name)
    a = router.analyse(split.emb)
    allowed = np.ones(a.estimate.shape, dtype=bool)
    out = {}
    for scale in SCORE_SCALES:
        scores = fuse(a.estimate, a.prior, router.alpha, allowed, scale)
        q0, aiq, _ = metrics(scores, split, model_cost)
        out[scale] = (q0, aiq, cost_ratio(scores, split, model_cost))
    return router, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=Path, nargs="+", required=True, help="run directories with a bundle")
    parser.add_argument("--split", default="test", choices=["dev", "test"], help="the split to score")
    args = parser.parse_args()
    torch.set_num_threads(2)
    print("| run | alpha, heads | quality tau 0 | AIQ minmax | AIQ quality | cost to match minmax | quality |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    gains = []
    for run in args.runs:
        router, r = score_run(run, args.split)
        (q0, aiq_m, ratio_m), (q0_q, aiq_q, ratio_q) = r["minmax"], r["quality"]
        assert abs(q0 - q0_q) < 1e-12, "the two scales must choose the same model at tolerance 0"
        heads = "task" if router.use_task_heads else "general"
        fmt = lambda x: "never" if x is None else f"{x:.2f}x"  # noqa: E731
        print(f"| {run.name} | {router.alpha:.1f}, {heads} | {q0:.4f} | {aiq_m:.4f} | {aiq_q:.4f} | {fmt(ratio_m)} "
              f"| {fmt(ratio_q)} |")  # fmt: skip
        gains.append(aiq_q - aiq_m)
    up = sum(g > 0 for g in gains)
    print(f"\nAIQ quality minus minmax: mean {statistics.mean(gains):+.4f}, higher in {up} of {len(gains)} runs")


if __name__ == "__main__":
    main()
