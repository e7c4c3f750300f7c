"""The generation config, the prompts file (rows kept or rejected with reasons) and request identity."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from pydantic import ValidationError

from finerouter.config import RebuildConfig
from finerouter.errors import DataError
from finerouter.generate.config import GenerationConfig
from finerouter.generate.prompts import load_requests
from finerouter.generate.store import request_hashes

OPENAI = {"kind": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "m"}
PRICE = {"input_price": 1, "output_price": 2}


def generation(tmp_path: Path, rows: list | None = None, **kw) -> dict:
    path = tmp_path / "p.jsonl"
    rows = rows if rows is not None else [{"prompt_id": "a", "prompt": "hi", "source": "s", "reference": "1"}]
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")
    return {"prompts": str(path), "graders": {"s": "gsm8k"}, "models": [{"name": "m", "engine": OPENAI,
            "prices": PRICE}], **kw}  # fmt: skip


def test_config_errors_name_the_problem(tmp_path: Path) -> None:
    good = generation(tmp_path)
    GenerationConfig.model_validate(good)
    with pytest.raises(ValidationError, match="unknown grader 'exactish'; valid graders: code, exact_match"):
        GenerationConfig.model_validate({**good, "graders": {"s": "exactish"}})
    with pytest.raises(ValidationError, match="does not match any of the expected tags"):
        GenerationConfig.model_validate({**good, "models": [{"name": "m", "engine": {"kind": "tgi"}, "prices": PRICE}]})
    with pytest.raises(ValidationError, match="repeated name"):
        GenerationConfig.model_validate({**good, "models": good["models"] * 2})
    with pytest.raises(ValidationError, match="Extra inputs"):
        GenerationConfig.model_validate({**good, "models": [{**good["models"][0], "engine": {**OPENAI, "qsp": 1}}]})
    with pytest.raises(ValidationError, match="not found"):
        GenerationConfig.model_validate({**good, "prompts": str(tmp_path / "missing.jsonl")})
    with pytest.raises(ValidationError, match="go together"):
        RebuildConfig.model_validate({"data": {"format": "synthetic"}, "generation": good})
    with pytest.raises(ValidationError, match="go together"):
        RebuildConfig.model_validate({"data": {"format": "generated"}})
    vllm = {"name": "v", "engine": {"kind": "vllm", "model": "/m", "num_gpus": 1}, "prices": PRICE}
    with pytest.raises(ValidationError, match=r"generation.models\[v\].engine.num_gpus > 0 but the embedded local"):
        RebuildConfig.model_validate({"data": {"format": "generated"}, "generation": {**good, "models": [vllm]}})


def test_prompt_rows_are_kept_or_rejected_with_a_reason(tmp_path: Path) -> None:
    rows = [
        {"prompt_id": "a", "prompt": "What is 1+1?", "source": "s", "reference": "2"},
        {"prompt_id": "b", "messages": [{"role": "system", "content": "Be brief."},
                                        {"role": "user", "content": "And 2+2?"}], "source": "s", "reference": "4"},
        {"prompt_id": "a", "prompt": "again", "source": "s", "reference": "2"},
        {"prompt_id": "c", "prompt": "x", "source": "other", "reference": "2"},
        {"prompt_id": "d", "prompt": "x", "source": "s"},
        {"prompt_id": "e", "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}],
         "source": "s", "reference": "1"},
        {"prompt_id": "f", "messages": [{"role": "robot", "content": "q"}], "source": "s", "reference": "1"},
        {"prompt": "no id", "source": "s", "reference": "1"},
        "[1, 2]",
        "{broken",
    ]  # fmt: skip
    cfg = GenerationConfig.model_validate(generation(tmp_path, rows, system_prompt="You are careful."))
    requests, rejected = load_requests(cfg)
    assert list(requests["prompt_id"]) == ["a", "b"]
    assert json.loads(requests["messages_json"][0])[0] == {"role": "system", "content": "You are careful."}
    assert json.loads(requests["messages_json"][1])[0]["content"] == "Be brief."  # its own system message kept
    assert requests["prompt"][1] == "And 2+2?"
    reasons = list(rejected["reason"])
    assert len(reasons) == 8 and (rejected["table"] == "source").all()
    for expected in ("not JSON", "repeated", "no grader", "needs a 'reference'", "last message must be",
                     "role in", "prompt_id", "not an object"):  # fmt: skip
        assert any(expected in r for r in reasons), (expected, reasons)


def test_prompts_file_without_usable_rows_is_an_error(tmp_path: Path) -> None:
    cfg = GenerationConfig.model_validate(generation(tmp_path, [{"prompt_id": "a", "source": "s"}]))
    with pytest.raises(DataError, match="no usable prompts"):
        load_requests(cfg)


def test_parquet_prompts_with_list_references(tmp_path: Path) -> None:
    path = tmp_path / "p.parquet"
    frame = pd.DataFrame({"prompt_id": ["a"], "prompt": ["q"], "source": ["s"], "reference": [["x", "y"]]})
    frame.to_parquet(path)
    cfg = GenerationConfig.model_validate({**generation(tmp_path), "prompts": str(path)})
    requests, rejected = load_requests(cfg)
    assert json.loads(requests["reference_json"][0]) == ["x", "y"] and rejected.empty


def test_request_identity_ignores_run_time_knobs(tmp_path: Path) -> None:
    base = GenerationConfig.model_validate(generation(tmp_path)).models[0]
    messages = pd.Series(['[{"role": "user", "content": "hi"}]'])
    knobs = base.model_copy(update={"engine": base.engine.model_copy(update={"concurrency": 1, "qps": 2.0})})
    hotter = base.model_copy(update={"sampling": base.sampling.model_copy(update={"temperature": 0.5})})
    assert request_hashes(base, messages)[0] == request_hashes(knobs, messages)[0]
    assert request_hashes(base, messages)[0] != request_hashes(hotter, messages)[0]
