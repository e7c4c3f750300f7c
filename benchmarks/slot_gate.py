"""Tried, not adopted: a task head answers only where it beats its model's general head on dev.

`stage2.task_heads` is one switch for the whole bundle, and on LLMRouter dev chooses the general heads in every
fold. This asks whether the task heads help in some (task, model) slots and hurt in others: each slot's task head
is kept only if its mean squared error on the dev prompts routed to its task is lower than the general head's
there, over at least MIN_N outcomes; elsewhere the general head answers. For each variant alpha is chosen by dev
AIQ of the lambda curve (as the bundle stage chooses it) and the result scored on test.

Usage (the development folds decide; the shipped test is never loaded there):
  OMP_NUM_THREADS=2 python benchmarks/slot_gate.py --runs artifacts/llmrouter-devcv5-{0,1,2,3,4}
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import numpy as np
import torch
from alpha_rule_cv import alpha_by_dev, load_split  # benchmarks/ is on sys.path when run as a script

from finerouter.routing.router import Analysis, Router, task_rows

MIN_N = (1, 5, 10)
Variant = tuple[float, float, float, float, int]  # alpha, dev AIQ, test quality at tau 0, test AIQ, slots on


def squared_error_by_task(task: np.ndarray, estimate: np.ndarray, quality: np.ndarray, n_tasks: int) -> tuple:
    """(tasks + 1, M) summed squared error and outcome count per routed task and model; the last row is no task."""
    rows = task_rows(task, n_tasks)
    seen = ~np.isnan(quality)
    error, count = np.zeros((n_tasks + 1, quality.shape[1])), np.zeros((n_tasks + 1, quality.shape[1]))
    np.add.at(error, rows, np.where(seen, (estimate - np.nan_to_num(quality)) ** 2, 0.0))
    np.add.at(count, rows, seen)
    return error, count


def dev_gate(heads: Analysis, general: Analysis, quality: np.ndarray, n_tasks: int, min_n: int) -> np.ndarray:
    """(tasks + 1, M) True where the task head's dev error is below the general head's (min_n outcomes or more)."""
    task_error, count = squared_error_by_task(heads.task, heads.estimate, quality, n_tasks)
    general_error, _ = squared_error_by_task(heads.task, general.estimate, quality, n_tasks)
    gate = (count >= min_n) & (task_error < general_error)
    gate[n_tasks] = False
    return gate


def score_run(run_dir: Path) -> dict[str, Variant]:
    router = Router.load(run_dir / "bundle")
    splits = {name: load_split(run_dir, name) for name in ("dev", "test")}
    model_cost = splits["dev"][1]
    analyses = {
        name: (router.analyse(split.emb, use_task_heads=True), router.analyse(split.emb, use_task_heads=False))
        for name, (split, _) in splits.items()
    }  # fmt: skip
    n_tasks, n_models = len(router.priors) - 1, len(router.models)
    every_slot = np.ones((n_tasks + 1, n_models), dtype=bool)
    every_slot[n_tasks] = False
    gates = {"general heads": np.zeros((n_tasks + 1, n_models), dtype=bool), "task heads": every_slot}
    for min_n in MIN_N:
        heads, general = analyses["dev"]
        gates[f"gated, >= {min_n} dev outcomes"] = dev_gate(heads, general, splits["dev"][0].quality, n_tasks, min_n)
    slot_table = router.estimator.members[0].slot_table.numpy()
    out = {}
    for name, gate in gates.items():
        fused = {}
        for split_name, (heads, general) in analyses.items():
            routed = gate[task_rows(heads.task, n_tasks)]
            fused[split_name] = (np.where(routed, heads.estimate, general.estimate), heads.prior, splits[split_name][0])
        slots_on = int((gate[:n_tasks] & (slot_table >= 0)).sum())
        out[name] = (*alpha_by_dev(fused["dev"], fused["test"], model_cost, router.score_scale), slots_on)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=Path, nargs="+", required=True, help="run directories with a bundle")
    args = parser.parse_args()
    torch.set_num_threads(2)
    results = [score_run(run) for run in args.runs]
    print("| variant | task-head slots on per run | alpha per run | dev AIQ, mean | test quality per run | mean | "
          "test AIQ, mean | minus general heads: quality / AIQ, mean | runs up / down in quality |")  # fmt: skip
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name in results[0]:
        rows = [r[name] for r in results]
        dq = [r[name][2] - r["general heads"][2] for r in results]
        da = [r[name][3] - r["general heads"][3] for r in results]
        print(
            f"| {name} | {', '.join(str(x[4]) for x in rows)} | {', '.join(f'{x[0]:.1f}' for x in rows)} | "
            f"{statistics.mean(x[1] for x in rows):.4f} | {', '.join(f'{x[2]:.3f}' for x in rows)} | "
            f"{statistics.mean(x[2] for x in rows):.4f} | {statistics.mean(x[3] for x in rows):.4f} | "
            f"{statistics.mean(dq):+.4f} / {statistics.mean(da):+.4f} | "
            f"{sum(d > 1e-12 for d in dq)} / {sum(d < -1e-12 for d in dq)} |"
        )


if __name__ == "__main__":
    main()
