"""Which estimator hyperparameters (`stage2.estimator`)? Scored on the dev split only.

For each run (its stage 1, classifier and bundle as rebuilt), the MoE quality estimator is retrained in this
process (`train_local`, the loop Ray Train runs) once per variant of the settings, on exactly the arrays the
train_router stage builds (classifier-relabelled train and dev). Each variant is scored on dev as the bundle routes:
the bundle's classifier, routing threshold and stage-1 prior, alpha re-chosen by dev AIQ of the willingness (lambda)
curve, then quality at tau 0, AIQ and the estimator's dev MSE. The test split is never loaded. Early stopping reads
dev loss too, as it does in the rebuild, so every variant's dev numbers share that optimism.

Usage:
  OMP_NUM_THREADS=2 python benchmarks/estimator_sweep.py --runs artifacts/llmrouter artifacts/llmrouter-seed{1,2,3,4} \
      --seeds 0 1 2 3 4
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from alpha_rule_cv import (
    load_dev,
    routed_task_and_prior,
    score_estimate,
)  # benchmarks/ is on sys.path when run as a script

from finerouter.routing.router import Router
from finerouter.stage2.config import EstimatorSettings
from finerouter.stage2.models import member_seed
from finerouter.stage2.ray_runner import train_local
from finerouter.stage2.training import build_estimator
from finerouter.stages.stage2 import estimator_arrays

# name -> overrides of the current defaults; one change at a time, then combinations named on the command line
VARIANTS: dict[str, dict[str, Any]] = {
    "default": {},
    "hidden 32": {"hidden": 32},
    "hidden 128": {"hidden": 128},
    "hidden 256": {"hidden": 256},
    "adapter 64": {"adapter_dim": 64},
    "adapter 256": {"adapter_dim": 256},
    "model_dim 32": {"model_dim": 32},
    "dropout 0": {"dropout": 0.0},
    "dropout 0.3": {"dropout": 0.3},
    "weight_decay 1e-2": {"weight_decay": 1e-2},
    "weight_decay 1e-1": {"weight_decay": 1e-1},
    "lr 3e-4": {"lr": 3e-4},
    "batch 64": {"batch_size": 64},
    "patience 10": {"patience": 10},
    "hidden 128, adapter 256": {"hidden": 128, "adapter_dim": 256},
    "hidden 128, model_dim 32": {"hidden": 128, "model_dim": 32},
}


def score_run(
    run_dir: Path, seed: int, variants: dict[str, dict[str, Any]], draws: int
) -> dict[str, tuple[float, ...]]:
    """variant -> (alpha, dev quality at tau 0, dev AIQ, dev MSE, seconds), each the mean over `draws` training
    seeds `member_seed(seed, i)`, i < draws (draw 0 is the rebuild's own estimator), then each draw's dev AIQ."""
    dev, model_cost = load_dev(run_dir)
    router = Router.load(run_dir / "bundle")
    x = torch.as_tensor(np.asarray(dev.emb, dtype=np.float32))
    task, prior = routed_task_and_prior(router, x)
    arrays, _ = estimator_arrays(run_dir, EstimatorSettings().min_task_prompts)
    out = {}
    for name, overrides in variants.items():
        settings = EstimatorSettings(**overrides).model_dump()
        rows = []
        for draw in range(draws):
            start = time.perf_counter()
            state = train_local("estimator", arrays, settings, seed=member_seed(seed, draw), threads=2)
            seconds = time.perf_counter() - start
            model = build_estimator(state["dims"], arrays["slot_table"])
            model.load_state_dict(state["model"])
            model.eval()
            with torch.no_grad():
                estimate = model(x, task)[0].numpy().astype(np.float64)
            alpha, quality, aiq, mse = score_estimate(estimate, prior, dev, model_cost, router.score_scale)
            rows.append((alpha, quality, aiq, mse, seconds))
            print(f"{run_dir.name} {name} draw {draw}: alpha {alpha:.1f} q {quality:.4f} AIQ {aiq:.4f} "
                  f"MSE {mse:.4f} ({seconds:.1f} s)", flush=True)  # fmt: skip
        out[name] = (*(float(v) for v in np.mean(rows, axis=0)), *(row[2] for row in rows))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=Path, nargs="+", required=True)
    parser.add_argument("--seeds", type=int, nargs="+", required=True, help="each run's stage2.seed, in order")
    parser.add_argument("--draws", type=int, default=1, help="training seeds per variant and run, averaged")
    parser.add_argument("--only", nargs="*", help="variant names to run (default: all)")
    parser.add_argument("--extra", type=json.loads, default={}, help='more variants, {"name": {"hidden": 128}}')
    args = parser.parse_args()
    if len(args.seeds) != len(args.runs):
        parser.error(f"{len(args.runs)} runs but {len(args.seeds)} seeds")
    variants = {**VARIANTS, **args.extra}
    if args.only:
        unknown = sorted(set(args.only) - set(variants))
        if unknown:
            parser.error(f"unknown variants {unknown}; choose from {sorted(variants)}")
        variants = {name: variants[name] for name in args.only}
    results = {
        run.name: score_run(run, seed, variants, args.draws) for run, seed in zip(args.runs, args.seeds, strict=True)
    }
    names = list(results)
    head = " | ".join(f"{n} AIQ (alpha)" for n in names)
    print(f"| variant | {head} | mean AIQ (se over runs x draws) | mean quality tau 0 | mean MSE |")
    print("| --- |" + " --- |" * (len(names) + 3))
    for variant in variants:
        cells = [f"{results[n][variant][2]:.4f} ({results[n][variant][0]:.2f})" for n in names]
        aiq, quality, mse = (statistics.mean(results[n][variant][i] for n in names) for i in (2, 1, 3))
        every = [a for n in names for a in results[n][variant][5:]]
        se = statistics.stdev(every) / len(every) ** 0.5 if len(every) > 1 else float("nan")
        print(f"| {variant} | " + " | ".join(cells) + f" | {aiq:.4f} ({se:.4f}) | {quality:.4f} | {mse:.4f} |")


if __name__ == "__main__":
    main()
