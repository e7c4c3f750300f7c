"""Which rule for choosing the bundle's alpha generalises best? Cross-validated on the dev split only.

The bundle stage picked alpha (stage-2 estimate vs stage-1 prior) as the ALPHA_GRID value with the best mean dev
quality at tolerance 0 (now `stage2.alpha_objective: quality`; "current" in the table). This compares that rule
with alternatives by repeated random 2-fold splits of the dev
prompts: choose alpha on one half with each rule, then score the other half at that alpha, by quality at tau 0 and
by AIQ of the willingness-to-pay (lambda) curve, both as the evaluation harness computes them. The test split is
never loaded: the dev split and train's expected model costs are read directly from each run's table.
`aiq-lambda` did best on LLMRouter (5 seeds) and MMLU-Pro and is now the default (docs/results.md).

Usage:
  OMP_NUM_THREADS=1 python benchmarks/alpha_rule_cv.py --runs artifacts/llmrouter artifacts/llmrouter-seed{1,2,3,4}
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from finerouter.evaluation.data import Split
from finerouter.evaluation.harness import split_aiq, trace
from finerouter.evaluation.metrics import choose_tolerance, outcome_of
from finerouter.routing.router import Router, task_rows
from finerouter.stage2.config import ALPHA_GRID

ALPHAS = np.array(ALPHA_GRID, dtype=float)
METRICS = ("q_tau0", "aiq_lambda", "q_lambda_mean")


def smooth(values: np.ndarray) -> np.ndarray:
    """Each alpha's metric averaged with its grid neighbours (two values at the ends)."""
    padded = np.concatenate([[np.nan], values, [np.nan]])
    return np.nanmean(np.stack([padded[:-2], padded[1:-1], padded[2:]]), axis=0)


def argmax_alpha(values: np.ndarray) -> int:
    """Index of the best alpha, ties to the one nearest 0.5 (as `calibrate` breaks them)."""
    return max(range(len(ALPHAS)), key=lambda i: (round(float(values[i]), 9), -abs(ALPHAS[i] - 0.5)))


# rule name -> index of the chosen alpha from the (alphas, metrics) table of the half it chooses on
RULES: dict[str, Callable[[np.ndarray], int]] = {
    "tau0 (current)": lambda t: argmax_alpha(t[:, 0]),
    "aiq-lambda": lambda t: argmax_alpha(t[:, 1]),
    "lambda-mean": lambda t: argmax_alpha(t[:, 2]),
    "tau0+aiq": lambda t: argmax_alpha(t[:, 0] + t[:, 1]),
    "tau0 smoothed": lambda t: argmax_alpha(smooth(t[:, 0])),
    "aiq-lambda smoothed": lambda t: argmax_alpha(smooth(t[:, 1])),
    "lambda-mean smoothed": lambda t: argmax_alpha(smooth(t[:, 2])),
    "tau0+aiq smoothed": lambda t: argmax_alpha(smooth(t[:, 0] + t[:, 1])),
    **{f"fixed {a:.1f}": (lambda t, i=i: i) for i, a in enumerate(ALPHAS) if round(a, 1) in (0.5, 0.7, 1.0)},
}


def load_dev(run_dir: Path) -> tuple[Split, np.ndarray]:
    """The dev split and train's expected model costs, as `load_eval_data` builds them, without the test split."""
    return load_split(run_dir, "dev")


def load_split(run_dir: Path, name: str) -> tuple[Split, np.ndarray]:
    """One split of the run's table with its embeddings, and train's expected model costs (as the harness)."""
    from finerouter.stages.artifacts import PROMPT_EMB, PROMPT_EMB_IDS, load_table

    table = load_table(run_dir)
    ids = pd.read_parquet(run_dir / PROMPT_EMB_IDS)["prompt_id"].to_numpy()
    row_of = pd.Series(np.arange(len(ids)), index=pd.Index(ids))
    with np.errstate(all="ignore"):
        model_cost = np.nanmean(table.split("train").cost_matrix(), axis=0)
    part = table.split(name)
    rows = row_of.reindex(part.prompts["prompt_id"]).to_numpy(dtype=int)
    emb = np.load(run_dir / PROMPT_EMB, mmap_mode="r")[rows]
    return Split(part.prompts, part.quality_matrix(), part.cost_matrix(), np.asarray(emb)), model_cost


def subset(split: Split, idx: np.ndarray) -> Split:
    return Split(split.prompts.iloc[idx], split.quality[idx], split.cost[idx], split.emb[idx])


def metrics(scores: np.ndarray, split: Split, model_cost: np.ndarray) -> tuple[float, float, float]:
    """Quality at tau 0, AIQ of the lambda curve and mean quality over the lambda curve, as the harness scores."""
    available = ~np.isnan(split.quality)
    masked = np.where(available, scores, np.nan)
    expected_cost = np.where(available, np.broadcast_to(model_cost, scores.shape), np.nan)
    cost = np.where(available, np.nan_to_num(split.cost), np.inf)
    q0, _ = outcome_of(choose_tolerance(masked, expected_cost, 0.0), np.nan_to_num(split.quality), cost)
    points = trace(scores, split, model_cost, "lambda")
    return q0, split_aiq(points, split), float(np.mean([p["quality"] for p in points]))


def routed_task_and_prior(router: Router, x: torch.Tensor) -> tuple[torch.Tensor, np.ndarray]:
    """The task each row of `x` is routed in (the bundle's routing threshold) and that task's stage-1 prior."""
    with torch.no_grad():
        task, _ = router.classifier.assign(x, router.threshold)
    return task, router.priors[task_rows(task.numpy(), len(router.priors) - 1)]


def score_estimate(
    estimate: np.ndarray, prior: np.ndarray, split: Split, model_cost: np.ndarray, scale: str
) -> tuple[float, float, float, float]:
    """(alpha, quality at tau 0, AIQ, MSE) of a stage-2 estimate fused with `prior` on the score `scale` (the
    bundle's), alpha chosen by AIQ of the lambda curve on `split`, as the bundle stage chooses it."""
    from finerouter.routing.router import fuse

    allowed = np.ones(prior.shape, dtype=bool)
    table = np.array([metrics(fuse(estimate, prior, a, allowed, scale), split, model_cost) for a in ALPHAS])
    k = int(table[:, 1].argmax())
    mse = float(np.nanmean((estimate - split.quality) ** 2))
    return float(ALPHAS[k]), float(table[k, 0]), float(table[k, 1]), mse


def alpha_by_dev(
    dev: tuple[np.ndarray, np.ndarray, Split], test: tuple[np.ndarray, np.ndarray, Split], model_cost: np.ndarray,
    scale: str,
) -> tuple[float, float, float, float]:  # fmt: skip
    """(alpha, dev AIQ, test quality at tau 0, test AIQ): each split's (estimate, prior, split) fused on the score
    `scale`, alpha chosen by dev AIQ of the lambda curve (as the bundle stage chooses it) and scored on test."""
    from finerouter.routing.router import fuse

    def table(estimate: np.ndarray, prior: np.ndarray, split: Split) -> np.ndarray:
        allowed = np.ones(estimate.shape, dtype=bool)
        return np.array([metrics(fuse(estimate, prior, a, allowed, scale), split, model_cost)[:2] for a in ALPHAS])

    on_dev, on_test = table(*dev), table(*test)
    i = int(on_dev[:, 1].argmax())
    return float(ALPHAS[i]), float(on_dev[i, 1]), float(on_test[i, 0]), float(on_test[i, 1])


def table_of(fused: np.ndarray, split: Split, idx: np.ndarray, model_cost: np.ndarray) -> np.ndarray:
    """(alphas, METRICS) for the prompts `idx` of `split`."""
    part = subset(split, idx)
    return np.array([metrics(fused[k][idx], part, model_cost) for k in range(len(ALPHAS))])


def run_one(run_dir: Path, repeats: int, seed: int) -> dict[str, object]:
    router = Router.load(run_dir / "bundle")
    dev, model_cost = load_dev(run_dir)
    if len(model_cost) != len(router.models):
        raise ValueError(f"{run_dir}: bundle routes over {len(router.models)} models, the table has {len(model_cost)}")
    fused = np.stack([router.fused_scores(dev.emb, alpha=float(a)) for a in ALPHAS])  # (alphas, n, M)
    n = len(dev)
    full = table_of(fused, dev, np.arange(n), model_cost)
    picks = {name: float(ALPHAS[rule(full)]) for name, rule in RULES.items()}
    rng = np.random.default_rng(seed)
    held: dict[str, list[tuple[float, float]]] = {name: [] for name in RULES}
    oracle: list[tuple[float, float]] = []
    for _ in range(repeats):
        perm = rng.permutation(n)
        halves = (perm[: n // 2], perm[n // 2 :])
        tables = [table_of(fused, dev, h, model_cost) for h in halves]
        for choose_on, score_on in ((0, 1), (1, 0)):
            out = tables[score_on]
            for name, rule in RULES.items():
                k = rule(tables[choose_on])
                held[name].append((out[k, 0], out[k, 1]))
            oracle.append((out[:, 0].max(), out[:, 1].max()))
    return {
        "bundle_alpha": router.alpha,
        "picks": picks,
        "held": {name: np.mean(v, axis=0) for name, v in held.items()},
        "diff": {name: np.array(v) - np.array(held["tau0 (current)"]) for name, v in held.items()},
        "oracle": np.mean(oracle, axis=0),
        "full": full,
    }


def fmt(values: list[float], scale: float = 1.0, digits: int = 4) -> str:
    m = statistics.mean(values) * scale
    sd = statistics.stdev(values) * scale if len(values) > 1 else 0.0
    return f"{m:.{digits}f} ± {sd:.{digits}f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=Path, nargs="+", required=True, help="run directories (one per stage-2 seed)")
    parser.add_argument("--repeats", type=int, default=50, help="random 2-fold splits of dev per run")
    parser.add_argument("--seed", type=int, default=0, help="seed of the dev splits (the same for every run)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    started = time.perf_counter()
    results = {run.name: run_one(run, args.repeats, args.seed) for run in args.runs}
    names = list(results)

    print(f"Full dev: metric per alpha ({', '.join(METRICS)})")
    for run, r in results.items():
        full = r["full"]
        assert isinstance(full, np.ndarray)
        for j, metric in enumerate(METRICS):
            print(f"  {run:18s} {metric:14s} " + " ".join(f"{v:.4f}" for v in full[:, j]))
    print(f"  alphas {' '.join(f'{a:.1f}' for a in ALPHAS)}\n")

    print("Alpha picked on the full dev set")
    print("| rule | " + " | ".join(names) + " |")
    print("| --- |" + " --- |" * len(names))
    print("| bundle (stored) | " + " | ".join(f"{results[n]['bundle_alpha']:.1f}" for n in names) + " |")
    for rule in RULES:
        print(f"| {rule} | " + " | ".join(f"{results[n]['picks'][rule]:.1f}" for n in names) + " |")  # type: ignore[index]

    print(f"\nHeld-out half of dev ({args.repeats} random 2-fold splits x 2 directions per run); mean ± sd over runs")
    print(
        "| rule | quality tau0 | AIQ lambda | Δ quality vs current (x1e3) | Δ AIQ vs current (x1e3) | runs Δq>0/<0 "
        "| splits Δq>0/<0 | splits ΔAIQ>0/<0 |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for rule in RULES:
        q = [float(results[n]["held"][rule][0]) for n in names]  # type: ignore[index]
        a = [float(results[n]["held"][rule][1]) for n in names]  # type: ignore[index]
        dq = [float(results[n]["diff"][rule][:, 0].mean()) for n in names]  # type: ignore[index]
        da = [float(results[n]["diff"][rule][:, 1].mean()) for n in names]  # type: ignore[index]
        wins = f"{sum(d > 1e-12 for d in dq)}/{sum(d < -1e-12 for d in dq)}"
        pooled = np.concatenate([results[n]["diff"][rule] for n in names])  # type: ignore[index]
        share = [f"{(pooled[:, j] > 1e-12).mean():.0%}/{(pooled[:, j] < -1e-12).mean():.0%}" for j in (0, 1)]
        print(
            f"| {rule} | {fmt(q)} | {fmt(a)} | {fmt(dq, 1e3, 2)} | {fmt(da, 1e3, 2)} | {wins} | {share[0]} | "
            f"{share[1]} |"
        )
    oq = [float(results[n]["oracle"][0]) for n in names]  # type: ignore[index]
    oa = [float(results[n]["oracle"][1]) for n in names]  # type: ignore[index]
    print(f"| best alpha on the held-out half (oracle, per metric) | {fmt(oq)} | {fmt(oa)} | | | | | |")
    print(f"\n{time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
