"""How each prompt-encoder runtime and dtype compares with torch float32 for a bundle, on a routing table's test
prompts.

Routes every test prompt once per combination (torch float32, as the rebuild embedded it; torch bfloat16;
onnxruntime float32) and reports, against torch float32: the embeddings' cosine, how often the task and the chosen
model agree, the mean quality (from the table's outcomes) and expected cost of the chosen models, and the encoder's
speed on one thread (single prompts and batches of 32 short prompts). A combination this machine cannot run
(bfloat16 without AVX512-BF16/AMX, onnxruntime not installed) is reported with the reason. With --candidates it
also measures a rejected one, not offered by the Router: onnxruntime int8 (ONNX Runtime's dynamic quantisation,
per output channel, of the exported float32 graph), which a runtime would need to pass with >= 99% same model.

Usage:
  python benchmarks/encoder_precision.py --bundle artifacts/llmrouter/bundle --table artifacts/llmrouter/import/table
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from finerouter.errors import ConfigError, MissingDependencyError
from finerouter.routing.router import Router

REFERENCE = ("torch", "float32")
COMBINATIONS = [REFERENCE, ("torch", "bfloat16"), ("onnxruntime", "float32")]
CANDIDATES = [("onnxruntime", "int8")]
Embed = Callable[[list[str]], np.ndarray]


def int8_candidate(encoder: str, workdir: Path) -> Embed:
    """The encoder's cached float32 graph, quantised to int8 weights (per channel) with ONNX Runtime."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from finerouter.embed.encoder import encoder_path
    from finerouter.embed.onnx_encoder import build_graph, open_encoder

    model_dir = Path(encoder_path(encoder)).resolve()
    graph, settings = build_graph(model_dir)
    quantized = workdir / "model-int8.onnx"
    quantize_dynamic(
        graph, quantized, per_channel=True, weight_type=QuantType.QInt8,
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )  # fmt: skip
    return open_encoder(quantized, model_dir, settings, torch.get_num_threads()).encode


def load(bundle: Path, runtime: str, dtype: str, workdir: Path) -> Embed:
    if (runtime, dtype) in CANDIDATES:
        return int8_candidate(json.loads((bundle / "bundle.json").read_text())["encoder"]["name"], workdir)
    return Router.load(bundle, encoder_dtype=dtype, encoder_runtime=runtime).embed


def chosen_quality(outcomes: pd.DataFrame, prompt_ids: list[str], models: list[str]) -> float:
    picked = pd.DataFrame({"prompt_id": prompt_ids, "model": models}).merge(outcomes, on=["prompt_id", "model"])
    return float(picked["quality"].mean())


def speed(embed: Embed, prompts: list[str], batch: int, seconds: float) -> float:
    embed(prompts[:batch])
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        embed(prompts[done % len(prompts) : done % len(prompts) + batch])
        done += batch
    return done / (time.perf_counter() - start)


def markdown(report: dict[str, Any]) -> str:
    lines = [
        "| runtime | dtype | cosine min / mean | same task | same model | quality | exp. cost | 1 prompt ms "
        "| batch 32 prompts/s | load s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in report["combinations"]:
        if "skipped" in row:
            lines.append(f"| {row['runtime']} | {row['dtype']} | skipped: {row['skipped']} |||||||| ")
            continue
        dtype = row["dtype"] if row["offered"] else f"{row['dtype']} (rejected)"
        lines.append(
            f"| {row['runtime']} | {dtype} | {row['cosine']['min']:.4f} / {row['cosine']['mean']:.5f} "
            f"| {row['same_task']:.2%} | {row['same_model']:.2%} | {row['quality']:.4f} | {row['expected_cost']:.4f} "
            f"| {row['single_ms']:.1f} | {row['prompts_per_s_batch32']:.0f} | {row['load_s']:.1f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundle", type=Path, required=True)
    parser.add_argument("--table", type=Path, required=True, help="an imported routing table directory")
    parser.add_argument("--split", default="test")
    parser.add_argument("--max-chars", type=int, default=200, help="prompt length of the speed runs")
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of each speed run")
    parser.add_argument("--candidates", action="store_true", help="also measure the rejected onnxruntime int8")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    torch.set_num_threads(1)  # as in a 1-CPU replica; onnxruntime sessions take torch's thread count
    prompts = pd.read_parquet(args.table / "prompts.parquet")
    test = prompts[prompts["split"] == args.split]
    outcomes = pd.read_parquet(args.table / "outcomes.parquet", columns=["prompt_id", "model", "quality"])
    texts, ids = test["prompt"].tolist(), test["prompt_id"].tolist()
    short = [t for t in prompts["prompt"] if len(t) <= args.max_chars]
    short = [short[i] for i in np.random.default_rng(0).permutation(len(short))[:512]]
    report: dict[str, Any] = {
        "bundle": str(args.bundle), "split": args.split, "prompts": len(texts), "speed_max_chars": args.max_chars,
        "load_average_before": [round(x, 2) for x in os.getloadavg()], "combinations": [],
    }  # fmt: skip
    router = Router.load(args.bundle)  # the heads; each combination only changes the embeddings
    workdir = Path(tempfile.mkdtemp(prefix="encoder-precision-"))
    reference: tuple[np.ndarray, list] | None = None
    for runtime, dtype in COMBINATIONS + (CANDIDATES if args.candidates else []):
        row: dict[str, Any] = {"runtime": runtime, "dtype": dtype, "offered": (runtime, dtype) in COMBINATIONS}
        report["combinations"].append(row)
        try:
            start = time.perf_counter()
            embed = load(args.bundle, runtime, dtype, workdir)
            embed(["load the encoder"])
            row["load_s"] = round(time.perf_counter() - start, 2)
        except (ConfigError, MissingDependencyError) as exc:
            row["skipped"] = str(exc)
            continue
        emb = np.concatenate([embed(texts[i : i + 64]) for i in range(0, len(texts), 64)])
        decisions = router.route_embeddings(emb)
        if reference is None:
            reference = emb, decisions
        ref_emb, ref_decisions = reference
        cosine = (emb * ref_emb).sum(axis=1)
        pairs = list(zip(ref_decisions, decisions, strict=True))
        row["cosine"] = {"min": round(float(cosine.min()), 6), "mean": round(float(cosine.mean()), 6)}
        row["same_task"] = round(float(np.mean([a.task_id == b.task_id for a, b in pairs])), 4)
        row["same_model"] = round(float(np.mean([a.model == b.model for a, b in pairs])), 4)
        row["quality"] = round(chosen_quality(outcomes, ids, [d.model for d in decisions]), 4)
        row["expected_cost"] = round(float(np.mean([d.estimated_cost for d in decisions])), 4)
        row["single_ms"] = round(1000 / speed(embed, short, 1, args.seconds), 2)
        row["prompts_per_s_batch32"] = round(speed(embed, short, 32, args.seconds), 1)
        print(json.dumps(row), flush=True)
    report["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(report, indent=2))
    print(markdown(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
