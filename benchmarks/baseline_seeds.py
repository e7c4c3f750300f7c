"""How much the learned baselines' training seed moves their numbers, for a fair comparison with FineRouter.

The rebuild trains each learned baseline (MLP, matrix factorisation, IPR-style) once, with the run's `seed`, while
FineRouter's numbers are often averaged over several `stage2.seed`s (`benchmarks/seed_spread.py`). A single
baseline seed can be lucky or unlucky. This refits the baselines on each run's train and dev with several seeds,
through the evaluation harness (sweep `auto`, as the rebuild), and prints each seed's quality at tau 0, AIQ and
the quality re-weighted to the source mix of another run's test split (`--mix-from`: are the gaps seen on a small,
unevenly drawn test split real?), with the mean over runs.

Usage (the development folds, then the all-prompts folds; about 10 s per run and seed on 2 cores):
  OMP_NUM_THREADS=2 python benchmarks/baseline_seeds.py --runs artifacts/llmrouter-devcv5-{0,1,2,3,4} \
      --mix-from artifacts/llmrouter
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

import torch

from finerouter.evaluation.data import load_run
from finerouter.evaluation.harness import evaluate
from finerouter.evaluation.registry import NEURAL_LABELS, build_routers


def source_mix(results: dict[str, Any]) -> dict[str, int]:
    """Test prompts per source of one evaluation (the same for every router)."""
    by_source = results["routers"]["finerouter"]["by_source"]
    return {source: int(row["prompts"]) for source, row in by_source.items()}


def mix_weighted(by_source: dict[str, dict[str, float]], mix: dict[str, int], run: Path) -> float:
    """Quality at tau 0 re-weighted from a router's per-source quality to the source mix `mix`."""
    missing = sorted(set(mix) - set(by_source))
    if missing:
        raise SystemExit(f"{run}: no test prompts from {', '.join(missing)}; the mix cannot be re-weighted there")
    total = sum(mix.values())
    return sum(n * by_source[source]["quality"] for source, n in mix.items()) / total


def score_seeds(run: Path, kinds: list[str], seeds: list[int], mix: dict[str, int]) -> dict[tuple[str, int], tuple]:
    """(kind, seed) -> (quality at tau 0, AIQ, mix-weighted quality) on the run's test split."""
    data = load_run(run)
    out = {}
    for seed in seeds:
        results = evaluate(data, build_routers(kinds, None, seed), seed=seed, sweep="auto")["routers"]
        for kind in kinds:
            r = results[NEURAL_LABELS[kind]]
            out[kind, seed] = (r["quality"], r["aiq"], mix_weighted(r["by_source"], mix, run))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=Path, nargs="+", required=True, help="run directories (a fold or seed each)")
    parser.add_argument("--mix-from", type=Path, required=True, help="a run whose test split's source mix to use")
    parser.add_argument("--kinds", nargs="+", default=list(NEURAL_LABELS), choices=list(NEURAL_LABELS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    args = parser.parse_args()
    torch.set_num_threads(2)
    mix = source_mix(json.loads((args.mix_from / "evaluate/results.json").read_text()))
    scores = [score_seeds(run, args.kinds, args.seeds, mix) for run in args.runs]
    print("| baseline | seed | quality per run | mean | AIQ per run | mean | mix-weighted quality, mean |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for kind in args.kinds:
        means = []
        for seed in args.seeds:
            rows = [s[kind, seed] for s in scores]
            mean = tuple(statistics.mean(r[j] for r in rows) for j in range(3))
            means.append(mean)
            print(
                f"| {NEURAL_LABELS[kind]} | {seed} | {', '.join(f'{r[0]:.3f}' for r in rows)} | {mean[0]:.4f} | "
                f"{', '.join(f'{r[1]:.3f}' for r in rows)} | {mean[1]:.4f} | {mean[2]:.4f} |"
            )
        overall = [statistics.mean(m[j] for m in means) for j in range(3)]
        spread = [max(m[j] for m in means) - min(m[j] for m in means) for j in range(3)]
        print(
            f"| {NEURAL_LABELS[kind]} | mean of {len(args.seeds)} (range) | | {overall[0]:.4f} ({spread[0]:.4f}) | | "
            f"{overall[1]:.4f} ({spread[1]:.4f}) | {overall[2]:.4f} ({spread[2]:.4f}) |"
        )


if __name__ == "__main__":
    main()
