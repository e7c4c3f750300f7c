"""How many estimators to average (`stage2.estimator.members`)? Scored on the dev split only.

Member i of an ensemble trains with seed `member_seed(seed, i)` whatever the ensemble's size, so the first n
members of a bundle trained with N >= n members are exactly the n-member ensemble. This scores every prefix
n = 1..N of each run's bundle on dev: the classifier's tasks and the stage-1 prior as the bundle routes, the
members' estimates averaged, alpha re-chosen per n by dev AIQ of the willingness (lambda) curve (as the bundle
stage does), then quality at tau 0, AIQ and the estimator's dev MSE. The test split is never loaded.

Usage (runs rebuilt with --set stage2.estimator.members=8 --until bundle):
  OMP_NUM_THREADS=2 python benchmarks/ensemble_size.py --runs artifacts/llmrouter artifacts/llmrouter-seed{1,2,3,4}
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import numpy as np
import torch
from alpha_rule_cv import (
    load_dev,
    routed_task_and_prior,
    score_estimate,
)  # benchmarks/ is on sys.path when run as a script

from finerouter.routing.router import Router


def prefix_scores(run_dir: Path) -> list[tuple[float, float, float, float]]:
    """(alpha, quality at tau 0, AIQ, MSE) on dev of the ensembles of the bundle's first n members, n = 1..N."""
    dev, model_cost = load_dev(run_dir)
    router = Router.load(run_dir / "bundle")
    x = torch.as_tensor(np.asarray(dev.emb, dtype=np.float32))
    task, prior = routed_task_and_prior(router, x)
    with torch.no_grad():
        estimates = [member(x, task)[0].numpy().astype(np.float64) for member in router.estimator.members]
    return [
        score_estimate(np.mean(estimates[:n], axis=0), prior, dev, model_cost, router.score_scale)
        for n in range(1, len(estimates) + 1)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=Path, nargs="+", required=True, help="run directories with ensemble bundles")
    args = parser.parse_args()
    torch.set_num_threads(2)
    results = {run.name: prefix_scores(run) for run in args.runs}
    sizes = min(len(r) for r in results.values())
    names = list(results)
    head = " | ".join(f"{n} AIQ (alpha)" for n in names)
    print(f"| members | {head} | mean AIQ | mean quality tau 0 | mean MSE |")
    print("| --- |" + " --- |" * (len(names) + 3))
    for n in range(sizes):
        cells = [f"{results[name][n][2]:.4f} ({results[name][n][0]:.1f})" for name in names]
        aiq = statistics.mean(results[name][n][2] for name in names)
        quality = statistics.mean(results[name][n][1] for name in names)
        mse = statistics.mean(results[name][n][3] for name in names)
        print(f"| {n + 1} | " + " | ".join(cells) + f" | {aiq:.4f} | {quality:.4f} | {mse:.4f} |")


if __name__ == "__main__":
    main()
