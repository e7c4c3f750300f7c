"""Grader agreement with ZeroEval's official per-model accuracies on GSM8K and MATH level 5.

Imports every ZeroEval output file with the `zeroeval` importer (which grades each output with the `gsm8k` or
`math` grader) and compares each model's mean quality with `result_dirs/{gsm,math-l5}.summary.json`.
Usage: python benchmarks/zeroeval_agreement.py [--root ../shared/data/zeroeval] [--markdown]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from finerouter.data.importers import run_importer

TOLERANCE = {"gsm": 1.0, "math-l5": 2.0}  # accuracy points
# ZeroEval renames a few models in its summaries (eval_utils.model_name_replacement)
SUMMARY_NAMES = {"Meta-Llama-3.1-405B-Instruct@hyperbolic": "Llama-3.1-405B-Inst@hyperbolic"}


def agreement(root: Path) -> list[dict[str, object]]:
    raw = run_importer("zeroeval", [root])
    outcomes = raw.outcomes.assign(task=raw.outcomes["prompt_id"].str.split("/").str[1])
    ours = outcomes.groupby(["task", "model"])["quality"].agg(["mean", "size"])
    rows = []
    for task in TOLERANCE:
        summary = json.loads((root / "result_dirs" / f"{task}.summary.json").read_text())
        official = {r["Model"]: (float(r["Acc"]), int(r["Total"])) for r in summary}
        for model in sorted(ours.loc[task].index, key=str.lower):
            mean, n = ours.loc[(task, model)]
            acc, _ = official[SUMMARY_NAMES.get(model, model)]
            complete = n == max(ours.loc[task]["size"])
            diff = 100 * mean - acc
            rows.append(
                {"task": task, "model": model, "n": int(n), "complete": complete, "official": acc,
                 "ours": round(100 * mean, 2), "diff": round(diff, 2) or 0.0, "ok": abs(diff) <= TOLERANCE[task]}
            )  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/zeroeval")
    parser.add_argument("--markdown", action="store_true", help="print a markdown table")
    args = parser.parse_args()
    start = time.perf_counter()
    rows = agreement(args.root)
    if args.markdown:
        print("| task | model | prompts | official | ours | diff |\n|---|---|---:|---:|---:|---:|")
    for r in rows:
        note = "" if r["complete"] else " (incomplete file)"
        if args.markdown:
            cells = [r["task"], f"{r['model']}{note}", r["n"], f"{r['official']:.2f}", f"{r['ours']:.2f}"]
            print("| " + " | ".join(map(str, cells)) + f" | {r['diff']:+.2f} |")
        else:
            flag = "ok" if r["ok"] else "OUT"
            print(
                f"{r['task']:8} {r['model'] + note:60} {r['official']:6.2f} {r['ours']:6.2f} {r['diff']:+6.2f} {flag}"
            )
    for task, tol in TOLERANCE.items():
        complete = [r for r in rows if r["task"] == task and r["complete"]]
        worst = max(abs(r["diff"]) for r in complete)
        outside = [r["model"] for r in complete if not r["ok"]]
        print(f"{task}: {len(complete)} complete files, max |diff| {worst:.2f} (tolerance {tol}); outside: {outside}")
    print(f"elapsed {time.perf_counter() - start:.0f} s", file=sys.stderr)
    if any(not r["ok"] for r in rows if r["complete"]):
        sys.exit(1)


if __name__ == "__main__":
    main()
