"""Description backends. Every input row comes back: described, or failed with its error."""

from __future__ import annotations

import logging

import pandas as pd

from finerouter.describe.config import DescribeConfig

log = logging.getLogger("finerouter.describe")
COLUMNS = ["prompt_id", "description", "status", "error", "backend"]


def from_prompt(prompts: pd.DataFrame, chars: int) -> pd.DataFrame:
    text = prompts["prompt"].astype(str).str.split().str.join(" ").str.slice(0, chars)
    return pd.DataFrame(
        {"prompt_id": prompts["prompt_id"].to_numpy(), "description": text.to_numpy(), "status": "from_prompt",
         "error": None, "backend": "prompt"}
    )  # fmt: skip


def describe(prompts: pd.DataFrame, cfg: DescribeConfig) -> pd.DataFrame:
    if cfg.backend == "prompt":
        log.info("describe.backend 'prompt': no LLM is used; each prompt's own text (first %d chars) stands in",
                 cfg.prompt_backend_chars)  # fmt: skip
        return from_prompt(prompts, cfg.prompt_backend_chars)
    raise NotImplementedError(f"describe.backend {cfg.backend!r} is not implemented yet (see issue 3 notes)")


def summarize(groups: dict[int, list[str]], cfg: DescribeConfig) -> dict[int, str]:
    raise NotImplementedError(f"LLM task summaries with describe.backend {cfg.backend!r} are not implemented yet")
