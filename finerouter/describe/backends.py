"""Description backends. Every input row comes back: described, or failed with its error."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from finerouter.batch import map_stage
from finerouter.describe import vllm_backend
from finerouter.describe.config import DescribeConfig
from finerouter.describe.openai_client import ChatClient, read_api_key
from finerouter.describe.stages import OpenAIDescribe, build_request, clean_description

log = logging.getLogger("finerouter.describe")
COLUMNS = ["prompt_id", "description", "status", "error", "backend"]
ENGINE_RETRIES = 1  # extra passes over rows the vLLM engine failed; the HTTP client retries per request


def from_prompt(prompts: pd.DataFrame, chars: int) -> pd.DataFrame:
    # Verbatim (only cut to length), so a short prompt's description is the same text and is embedded once.
    text = prompts["prompt"].astype(str).str.slice(0, chars)
    return pd.DataFrame(
        {"prompt_id": prompts["prompt_id"].to_numpy(), "description": text.to_numpy(), "status": "from_prompt",
         "error": None, "backend": "prompt"}
    )  # fmt: skip


def describe(prompts: pd.DataFrame, cfg: DescribeConfig) -> pd.DataFrame:
    """(prompt_id, description, status, error, backend) for every row of `prompts` (prompt_id, prompt)."""
    if cfg.backend == "prompt":
        log.info("describe.backend 'prompt': no LLM is used; each prompt's own text (first %d chars) stands in",
                 cfg.prompt_backend_chars)  # fmt: skip
        return from_prompt(prompts, cfg.prompt_backend_chars)
    requests = pd.DataFrame(
        {"key": prompts["prompt_id"].to_numpy(), "text": [build_request(str(p), cfg) for p in prompts["prompt"]]}
    )
    done = _generate(requests, cfg)
    out = pd.DataFrame(
        {
            "prompt_id": done["key"].to_numpy(),
            "description": done["description"].to_numpy(),
            "status": np.where(done["description"].notna(), "ok", "failed"),
            "error": done["error"].to_numpy(),
            "backend": cfg.backend,
        }
    )
    failed = int((out["status"] == "failed").sum())
    log.info("descriptions: %d ok, %d failed (kept with their error)", len(out) - failed, failed)
    return out


def summarize(groups: dict[int, list[str]], cfg: DescribeConfig) -> dict[int, str]:
    """One LLM-written sentence per task from sample member descriptions; failed tasks are left out."""
    if cfg.backend == "prompt":
        raise ValueError("task summaries need an LLM backend; the caller uses the medoid description instead")
    text = [
        cfg.summary_instruction.replace("{descriptions}", "\n".join(f"- {d}" for d in ds)) for ds in groups.values()
    ]
    done = _generate(pd.DataFrame({"key": [str(k) for k in groups], "text": text}), cfg)
    return {int(k): d for k, d in zip(done["key"], done["description"], strict=True) if d}


def _generate(requests: pd.DataFrame, cfg: DescribeConfig) -> pd.DataFrame:
    """(key, description, error) per request, in request order."""
    if cfg.backend == "openai":
        return _openai(requests, cfg)

    result = vllm_backend.generate(requests, cfg)
    for _ in range(ENGINE_RETRIES):
        retry = result["error"].notna() | result["generated"].isna()
        if not retry.any():
            break
        again = vllm_backend.generate(requests[retry.to_numpy()], cfg).set_index("key")
        result = result.set_index("key")
        result.loc[again.index, ["generated", "error"]] = again[["generated", "error"]]
        result = result.reset_index()
    described = result["generated"].map(clean_description)
    error = result["error"].where(result["error"].notna() | described.notna(), "empty description")
    return pd.DataFrame({"key": result["key"], "description": described, "error": error.where(described.isna())})


def _openai(requests: pd.DataFrame, cfg: DescribeConfig) -> pd.DataFrame:
    import ray.data

    key = read_api_key(cfg.openai)
    ChatClient(cfg.openai, cfg.max_tokens, cfg.temperature, key).probe()  # dead endpoint / bad key: one clear error
    frame = pd.DataFrame({"row": np.arange(len(requests)), "request": requests["text"].to_numpy()})
    stage = OpenAIDescribe(cfg, key)
    out = map_stage(ray.data.from_pandas(frame), stage, batch_size=max(cfg.openai.concurrency * 4, 16)).to_pandas()
    out = out.sort_values("row")
    return pd.DataFrame(
        {
            "key": requests["key"].to_numpy(),
            "description": out["description"].to_numpy(),
            "error": out["error"].to_numpy(),
        }
    )
