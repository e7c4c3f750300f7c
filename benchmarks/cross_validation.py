"""K-fold cross-validation of every router on one table: a comparison with K times the evaluation prompts.

A shipped test split can be too small to tell routers apart (LLMRouter's 381 de-duplicated test prompts give a
95% paired-bootstrap interval of about +-0.026 on a quality difference). This re-splits the whole table by hash,
ignoring the source's splits (`data.split.experimental.source_splits: ignore`), into K folds: fold f rebuilds
with `data.split.experimental.rotate = f/K` and test fraction 1/K, so the K test sets are disjoint and cover every
prompt. Each fold is a full rebuild (stage 1, stage 2, the baselines, evaluate) in its own run directory,
`<run>-cv<K>-<f>`; a rerun skips folds already built. `--hold-out-test` folds only the source's train and dev
prompts (the shipped test split rejected as held out, `source_splits: exclude_test`), in `<run>-devcv<K>-<f>`:
folds to make choices on without seeing the shipped test.

The table gives each router's quality at tau 0 and AIQ per fold, and FineRouter minus the router two ways:
- across folds: the mean of the K paired fold differences with a t interval (training and test noise both);
- pooled: the difference over all K x (1/K) test prompts, its interval combined from each fold's paired bootstrap
  (test-prompt noise only, training held fixed).

Usage:
  python benchmarks/cross_validation.py --config configs/llmrouter.yaml --folds 5
  python benchmarks/cross_validation.py --config configs/llmrouter.yaml --folds 5 --table-only
  python benchmarks/cross_validation.py --config configs/llmrouter.yaml --folds 5 --hold-out-test
  # every router's ablations too (rows finerouter-stage2, -general, -prior, -source-tasks)
  python benchmarks/cross_validation.py --config configs/llmrouter.yaml --folds 5 --set evaluate.ablations=true
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
from pathlib import Path
from typing import Any

import yaml

from finerouter.evaluation.folds import ROUTER_ROWS, across_folds, fold_dir, rebuild_command, split_overrides


def rebuild(
    config_path: Path, config: dict[str, Any], folds: int, fold: int, args: argparse.Namespace,
    extra: tuple[str, ...] = (), tag: str = "",
) -> None:  # fmt: skip
    """Fold `fold`'s full rebuild, with `extra` overrides after the command line's, in the run named with `tag`."""
    name = fold_dir(config, folds, fold, args.hold_out_test, tag).name
    overrides = [*split_overrides(folds, fold, args.dev, args.hold_out_test), *args.overrides, *extra]
    subprocess.run(rebuild_command(config_path, name, overrides), check=True)


def pooled(results: list[dict[str, Any]], name: str) -> tuple[float, float, float]:
    """FineRouter minus `name` over all folds' test prompts, with a 95% interval from the folds' bootstraps."""
    sizes = [r["test_prompts"] for r in results]
    boots = [r["bootstrap_vs_subject"][name] for r in results]
    total = sum(sizes)
    mean = sum(n * b["mean"] for n, b in zip(sizes, boots, strict=True)) / total
    variance = sum((n * (b["ci_high"] - b["ci_low"]) / (2 * 1.96)) ** 2 for n, b in zip(sizes, boots, strict=True))
    half = 1.96 * math.sqrt(variance) / total
    return mean, mean - half, mean + half


def table(config: dict[str, Any], folds: int, hold_out: bool, tag: str = "") -> str:
    dirs = [fold_dir(config, folds, f, hold_out, tag) for f in range(folds)]
    results = [json.loads((d / "evaluate/results.json").read_text()) for d in dirs]
    subject = results[0]["bootstrap_subject"]
    sizes = ", ".join(str(r["test_prompts"]) for r in results)
    best = [r["best_single_model"] for r in results]
    lines = [
        f"{folds} folds, test prompts per fold: {sizes}; best single model per fold: "
        + ", ".join(f"{b['model']} {b['quality']:.3f}" for b in best),
        "",
        f"| router | quality per fold | mean | AIQ per fold | mean | cost to match best single | {subject} - router, "
        "quality: across folds (t 95%) | pooled (bootstrap 95%) | AIQ across folds |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name in ROUTER_ROWS:
        rows = [r["routers"].get(name) for r in results]
        if any(row is None for row in rows):
            continue
        quality, aiq = [row["quality"] for row in rows], [row["aiq"] for row in rows]
        ratios = [row["cost_ratio_to_best_single"] for row in rows]
        ratio = ", ".join("never" if x is None else f"{x:.2f}x" for x in ratios)
        if name == subject:
            vs = ["", "", ""]
        else:
            ours = [r["routers"][subject] for r in results]
            dq = [o["quality"] - q for o, q in zip(ours, quality, strict=True)]
            da = [o["aiq"] - a for o, a in zip(ours, aiq, strict=True)]
            mean, low, high = pooled(results, name)
            vs = [across_folds(dq), f"{mean:+.4f} [{low:+.4f}, {high:+.4f}]", across_folds(da)]
        lines.append(
            f"| {name} | {', '.join(f'{q:.3f}' for q in quality)} | {statistics.mean(quality):.3f} | "
            f"{', '.join(f'{a:.3f}' for a in aiq)} | {statistics.mean(aiq):.3f} | {ratio} | " + " | ".join(vs) + " |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--folds", type=int, default=5, help="K; each fold's test fraction is 1/K")
    parser.add_argument("--dev", type=float, default=0.1, help="dev fraction of every fold (train is the rest)")
    parser.add_argument("--only", type=int, nargs="*", help="build only these folds (the table needs all)")
    parser.add_argument(
        "--hold-out-test", action="store_true",
        help="fold only the source's train and dev prompts, the shipped test held out (source_splits exclude_test); "
        "runs <run>-devcv<K>-<f>: the folds to develop on",
    )  # fmt: skip
    parser.add_argument("--table-only", action="store_true", help="print the table of folds already built")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="more --set for every fold")
    parser.add_argument("--tag", default="", help="runs <run>-cv<K>-<f>-<tag>: folds of a variant beside the defaults'")
    args = parser.parse_args()
    if args.folds < 2 or not 0 < args.dev < 1 - 1 / args.folds:
        parser.error(f"--folds {args.folds} / --dev {args.dev}: need K >= 2 and 0 < dev < 1 - 1/K")
    config = yaml.safe_load(args.config.read_text())
    if not args.table_only:
        for fold in args.only if args.only is not None else range(args.folds):
            rebuild(args.config, config, args.folds, fold, args, tag=args.tag)
    print(table(config, args.folds, args.hold_out_test, args.tag))


if __name__ == "__main__":
    main()
