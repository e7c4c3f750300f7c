"""Tried, not adopted: per-task residual offsets on the general heads' estimate (a task-level random effect).

The general heads share one adapter, so a small task where a usually weaker model wins (on LLMRouter,
agentverse-logicgrid: gemma-2-9b-it above llama-3.1-nemotron-51b-instruct) is pulled toward the models that win
overall. A cheap correction, lighter than the task heads: add to each prompt's estimate its routed task's mean
train residual per model, shrunk toward 0, offset = sum(quality - estimate) / (n + k), with k from KS (inf: no
offset). For each k, alpha is chosen by dev AIQ of the lambda curve (as the bundle stage chooses it) and the
result scored on test; the last line also chooses k on dev.

Usage (the development folds decide; the shipped test is never loaded there):
  OMP_NUM_THREADS=2 python benchmarks/task_offsets.py --runs artifacts/llmrouter-devcv5-{0,1,2,3,4}
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import numpy as np
import torch
from alpha_rule_cv import alpha_by_dev, load_split  # benchmarks/ is on sys.path when run as a script

from finerouter.routing.router import Router, task_rows

KS = (0.0, 5.0, 20.0, 50.0, 100.0, 200.0, float("inf"))


def offsets(task: np.ndarray, estimate: np.ndarray, quality: np.ndarray, n_tasks: int, k: float) -> np.ndarray:
    """(tasks + 1, M) shrunk mean residual per routed task and model; the last row is "no task"."""
    if not np.isfinite(k):
        return np.zeros((n_tasks + 1, estimate.shape[1]))
    rows = task_rows(task, n_tasks)
    residual = quality - estimate
    seen = ~np.isnan(residual)
    total, count = np.zeros((n_tasks + 1, estimate.shape[1])), np.zeros((n_tasks + 1, estimate.shape[1]))
    np.add.at(total, rows, np.where(seen, residual, 0.0))
    np.add.at(count, rows, seen)
    return np.divide(total, count + k, out=np.zeros_like(total), where=count + k > 0)


def score_run(run_dir: Path) -> dict[float, tuple[float, float, float, float]]:
    """k -> (alpha chosen on dev, dev AIQ, test quality at tau 0, test AIQ)."""
    router = Router.load(run_dir / "bundle")
    splits = {name: load_split(run_dir, name) for name in ("train", "dev", "test")}
    model_cost = splits["train"][1]
    analyses = {name: router.analyse(split.emb, use_task_heads=False) for name, (split, _) in splits.items()}
    n_tasks = len(router.priors) - 1
    train = analyses["train"]
    out = {}
    for k in KS:
        off = offsets(train.task, train.estimate, splits["train"][0].quality, n_tasks, k)
        fused = {
            name: (a.estimate + off[task_rows(a.task, n_tasks)], a.prior, splits[name][0])
            for name, a in analyses.items()
            if name != "train"
        }  # fmt: skip
        out[k] = alpha_by_dev(fused["dev"], fused["test"], model_cost, router.score_scale)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=Path, nargs="+", required=True, help="run directories with a bundle")
    args = parser.parse_args()
    torch.set_num_threads(2)
    results = {run.name: score_run(run) for run in args.runs}
    print("| k | alpha per run | dev AIQ, mean | test quality per run | mean | test AIQ per run | mean |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for k in KS:
        rows = [results[name][k] for name in results]
        print(
            f"| {k:g} | {', '.join(f'{r[0]:.1f}' for r in rows)} | {statistics.mean(r[1] for r in rows):.4f} | "
            f"{', '.join(f'{r[2]:.3f}' for r in rows)} | {statistics.mean(r[2] for r in rows):.4f} | "
            f"{', '.join(f'{r[3]:.3f}' for r in rows)} | {statistics.mean(r[3] for r in rows):.4f} |"
        )
    chosen = {name: max(KS, key=lambda k, name=name: results[name][k][1]) for name in results}
    picked = [results[name][chosen[name]] for name in results]
    print(
        f"| k chosen on dev ({', '.join(f'{chosen[name]:g}' for name in results)}) | | | "
        f"{', '.join(f'{r[2]:.3f}' for r in picked)} | {statistics.mean(r[2] for r in picked):.4f} | "
        f"{', '.join(f'{r[3]:.3f}' for r in picked)} | {statistics.mean(r[3] for r in picked):.4f} |"
    )


if __name__ == "__main__":
    main()
