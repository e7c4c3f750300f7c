"""Which of FineRouter's parts to route with, decided on dev: checked on development folds.

The bundle stage chooses alpha (stage-2 estimate vs stage-1 prior) by dev AIQ and always uses the task heads. On
small tables dev is small (~600 prompts in a LLMRouter fold) and both choices can cost quality. This scores rules
that decide, from the dev split alone, whether to use the task heads and the prior, on folds built with
`benchmarks/cross_validation.py --hold-out-test` (the shipped test split never loaded): each rule chooses on the
fold's dev, and is scored on the fold's test, by quality at tau 0 and AIQ of the lambda curve as the harness scores.

Candidates: task heads on or off (general heads for every model) x alpha in ALPHA_GRID (1.0 = no prior).
Complexity counts the parts in use beyond the general heads (task heads, prior): 0, 1 or 2.

Usage:
  OMP_NUM_THREADS=2 python benchmarks/component_rule_cv.py --runs artifacts/llmrouter-devcv5-{0,1,2,3,4}
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Callable
from pathlib import Path

import numpy as np
from alpha_rule_cv import ALPHAS, load_split, metrics, subset  # benchmarks/ is on sys.path when run as a script

from finerouter.evaluation.data import Split
from finerouter.routing.router import Router

Candidate = tuple[bool, float]  # (task heads, alpha)
CANDIDATES: list[Candidate] = [(heads, float(a)) for heads in (False, True) for a in ALPHAS]


def complexity(c: Candidate) -> int:
    return int(c[0]) + int(c[1] < 1.0)


def candidate_table(router: Router, split: Split, model_cost: np.ndarray, boot: list[np.ndarray]) -> np.ndarray:
    """(candidates, 2 + len(boot)): quality at tau 0, AIQ, then AIQ on each bootstrap resample of the split."""
    rows = []
    for heads, alpha in CANDIDATES:
        scores = router.fused_scores(split.emb, alpha=alpha, use_task_heads=heads)
        q0, aiq, _ = metrics(scores, split, model_cost)
        resampled = [metrics(scores[idx], subset(split, idx), model_cost)[1] for idx in boot]
        rows.append([q0, aiq, *resampled])
    return np.array(rows)


def best(dev: np.ndarray, allowed: list[int]) -> int:
    """Highest dev AIQ among `allowed`; ties as the bundle's calibration breaks them (alpha nearest 0.5, then the
    general heads)."""
    return max(allowed, key=lambda i: (round(float(dev[i, 1]), 9), -abs(CANDIDATES[i][1] - 0.5), not CANDIDATES[i][0]))


def within_se(dev: np.ndarray, k: float) -> int:
    """The simplest candidate whose dev AIQ is within k bootstrap standard errors of the best's (paired)."""
    top = best(dev, list(range(len(CANDIDATES))))
    ok = [i for i in range(len(CANDIDATES)) if dev[top, 1] - dev[i, 1] <= k * np.std(dev[top, 2:] - dev[i, 2:])]
    simplest = min(complexity(CANDIDATES[i]) for i in ok)
    return best(dev, [i for i in ok if complexity(CANDIDATES[i]) == simplest])


def index(heads: bool, alpha: float) -> int:
    return CANDIDATES.index((heads, alpha))


RULES: dict[str, Callable[[np.ndarray], int]] = {
    "current: task heads, alpha by dev AIQ": lambda d: best(d, [i for i, c in enumerate(CANDIDATES) if c[0]]),
    "task heads, no prior": lambda d: index(True, 1.0),
    "general heads, no prior": lambda d: index(False, 1.0),
    "general heads, alpha by dev AIQ": lambda d: best(d, [i for i, c in enumerate(CANDIDATES) if not c[0]]),
    "heads and alpha by dev AIQ (task_heads: auto)": lambda d: best(d, list(range(len(CANDIDATES)))),
    "simplest within 1 se of the best": lambda d: within_se(d, 1.0),
    "simplest within 2 se of the best": lambda d: within_se(d, 2.0),
}


def run_fold(run_dir: Path, resamples: int) -> dict[str, tuple[float, float, str]]:
    router = Router.load(run_dir / "bundle")
    dev, model_cost = load_split(run_dir, "dev")
    test, _ = load_split(run_dir, "test")
    rng = np.random.default_rng(0)
    boot = [rng.integers(0, len(dev), len(dev)) for _ in range(resamples)]
    dev_table = candidate_table(router, dev, model_cost, boot)
    test_table = candidate_table(router, test, model_cost, [])
    out = {}
    for name, rule in RULES.items():
        i = rule(dev_table)
        heads, alpha = CANDIDATES[i]
        out[name] = (float(test_table[i, 0]), float(test_table[i, 1]), f"{'T' if heads else 'G'}{alpha:.1f}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=Path, nargs="+", required=True, help="development fold run directories")
    parser.add_argument("--resamples", type=int, default=50, help="bootstrap resamples of dev for the se rules")
    args = parser.parse_args()
    results = {run.name: run_fold(run, args.resamples) for run in args.runs}
    names = list(results)
    print("choice: T = task heads, G = general heads only; the number is alpha (1.0 = no prior)\n")
    print(f"| rule | {' | '.join(f'{n} quality / AIQ (choice)' for n in names)} | mean quality | mean AIQ |")
    print("| --- |" + " --- |" * (len(names) + 2))
    for rule in RULES:
        cells = [f"{results[n][rule][0]:.3f} / {results[n][rule][1]:.3f} ({results[n][rule][2]})" for n in names]
        quality = statistics.mean(results[n][rule][0] for n in names)
        aiq = statistics.mean(results[n][rule][1] for n in names)
        print(f"| {rule} | " + " | ".join(cells) + f" | {quality:.4f} | {aiq:.4f} |")


if __name__ == "__main__":
    main()
