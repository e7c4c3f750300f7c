"""How the bfloat16 prompt encoder compares with float32 for a bundle, on a routing table's test prompts.

Routes every test prompt twice (encoder in float32, as the rebuild embedded it, and in bfloat16) and reports the
embeddings' cosine, how often the two agree on the task and on the chosen model, the mean quality (from the
table's outcomes) and expected cost of the chosen models, and the encoder's speed on one thread.

Usage:
  python benchmarks/encoder_precision.py --bundle artifacts/llmrouter/bundle --table artifacts/llmrouter/import/table
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from finerouter.routing.router import Router


def chosen_quality(outcomes: pd.DataFrame, prompt_ids: list[str], models: list[str]) -> float:
    picked = pd.DataFrame({"prompt_id": prompt_ids, "model": models}).merge(outcomes, on=["prompt_id", "model"])
    return float(picked["quality"].mean())


def speed(router: Router, prompts: list[str], batch: int, seconds: float = 10.0) -> float:
    router.embed(prompts[:batch])
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        router.embed(prompts[done % len(prompts) : done % len(prompts) + batch])
        done += batch
    return done / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundle", type=Path, required=True)
    parser.add_argument("--table", type=Path, required=True, help="an imported routing table directory")
    parser.add_argument("--split", default="test")
    parser.add_argument("--max-chars", type=int, default=200, help="prompt length of the speed runs")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    torch.set_num_threads(1)
    prompts = pd.read_parquet(args.table / "prompts.parquet")
    prompts = prompts[prompts["split"] == args.split]
    outcomes = pd.read_parquet(args.table / "outcomes.parquet", columns=["prompt_id", "model", "quality"])
    texts, ids = prompts["prompt"].tolist(), prompts["prompt_id"].tolist()
    report: dict = {"bundle": str(args.bundle), "split": args.split, "prompts": len(texts)}
    routers = {dtype: Router.load(args.bundle, encoder_dtype=dtype) for dtype in ("float32", "bfloat16")}
    emb = {dtype: np.concatenate([r.embed(texts[i : i + 64]) for i in range(0, len(texts), 64)])
           for dtype, r in routers.items()}  # fmt: skip
    cosine = (emb["float32"] * emb["bfloat16"]).sum(axis=1)
    report["cosine"] = {"min": round(float(cosine.min()), 6), "mean": round(float(cosine.mean()), 6)}
    decisions = {dtype: routers[dtype].route_embeddings(emb[dtype]) for dtype in routers}
    full, half = decisions["float32"], decisions["bfloat16"]
    report["same_task"] = round(float(np.mean([a.task_id == b.task_id for a, b in zip(full, half, strict=True)])), 4)
    report["same_model"] = round(float(np.mean([a.model == b.model for a, b in zip(full, half, strict=True)])), 4)
    for dtype, chosen in decisions.items():
        quality = chosen_quality(outcomes, ids, [d.model for d in chosen])
        cost = float(np.mean([d.estimated_cost for d in chosen]))  # the bundle's expected cost of the choice
        report[dtype] = {"quality": round(quality, 4), "expected_cost": round(cost, 4)}
    short = [t for t in pd.read_parquet(args.table / "prompts.parquet")["prompt"] if len(t) <= args.max_chars]
    short = [short[i] for i in np.random.default_rng(0).permutation(len(short))[:512]]
    for dtype, router in routers.items():
        report[dtype] |= {f"prompts_per_s_batch{b}": round(speed(router, short, b), 1) for b in (1, 32)}
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
