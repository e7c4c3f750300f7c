"""Closed-loop HTTP load against the app's POST /v1/route, and a local deployment to aim it at: what the serving
benchmarks share (benchmarks/serve_load.py, benchmarks/serve_fault_drill.py)."""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import pandas as pd

from finerouter.embed.options import ENCODER_DTYPES, ENCODER_RUNTIMES
from serve_app.config import IngressArgs, ServeAppArgs
from serve_app.local import direct_ingress_env


@dataclass
class LoadResult:
    concurrency: int
    duration_s: float
    latencies_s: list[float] = field(default_factory=list)
    failures: dict[str, int] = field(default_factory=dict)
    events: list[tuple[float, bool]] = field(default_factory=list)  # (time since start, ok)

    def summary(self) -> dict[str, Any]:
        ok = np.asarray(self.latencies_s) * 1000
        total = len(ok) + sum(self.failures.values())
        pct = {f"p{q}_ms": round(float(np.percentile(ok, q)), 2) for q in (50, 90, 99)} if len(ok) else {}
        return {
            "concurrency": self.concurrency,
            "duration_s": round(self.duration_s, 2),
            "requests": total,
            "ok": len(ok),
            "failed": sum(self.failures.values()),
            "failures": self.failures,
            "throughput_rps": round(len(ok) / self.duration_s, 1),
            **pct,
            "mean_ms": round(float(ok.mean()), 2) if len(ok) else None,
        }


def load_prompts(path: Path, limit: int = 2000, seed: int = 0, max_chars: int | None = None) -> list[str]:
    prompts = pd.read_parquet(path, columns=["prompt"])["prompt"].astype(str)
    prompts = prompts[prompts.str.strip().str.len() > 0]
    if max_chars is not None:
        prompts = prompts[prompts.str.len() <= max_chars]
    return prompts.sample(n=min(limit, len(prompts)), random_state=seed).tolist()


def prompt_lengths(prompts: list[str]) -> dict[str, Any]:
    chars = [len(p) for p in prompts]
    p90 = int(np.percentile(chars, 90))
    return {"n": len(prompts), "chars_median": int(statistics.median(chars)), "chars_p90": p90, "chars_max": max(chars)}


async def run_load(
    url: str, prompts: list[str], concurrency: int, duration_s: float, warmup_s: float = 3.0,
    headers: dict[str, str] | None = None, started_at: float | None = None,
) -> LoadResult:  # fmt: skip
    """Closed-loop clients; only requests started after the warm-up count."""
    result = LoadResult(concurrency, duration_s)
    begin = time.perf_counter() if started_at is None else started_at
    measure_from, stop_at = begin + warmup_s, begin + warmup_s + duration_s
    connector = aiohttp.TCPConnector(limit=concurrency * 2)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout, headers=headers) as session:

        async def client(worker: int) -> None:
            i = worker
            while (start := time.perf_counter()) < stop_at:
                body = {"prompt": prompts[i % len(prompts)]}
                i += concurrency
                try:
                    async with session.post(f"{url}/v1/route", json=body) as response:
                        await response.read()
                        error = None if response.status == 200 else str(response.status)
                except (aiohttp.ClientError, TimeoutError) as exc:
                    error = type(exc).__name__
                end = time.perf_counter()
                if start < measure_from:
                    continue
                result.events.append((start - begin, error is None))
                if error is None:
                    result.latencies_s.append(end - start)
                else:
                    result.failures[error] = result.failures.get(error, 0) + 1

        await asyncio.gather(*(client(w) for w in range(concurrency)))
    return result


def add_app_arguments(parser: argparse.ArgumentParser) -> None:
    """The app options both serving benchmarks pass to `deploy`."""
    parser.add_argument("--encoder-dtype", choices=ENCODER_DTYPES, default="float32")
    parser.add_argument(
        "--encoder-runtime", choices=ENCODER_RUNTIMES, default="torch",
        help="router.encoder_runtime (onnxruntime runs float32 only; torch float32 or bfloat16)",
    )  # fmt: skip
    parser.add_argument(
        "--direct-ingress", action="store_true",
        help="Ray Serve's throughput-optimized mode: clients reach the ingress replica directly on --port + 1 (no "
        "HTTP proxy hop; gRPC between replicas); user code stays on its own thread",
    )  # fmt: skip
    parser.add_argument(
        "--in-flight-batches", type=int,
        help="ingress.max_in_flight_batches: router calls each ingress replica keeps out at once (default: enough "
        "to keep every router replica busy, at least 2)",
    )  # fmt: skip
    parser.add_argument(
        "--batch-linger-ms", type=float, default=IngressArgs().batch_linger_ms,
        help="ingress.batch_linger_ms: with some router calls out, how long a request waits for others to join it",
    )  # fmt: skip


def deploy(
    bundle: Path, ray_cpus: int, replicas: int, replica_cpus: float, max_batch: int, port: int,
    metrics_port: int | None = None, encoder_dtype: str = "float32", batch_wait_s: float = 0.0,
    encoder_runtime: str = "torch", direct_ingress: bool = False,
    in_flight_batches: int | None = None,
    batch_linger_ms: float = IngressArgs().batch_linger_ms,
) -> str:  # fmt: skip
    """Start Ray and the app here; returns the URL clients use (the ingress replica itself with `direct_ingress`)."""
    if direct_ingress:
        os.environ.update(direct_ingress_env(port + 1))  # before Ray starts: its processes inherit them
    import ray
    from ray import serve

    from serve_app.app import build_app

    args = ServeAppArgs.model_validate({
        "bundle": str(bundle),
        "router": {"max_batch_size": max_batch, "num_cpus": replica_cpus, "encoder_dtype": encoder_dtype,
                   "encoder_runtime": encoder_runtime, "batch_wait_timeout_s": batch_wait_s,
                   "autoscaling": {"min_replicas": replicas, "max_replicas": replicas}},
        "ingress": {"batch_linger_ms": batch_linger_ms}
        | ({} if in_flight_batches is None else {"max_in_flight_batches": in_flight_batches}),
    })  # fmt: skip
    ray.init(
        address="local", num_cpus=ray_cpus, include_dashboard=False, log_to_driver=False,
        _metrics_export_port=metrics_port,
    )  # fmt: skip
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    serve.run(build_app(args), name="finerouter", route_prefix="/", logging_config={"enable_access_log": False})
    return f"http://127.0.0.1:{port + 1 if direct_ingress else port}"
