"""Cross-validation folds read at another split's source mix: are the gaps seen on a small test split real?

LLMRouter's shipped test split is not drawn like its table: 50 prompts from each of 8 of the 14 sources (mbpp 31
after de-duplication), so the small sources (agentverse-logicgrid, agentverse-mgsm, commongen) weigh about five
times more there than in the table, and six sources are absent. A cross-validation fold's test prompts follow the
table's mix. This re-weights each fold's per-source quality at tau 0 (`by_source` in its results.json) to the
source mix of a reference split (by default the shipped test of `--mix-from`), so the comparison keeps the folds'
statistical power but asks the shipped split's question. Only quality at tau 0 can be re-weighted this way (AIQ
and the cost curves are not additive over sources).

Printed: each router's mix-weighted quality per fold and its mean, FineRouter minus the router across folds with
a t interval (training and test noise), and each router's quality per source pooled over the folds.

Usage (the all-prompts folds and the development folds, which never see the shipped test):
  python benchmarks/source_mix.py --runs artifacts/llmrouter-cv5-{0,1,2,3,4} --mix-from artifacts/llmrouter
  python benchmarks/source_mix.py --runs artifacts/llmrouter-devcv5-{0,1,2,3,4} --mix-from artifacts/llmrouter
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

from cross_validation import across_folds  # benchmarks/ is on sys.path when run as a script
from seed_spread import ROUTERS

SUBJECT = "finerouter"


def source_mix(results: dict[str, Any]) -> dict[str, int]:
    """Test prompts per source of one evaluation (the same for every router)."""
    by_source = results["routers"][SUBJECT]["by_source"]
    return {source: int(row["prompts"]) for source, row in by_source.items()}


def mix_weighted(by_source: dict[str, dict[str, float]], mix: dict[str, int], run: Path) -> float:
    missing = sorted(set(mix) - set(by_source))
    if missing:
        raise SystemExit(f"{run}: no test prompts from {', '.join(missing)}; the mix cannot be re-weighted there")
    total = sum(mix.values())
    return sum(n * by_source[source]["quality"] for source, n in mix.items()) / total


def table(runs: list[Path], mix: dict[str, int]) -> str:
    results = [json.loads((run / "evaluate/results.json").read_text()) for run in runs]
    names = [name for name in ROUTERS if all(name in r["routers"] for r in results)]
    weighted = {
        name: [mix_weighted(r["routers"][name]["by_source"], mix, run) for r, run in zip(results, runs, strict=True)]
        for name in names
    }
    lines = [
        "| router | mix-weighted quality per fold | mean | as tested (table's mix), mean | "
        f"{SUBJECT} - router, mix-weighted (t 95%) | folds {SUBJECT} ahead / behind |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name in names:
        as_tested = statistics.mean(r["routers"][name]["quality"] for r in results)
        diffs = [o - q for o, q in zip(weighted[SUBJECT], weighted[name], strict=True)]
        vs = ["", ""] if name == SUBJECT else [
            across_folds(diffs), f"{sum(d > 1e-12 for d in diffs)} / {sum(d < -1e-12 for d in diffs)}"
        ]  # fmt: skip
        lines.append(
            f"| {name} | {', '.join(f'{q:.3f}' for q in weighted[name])} | {statistics.mean(weighted[name]):.4f} | "
            f"{as_tested:.4f} | " + " | ".join(vs) + " |"
        )
    lines += ["", "| source | weight | prompts over the folds | " + " | ".join(names) + " |",
              "| --- | --- | --- |" + " --- |" * len(names)]  # fmt: skip
    total = sum(mix.values())
    rows = [r["routers"] for r in results]
    for source, n in mix.items():
        prompts = sum(int(row[SUBJECT]["by_source"][source]["prompts"]) for row in rows)
        pooled = [
            sum(row[name]["by_source"][source]["quality"] * row[name]["by_source"][source]["prompts"] for row in rows)
            / prompts
            for name in names
        ]
        lines.append(f"| {source} | {n / total:.3f} | {prompts} | " + " | ".join(f"{q:.3f}" for q in pooled) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=Path, nargs="+", required=True, help="the folds' run directories")
    parser.add_argument("--mix-from", type=Path, required=True, help="a run whose test split's source mix to use")
    args = parser.parse_args()
    mix = source_mix(json.loads((args.mix_from / "evaluate/results.json").read_text()))
    print(f"Source mix of {args.mix_from}'s test split: " + ", ".join(f"{s} {n}" for s, n in mix.items()) + "\n")
    print(table(args.runs, mix))


if __name__ == "__main__":
    main()
