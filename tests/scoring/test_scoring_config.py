"""`generation.scoring.sandbox`: typed, validated at load time, and handed to the code grader by the score stage."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from pydantic import ValidationError

from finerouter.generate.config import GenerationConfig
from finerouter.generate.prompts import load_requests
from finerouter.generate.score import score
from finerouter.scoring.config import ScoringConfig
from finerouter.scoring.sandbox import SandboxUnavailable


def _generation(tmp_path: Path, **kw: object) -> GenerationConfig:
    path = tmp_path / "p.jsonl"
    row = {"prompt_id": "a", "prompt": "square", "source": "mbpp", "reference": ["assert square(3) == 9"]}
    path.write_text(json.dumps(row) + "\n")
    model = {"name": "m", "engine": {"kind": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "m"},
             "prices": {"input_price": 1, "output_price": 2}}  # fmt: skip
    return GenerationConfig.model_validate({"prompts": str(path), "graders": {"mbpp": "code"}, "models": [model], **kw})


def _results(response: str) -> pd.DataFrame:
    return pd.DataFrame(
        {"prompt_id": ["a"], "model": ["m"], "status": ["ok"], "response": [response], "error": [None],
         "input_tokens": [10], "output_tokens": [5], "attempts": [1], "engine": ["openai"]}
    )  # fmt: skip


def test_sandbox_setting_is_checked_at_load_time(tmp_path: Path) -> None:
    assert _generation(tmp_path).scoring.sandbox == "bwrap"
    assert _generation(tmp_path, scoring={"sandbox": "guard-only"}).scoring.sandbox == "guard-only"
    with pytest.raises(ValidationError, match="'bwrap' or 'guard-only'"):
        _generation(tmp_path, scoring={"sandbox": "docker"})
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        ScoringConfig.model_validate({"sandbox": "bwrap", "timeout": 3})
    assert ScoringConfig(sandbox="guard-only").grader_options("code") == {"sandbox": "guard-only"}
    assert ScoringConfig().grader_options("gsm8k") == {}


def test_score_stage_uses_the_configured_sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no bwrap here
    answer = "def square(x):\n    return x * x\n"
    unsafe = _generation(tmp_path, scoring={"sandbox": "guard-only"})
    requests, _ = load_requests(unsafe)
    assert score(unsafe, requests, _results(answer))["quality"].tolist() == [1.0]
    default = _generation(tmp_path)
    with pytest.raises(SandboxUnavailable, match="apt-get install -y bubblewrap"):
        score(default, requests, _results(answer))  # a stage failure, not rows silently scored 0


@pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed (apt-get install -y bubblewrap)")
def test_score_stage_grades_in_bwrap(tmp_path: Path) -> None:
    cfg = _generation(tmp_path)
    requests, _ = load_requests(cfg)
    scored = score(cfg, requests, _results("def square(x):\n    return x + x\n"))
    assert scored["quality"].tolist() == [0.0] and "AssertionError" in scored["grade_reason"][0]


def test_a_graders_own_sandbox_option_is_refused() -> None:
    from pydantic import ValidationError

    from finerouter.generate.config import GraderChoice

    with pytest.raises(ValidationError, match=r"generation\.scoring\.sandbox"):
        GraderChoice(grader="code", options={"sandbox": "guard-only"})
