"""Batch stages that turn prompts into one-sentence descriptions (CPU pre/post-processing kept apart)."""

from __future__ import annotations

import re

import numpy as np

from finerouter.batch import BatchStage, Resources
from finerouter.describe.config import DescribeConfig
from finerouter.describe.openai_client import ChatClient

MAX_DESCRIPTION_CHARS = 300


def build_request(prompt: str, cfg: DescribeConfig) -> str:
    return cfg.instruction.replace("{prompt}", prompt[: cfg.max_prompt_chars])


def clean_description(text: str | None) -> str | None:
    """First non-empty line, quotes and a leading label stripped, capped; None when nothing usable is left."""
    if not text:
        return None
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    line = re.sub(r"^(task description|description)\s*:\s*", "", line, flags=re.IGNORECASE).strip(" \"'`*")
    return line[:MAX_DESCRIPTION_CHARS] or None


class OpenAIDescribe(BatchStage):
    """Calls an OpenAI-compatible endpoint; I/O bound, so each actor runs `concurrency` requests at once."""

    input_columns = ("request",)
    output_columns = ("description", "status", "error")

    def __init__(self, cfg: DescribeConfig, api_key: str | None = None) -> None:
        super().__init__(Resources(num_cpus=0.5))
        self.cfg = cfg
        self.api_key = api_key  # read on the driver: workers may not have its environment
        self.client = None

    def setup(self) -> None:
        self.client = ChatClient(self.cfg.openai, self.cfg.max_tokens, self.cfg.temperature, self.api_key or "")

    def transform(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        assert self.client is not None
        results = self.client.complete_all([str(r) for r in batch["request"]])
        texts = [clean_description(r.text) for r in results]
        errors = [r.error or (None if t else "empty description") for r, t in zip(results, texts, strict=True)]
        return {
            "description": np.array(texts, dtype=object),
            "status": np.array(["ok" if t else "failed" for t in texts], dtype=object),
            "error": np.array(errors, dtype=object),
        }
