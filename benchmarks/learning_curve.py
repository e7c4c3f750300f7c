"""Learning curve: every router's cross-validated quality and AIQ as the train split grows.

How many logged prompts does a router need, and does FineRouter's standing against the baselines change with
more data? (The paper trains on 279k prompts; LLMRouter's table has 6k.) For each train share f, every fold of
`benchmarks/cross_validation.py` is rebuilt with `data.split.experimental.train_subsample = f`: the same dev and
test prompts, a nested hash sample of f of its train prompts, in `<run>-cv<K>-<fold>-train<f>` (f = 1 is the plain
folds).
Stage 1 runs on the smaller train split too, so the tasks are those that data would give.

Printed per share: train prompts and discovered tasks (fold means), each router's mean quality at tau 0 and AIQ
over the folds, and FineRouter minus kNN and minus MLP across folds (t interval).

Usage:
  python benchmarks/learning_curve.py --config configs/llmrouter.yaml --shares 0.25 0.5 1
  python benchmarks/learning_curve.py --config configs/llmrouter.yaml --shares 0.25 0.5 1 --table-only
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
from pathlib import Path
from typing import Any

import yaml

from finerouter.evaluation.folds import ROUTER_ROWS, across_folds, fold_dir, rebuild_command, split_overrides

SUBJECT = "finerouter"
VERSUS = ("knn", "mlp")


def share_tag(share: float) -> str:
    return "" if share == 1.0 else f"train{share:g}"


def stage_stats(run: Path, stage: str) -> dict[str, Any]:
    summary = json.loads((run / "summary.json").read_text())
    return next(s["stats"] for s in summary["stages"] if s["name"] == stage)


def row(config: dict[str, Any], folds: int, share: float, hold_out: bool) -> dict[str, Any]:
    runs = [fold_dir(config, folds, f, hold_out, share_tag(share)) for f in range(folds)]
    results = [json.loads((run / "evaluate/results.json").read_text()) for run in runs]
    train = [stage_stats(run, "stats")["train"]["prompts"] for run in runs]
    tasks = [stage_stats(run, "tasks")["tasks"] for run in runs]
    names = [name for name in ROUTER_ROWS if all(name in r["routers"] for r in results)]
    metric = {
        name: {m: [r["routers"][name][m] for r in results] for m in ("quality", "aiq")} for name in names
    }  # fmt: skip
    best = [r["best_single_model"]["quality"] for r in results]
    return {"share": share, "train": train, "tasks": tasks, "metric": metric, "best_single": best}


def table(rows: list[dict[str, Any]]) -> str:
    names = [n for n in ROUTER_ROWS if all(n in r["metric"] for r in rows) and n in (SUBJECT, *VERSUS, "ipr-style",
             "matrix-factorisation", "finerouter-general")]  # fmt: skip
    head = ["train share", "train prompts", "tasks", "best single", *names]
    head += [f"{SUBJECT} - {v}: quality / AIQ across folds" for v in VERSUS]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for r in rows:
        cells = [f"{r['share']:g}", f"{statistics.mean(r['train']):.0f}", f"{statistics.mean(r['tasks']):.0f}",
                 f"{statistics.mean(r['best_single']):.3f}"]  # fmt: skip
        cells += [
            f"{statistics.mean(r['metric'][n]['quality']):.3f} / {statistics.mean(r['metric'][n]['aiq']):.3f}"
            for n in names
        ]
        ours = r["metric"][SUBJECT]
        for v in VERSUS:
            dq = [a - b for a, b in zip(ours["quality"], r["metric"][v]["quality"], strict=True)]
            da = [a - b for a, b in zip(ours["aiq"], r["metric"][v]["aiq"], strict=True)]
            cells.append(f"{across_folds(dq)} / {across_folds(da)}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--dev", type=float, default=0.1, help="dev fraction of every fold")
    parser.add_argument("--shares", type=float, nargs="+", default=[0.25, 0.5, 1.0], help="train shares kept")
    parser.add_argument("--hold-out-test", action="store_true", help="the development folds (shipped test held out)")
    parser.add_argument("--table-only", action="store_true", help="print the table of runs already built")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="more --set for every run")
    args = parser.parse_args()
    if any(not 0 < s <= 1 for s in args.shares):
        parser.error(f"--shares {args.shares}: every share must be in (0, 1]")
    config = yaml.safe_load(args.config.read_text())
    if not args.table_only:
        for share in args.shares:
            extra = [] if share == 1.0 else [f"data.split.experimental.train_subsample={share!r}"]
            for fold in range(args.folds):
                name = fold_dir(config, args.folds, fold, args.hold_out_test, share_tag(share)).name
                folded = split_overrides(args.folds, fold, args.dev, args.hold_out_test)
                subprocess.run(rebuild_command(args.config, name, [*folded, *args.overrides, *extra]), check=True)
    print(table([row(config, args.folds, share, args.hold_out_test) for share in sorted(args.shares)]))


if __name__ == "__main__":
    main()
