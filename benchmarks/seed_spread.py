"""How much stage 2's training seed moves the test numbers: one rebuild per `stage2.seed`, then a table.

Each seed's run starts from a copy of the base run's directory, so stage 1 (embed ... task_report) is reused (it
does not depend on the seed) and only train_classifier, train_router, bundle and evaluate run again. The baselines
(kNN, MLP, MF, IPR-style) do not read `stage2.seed`: their rows are the same in every run.

Usage:
  python benchmarks/seed_spread.py --config configs/llmrouter.yaml --seeds 0 1 2 3 4
  python benchmarks/seed_spread.py --config configs/llmrouter.yaml --seeds 0 1 2 3 4 --table-only
  # the ablation rows too (FineRouter without the prior, general heads only, ...)
  python benchmarks/seed_spread.py --config configs/llmrouter.yaml --seeds 0 1 2 --set evaluate.ablations=true
  # the fine-tuned encoder (stage finetune_encoder also reads the seed): runs llmrouter-ft, llmrouter-ft-seed1, ...
  python benchmarks/seed_spread.py --config configs/llmrouter.yaml --seeds 0 1 2 --run llmrouter-ft \
      --set stage2.encoder=finetune --set stage2.scaling.cpus_per_worker=2
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from finerouter.evaluation.folds import ROUTER_ROWS


def run_dir(config: dict[str, Any], seed: int) -> Path:
    base = Path(config.get("artifacts_dir", "artifacts")) / config["run"]
    return base if seed == 0 else base.with_name(f"{base.name}-seed{seed}")


def rebuild(config_path: Path, config: dict[str, Any], seed: int, overrides: list[str]) -> None:
    target = run_dir(config, seed)
    if seed != 0 and not target.exists() and run_dir(config, 0).exists():
        shutil.copytree(run_dir(config, 0), target)
    cmd = [sys.executable, "-m", "jobs.rebuild", "--config", str(config_path), "--set", f"stage2.seed={seed}"]
    cmd += [arg for item in overrides for arg in ("--set", item)]
    cmd += ["--set", f"run={target.name}"]
    subprocess.run(cmd, check=True)


def table(config: dict[str, Any], seeds: list[int]) -> str:
    results = {s: json.loads((run_dir(config, s) / "evaluate" / "results.json").read_text()) for s in seeds}
    lines = [
        f"| router | quality, seeds {', '.join(map(str, seeds))} | mean | AIQ | mean | cost to match best single |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name in ROUTER_ROWS:
        rows = [results[s]["routers"].get(name) for s in seeds]
        if any(r is None for r in rows):
            continue
        quality, aiq = [r["quality"] for r in rows], [r["aiq"] for r in rows]
        ratio = [r["cost_ratio_to_best_single"] for r in rows]
        ratio_text = ", ".join("never" if x is None else f"{x:.2f}x" for x in ratio)
        lines.append(
            f"| {name} | {', '.join(f'{q:.3f}' for q in quality)} | {statistics.mean(quality):.3f} | "
            f"{', '.join(f'{a:.3f}' for a in aiq)} | {statistics.mean(aiq):.3f} | {ratio_text} |"
        )
    versions = ", ".join(f"{s}: {results[s]['bundle']}" for s in seeds if results[s].get("bundle"))
    return "\n".join(lines) + f"\n\nBundles: {versions}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--table-only", action="store_true", help="only print the table of runs already made")
    parser.add_argument("--run", help="run name of seed 0 (default: the config's); seed s runs in <run>-seed<s>")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override, repeatable")
    args = parser.parse_args()
    config = yaml.safe_load(args.config.read_text())
    if args.run:
        config["run"] = args.run
    if not args.table_only:
        for seed in args.seeds:
            rebuild(args.config, config, seed, args.set)
    print(table(config, args.seeds))


if __name__ == "__main__":
    main()
