"""Fault drill: kill one Router replica during a load of POST /v1/route, measure failures and recovery.

Deploys the app with a fixed number of router replicas (default 2), runs closed-loop load at --concurrency for
--duration seconds, and --kill-at seconds into it kills one router replica with `ray.kill` (no restart: Serve's
controller must notice and start a replacement). Records: failed requests (and when), the time until Serve reports
the full replica count RUNNING again, the time until throughput is back to 90% of its level before the kill, and
throughput per second around the kill.

Usage:
  python benchmarks/serve_fault_drill.py --bundle artifacts/llmrouter/bundle \
      --prompts artifacts/llmrouter/import/table/prompts.parquet --duration 60 --concurrency 16
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import time
from pathlib import Path
from typing import Any

from serve_app.loadgen import add_app_arguments, deploy, load_prompts, prompt_lengths, run_load


def router_replicas() -> list[str]:
    import ray

    return sorted(
        a["name"]
        for a in ray.util.list_named_actors(all_namespaces=True)
        if a["name"].startswith("SERVE_REPLICA::finerouter#Router#")
    )


def router_states() -> dict[str, int]:
    from ray import serve

    return dict(serve.status().applications["finerouter"].deployments["Router"].replica_states)


async def drill(url: str, prompts: list[str], args: argparse.Namespace) -> dict[str, Any]:
    import ray

    begin = time.perf_counter()
    load = asyncio.create_task(run_load(url, prompts, args.concurrency, args.duration, warmup_s=0, started_at=begin))
    await asyncio.sleep(args.kill_at)
    before = set(router_replicas())
    victim = sorted(before)[0]
    killed_at = time.perf_counter() - begin
    ray.kill(ray.get_actor(victim, namespace="serve"), no_restart=True)
    recovered_at = None
    timeline: list[tuple[float, dict[str, int]]] = []
    while time.perf_counter() - begin < args.duration and recovered_at is None:
        states = await asyncio.to_thread(router_states)
        now = time.perf_counter() - begin
        timeline.append((round(now - killed_at, 2), states))
        replacement = set(await asyncio.to_thread(router_replicas)) - before
        if replacement and states.get("RUNNING", 0) >= args.replicas:
            recovered_at = now  # a new replica is up and the deployment is back at full strength
        await asyncio.sleep(0.5)
    result = await load
    changes = timeline[:1] + [b for a, b in itertools.pairwise(timeline) if a[1] != b[1]]
    summary = result.summary()
    failed_times = [t for t, ok in result.events if not ok]
    per_second = [0] * (int(args.duration) + 1)
    for t, ok in result.events:
        if ok and int(t) < len(per_second):
            per_second[int(t)] += 1
    return {
        **summary,
        "throughput_back_after_s": throughput_back_after(per_second, killed_at),
        "failed_pct": round(100 * summary["failed"] / max(summary["requests"], 1), 3),
        "replicas": args.replicas,
        "killed": victim,
        "killed_at_s": round(killed_at, 2),
        "replacement_running_after_s": None if recovered_at is None else round(recovered_at - killed_at, 2),
        "replica_states_after_kill": changes,
        "last_failure_after_kill_s": round(max(failed_times) - killed_at, 2) if failed_times else None,
        "ok_per_second": per_second,
    }


def throughput_back_after(per_second: list[int], killed_at: float, window: int = 3) -> float | None:
    """Seconds from the kill until the throughput, averaged over `window` whole seconds, is back to at least 90% of
    the ten seconds before it (the start of the first such window); None if that never happened."""
    kill = int(killed_at)
    before = per_second[max(kill - 10, 0) : kill]
    if not before:
        return None
    bar = 0.9 * sum(before) / len(before)
    for start in range(kill + 1, len(per_second) - window):
        if sum(per_second[start : start + window]) >= bar * window:
            return round(start - killed_at, 2)
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundle", type=Path, required=True)
    parser.add_argument("--prompts", type=Path, required=True)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--kill-at", type=float, default=20.0)
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--replica-cpus", type=float, default=0.5)
    parser.add_argument("--ray-cpus", type=int, default=2)
    parser.add_argument("--port", type=int, default=8124)
    add_app_arguments(parser)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    prompts = load_prompts(args.prompts)
    url = deploy(
        args.bundle, args.ray_cpus, args.replicas, args.replica_cpus, 32, args.port,
        encoder_dtype=args.encoder_dtype, encoder_runtime=args.encoder_runtime, direct_ingress=args.direct_ingress,
        in_flight_batches=args.in_flight_batches, batch_linger_ms=args.batch_linger_ms,
    )  # fmt: skip
    load_before = os.getloadavg()[0]
    report = asyncio.run(drill(url, prompts, args))
    report["loadavg_1m"] = [round(load_before, 1), round(os.getloadavg()[0], 1)]
    report["prompts"] = prompt_lengths(prompts)
    print(json.dumps(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
