"""Load benchmark of the Serve app's POST /v1/route, over loopback HTTP.

Deploys the app (Ray started here with --ray-cpus logical CPUs) on 127.0.0.1, then for each concurrency runs
closed-loop clients (each sends its next request when the previous answer arrives) for --duration seconds after
--warmup seconds, with real prompts from a routing table. Prints and optionally writes JSON: requests, failures,
throughput, latency percentiles, prompt lengths. The load generator shares the machine's cores with the server.

Usage:
  python benchmarks/serve_load.py --bundle artifacts/llmrouter/bundle \
      --prompts artifacts/llmrouter/import/table/prompts.parquet --concurrency 1 32 --duration 30
  python benchmarks/serve_load.py --url http://127.0.0.1:8000 --prompts ... (an app already running)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import requests

from serve_app.loadgen import add_app_arguments, deploy, load_prompts, prompt_lengths, run_load

CPU_GROUPS = {  # process command-line fragment -> component
    "ServeReplica:finerouter:Router": "router replicas",
    "ServeReplica:finerouter:Ingress": "ingress replicas",
    "ProxyActor": "Serve HTTP proxy",
    "ServeController": "Serve controller",
}


def cpu_seconds_by_component() -> dict[str, float]:
    """User + system CPU seconds so far of every process on this machine, summed by Serve component (this process
    is the load generator; everything else is 'other')."""
    tick = os.sysconf("SC_CLK_TCK")
    totals: dict[str, float] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        seconds = (int(fields[11]) + int(fields[12])) / tick
        if int(proc.name) == os.getpid():
            group = "load generator"
        else:
            group = next((name for key, name in CPU_GROUPS.items() if key in cmdline), "other")
        totals[group] = totals.get(group, 0.0) + seconds
    return totals


def cores_used(before: dict[str, float], after: dict[str, float], seconds: float) -> dict[str, float]:
    return {k: round((after.get(k, 0.0) - before.get(k, 0.0)) / seconds, 2) for k in sorted(after)}


def direct(
    bundle: Path, prompts: list[str], duration_s: float, batch: int, encoder_dtype: str = "float32",
    encoder_runtime: str = "torch",
) -> dict[str, Any]:  # fmt: skip
    """The Router alone, in this process (no Serve, no HTTP): what the encoder and heads cost."""
    import torch

    from finerouter.routing.router import Router

    torch.set_num_threads(1)  # as in a 1-CPU replica (Ray sets OMP_NUM_THREADS to the actor's CPUs)
    router = Router.load(bundle, encoder_dtype=encoder_dtype, encoder_runtime=encoder_runtime)
    router.route(["warm-up"])
    single: list[float] = []
    stop = time.perf_counter() + duration_s
    i = 0
    while time.perf_counter() < stop:
        start = time.perf_counter()
        router.route([prompts[i % len(prompts)]])
        single.append(time.perf_counter() - start)
        i += 1
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < duration_s:
        router.route(prompts[done % len(prompts) : done % len(prompts) + batch])
        done += batch
    p50, p99 = np.percentile(np.asarray(single) * 1000, [50, 99])
    rate = done / (time.perf_counter() - start)
    return {
        "single_p50_ms": round(p50, 2),
        "single_p99_ms": round(p99, 2),
        f"batch{batch}_prompts_per_s": round(rate, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--bundle", type=Path, help="deploy this bundle here")
    target.add_argument("--url", help="an app already serving")
    parser.add_argument("--prompts", type=Path, required=True, help="a routing table's prompts.parquet")
    parser.add_argument("--max-chars", type=int, help="only prompts up to this many characters")
    parser.add_argument("--direct", action="store_true", help="also time the Router alone, without Serve")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--ray-cpus", type=int, default=2)
    parser.add_argument("--replicas", type=int, default=1)
    parser.add_argument("--replica-cpus", type=float, default=1.0)
    parser.add_argument("--max-batch", type=int, default=32)
    parser.add_argument("--batch-wait", type=float, default=0.0, help="router.batch_wait_timeout_s")
    add_app_arguments(parser)
    parser.add_argument("--port", type=int, default=8123)
    parser.add_argument("--api-key")
    parser.add_argument("--metrics-port", type=int, help="Ray's Prometheus port; its finerouter_* lines are reported")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args()

    prompts = load_prompts(args.prompts, max_chars=args.max_chars)
    if args.direct and args.bundle:
        timing = direct(
            args.bundle, prompts, args.duration / 2, args.max_batch, args.encoder_dtype, args.encoder_runtime
        )
        print(json.dumps({"direct_router": timing}))
    url = args.url or deploy(
        args.bundle, args.ray_cpus, args.replicas, args.replica_cpus, args.max_batch, args.port, args.metrics_port,
        args.encoder_dtype, args.batch_wait, args.encoder_runtime, args.direct_ingress, args.in_flight_batches,
        args.batch_linger_ms,
    )  # fmt: skip
    headers = {"Authorization": f"Bearer {args.api_key}"} if args.api_key else None
    report: dict[str, Any] = {"prompts": prompt_lengths(prompts), "runs": []}
    if args.url:  # the app's settings are whatever it was started with: its own log states them
        report["url"] = args.url
    else:
        report |= {"bundle": str(args.bundle), "replicas": args.replicas, "replica_cpus": args.replica_cpus,
                   "max_batch": args.max_batch, "batch_wait_s": args.batch_wait, "encoder_dtype": args.encoder_dtype,
                   "encoder_runtime": args.encoder_runtime, "direct_ingress": args.direct_ingress,
                   "in_flight_batches": args.in_flight_batches, "batch_linger_ms": args.batch_linger_ms}  # fmt: skip
        report["bundle_meta"] = {k: v for k, v in json.loads((args.bundle / "bundle.json").read_text()).items()
                                 if k in ("version", "models", "task_ids")}  # fmt: skip
        report["bundle_meta"]["task_count"] = len(report["bundle_meta"].pop("task_ids", []))
    for concurrency in args.concurrency:
        load_before = os.getloadavg()[0]
        cpu_before, wall_before = cpu_seconds_by_component(), time.perf_counter()
        result = asyncio.run(run_load(url, prompts, concurrency, args.duration, args.warmup, headers))
        cores = cores_used(cpu_before, cpu_seconds_by_component(), time.perf_counter() - wall_before)
        summary = result.summary() | {
            "loadavg_1m_before": round(load_before, 1),
            "loadavg_1m_after": round(os.getloadavg()[0], 1),
            "cores_used": cores,  # CPU seconds per wall second by component, warm-up included
        }
        report["runs"].append(summary)
        print(json.dumps(summary))
    if args.metrics_port:
        time.sleep(12)  # Ray exports metrics every ~10 s
        text = requests.get(f"http://127.0.0.1:{args.metrics_port}/metrics", timeout=10).text
        report["metrics_sample"] = [
            line for line in text.splitlines() if "finerouter_" in line and not line.startswith("#")
        ]
    print(json.dumps({k: v for k, v in report.items() if k != "runs"}))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
