"""Generation against a local OpenAI-compatible server: retries on 429/500, a dead endpoint, reruns, the table."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pandas as pd
import pytest

from finerouter.config import RebuildConfig
from finerouter.data.table import RoutingTable
from jobs.rebuild import main
from tests.generate.fake_openai import FakeChat, serve

PROMPTS = [
    {"prompt_id": "g1", "prompt": "Tom has 3 apples and buys 4 more. How many?", "source": "gsm8k", "reference": "7"},
    {"prompt_id": "g2", "prompt": "RATE 12 eggs, 5 eaten. How many left?", "source": "gsm8k", "reference": "7"},
    {"prompt_id": "g3", "prompt": "OOPS What is 6 times 7?", "source": "gsm8k", "reference": "#### 42"},
    {"prompt_id": "q1", "prompt": "Capital of France?", "source": "nq", "reference": ["Paris", "paris, france"]},
    {"prompt_id": "m1", "messages": [{"role": "user", "content": "2+2? (A) 3 (B) 4 (C) 5"}], "source": "mmlu",
     "reference": "B"},
]  # fmt: skip
BAD_LINES = [
    {"prompt_id": "x1", "prompt": "no source grader", "source": "unknown", "reference": "1"},
    {"prompt_id": "g1", "prompt": "duplicate id", "source": "gsm8k", "reference": "1"},
    {"prompt_id": "x2", "prompt": "   ", "source": "gsm8k", "reference": "1"},
]
ANSWERS = {
    "Tom has 3 apples and buys 4 more. How many?": "3 + 4 = 7. The answer is 7.",
    "RATE 12 eggs, 5 eaten. How many left?": "12 - 5 = 7, so 7 eggs.",
    "OOPS What is 6 times 7?": "6 * 7 = 48",  # wrong on purpose
    "Capital of France?": "Paris",
    "2+2? (A) 3 (B) 4 (C) 5": "The answer is (B).",
}


MULTIPLE_CHOICE = {"grader": "multiple_choice", "options": {"options": 3}}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_prompts(path: Path) -> Path:
    lines = [json.dumps(p) for p in PROMPTS + BAD_LINES] + ["{not json"]
    path.write_text("\n".join(lines) + "\n")
    return path


def config(tmp_path: Path, url: str) -> RebuildConfig:
    engine = {"kind": "openai", "base_url": url, "concurrency": 4, "max_retries": 3, "retry_wait_s": 0.01}
    offline = {**engine, "base_url": f"http://127.0.0.1:{free_port()}/v1", "model": "offline"}
    price = {"input_price": 1.0, "output_price": 2.0}
    return RebuildConfig.model_validate(
        {
            "run": "gen",
            "artifacts_dir": str(tmp_path / "artifacts"),
            "data": {"format": "generated", "split": {"train": 0.6, "dev": 0.2, "test": 0.2}},
            "generation": {
                "prompts": str(write_prompts(tmp_path / "prompts.jsonl")),
                "graders": {"gsm8k": "gsm8k", "nq": {"grader": "f1"}, "mmlu": MULTIPLE_CHOICE},
                "models": [
                    {"name": "strong", "engine": {**engine, "model": "strong"}, "prices": price},
                    {"name": "flaky", "engine": {**engine, "model": "flaky"}, "prices": price},
                    {"name": "dead", "engine": {**engine, "model": "dead", "max_retries": 1}, "prices": price},
                    {"name": "offline", "engine": offline, "prices": price},
                ],
            },
        }
    )


def calls_by_model() -> dict[str, int]:
    out: dict[str, int] = {}
    for (model, _), n in FakeChat.calls.items():
        out[model] = out.get(model, 0) + n
    return out


def stats(outcomes: list, name: str) -> dict:
    return next(o for o in outcomes if o.name == name).stats


def test_generation_retries_records_failures_and_reruns_only_what_failed(tmp_path: Path, ray_local) -> None:
    with serve(ANSWERS) as url:
        cfg = config(tmp_path, url)
        first = main(cfg, until=["import"])
        gen = stats(first, "generate")
        assert gen["prompts"] == 5 and gen["prompts_rejected"] == 4 and gen["pairs"] == 20
        assert gen["by_model"]["strong"] == {"reused": 0, "generated": 5, "failed": 0}
        assert gen["by_model"]["flaky"] == {"reused": 0, "generated": 5, "failed": 0}  # 429 x2, 500 x1 retried
        assert gen["by_model"]["dead"] == {"reused": 0, "generated": 0, "failed": 5}
        assert gen["by_model"]["offline"] == {"reused": 0, "generated": 0, "failed": 5}
        assert FakeChat.calls[("flaky", PROMPTS[1]["prompt"])] == 3  # two 429s, then an answer
        assert FakeChat.calls[("flaky", PROMPTS[2]["prompt"])] == 2  # one 500, then an answer
        assert calls_by_model()["dead"] == 5 * 2  # first try + max_retries=1

        responses = pd.read_parquet(cfg.run_dir / "generate" / "responses.parquet")
        dead = responses[responses["model"] == "dead"]
        assert (dead["status"] == "failed").all() and dead["error"].str.contains("HTTP 500").all()
        assert dead["error"].str.contains("after 2 attempts").all()
        offline = responses[responses["model"] == "offline"]
        assert offline["error"].str.contains("unreachable").all() and (offline["attempts"] == 0).all()

        scored = pd.read_parquet(cfg.run_dir / "score" / "scored.parquet").set_index(["model", "prompt_id"])
        assert scored.loc[("strong", "g1"), "quality"] == 1.0
        assert scored.loc[("strong", "g3"), "quality"] == 0.0 and scored.loc[("strong", "g3"), "grade_reason"]
        assert scored.loc[("strong", "q1"), "quality"] == 1.0 and scored.loc[("strong", "m1"), "quality"] == 1.0
        words_in = len(PROMPTS[0]["prompt"].split()) + 3
        words_out = len(ANSWERS[PROMPTS[0]["prompt"]].split())
        assert scored.loc[("strong", "g1"), "input_tokens"] == words_in
        assert scored.loc[("strong", "g1"), "cost"] == pytest.approx((words_in * 1.0 + words_out * 2.0) / 1e6)
        assert scored.loc[("dead", "g1"), "quality"] != scored.loc[("dead", "g1"), "quality"]  # NaN: unscored

        table = RoutingTable.load(cfg.run_dir / "import" / "table")
        counts = table.manifest["counts"]
        assert counts["prompts"] == {"in": 5, "kept": 5, "rejected": 0}
        assert counts["models"] == {"in": 4, "kept": 2, "rejected": 2}  # dead and offline have no outcomes
        assert counts["outcomes"] == {"in": 10, "kept": 10, "rejected": 0}
        source = table.rejected[table.rejected["table"] == "source"]
        assert len(source) == 4 + 10  # 4 bad prompt rows + 10 failed pairs, each with its reason
        assert source["reason"].str.startswith("generation failed: ").sum() == 10
        assert table.cost_basis == "call"

        # Rerun: only the 10 failed pairs are tried again; the dead model is still down.
        before = calls_by_model()
        second = main(cfg, until=["import"])
        gen = stats(second, "generate")
        assert gen["reused"] == 10 and gen["failed"] == 10
        after = calls_by_model()
        assert after["strong"] == before["strong"] and after["flaky"] == before["flaky"]
        assert after["dead"] == before["dead"] + 10

        # The endpoint recovers: the next run fills the dead model's pairs and the table gains a model.
        FakeChat.dead_down = False
        third = main(cfg, until=["import"])
        assert stats(third, "generate")["by_model"]["dead"] == {"reused": 0, "generated": 5, "failed": 0}
        assert stats(third, "generate")["by_model"]["strong"]["reused"] == 5
        table = RoutingTable.load(cfg.run_dir / "import" / "table")
        assert table.manifest["counts"]["models"]["kept"] == 3
        assert table.manifest["counts"]["outcomes"]["kept"] == 15


def test_changed_sampling_regenerates_that_model_only(tmp_path: Path, ray_local) -> None:
    with serve(ANSWERS) as url:
        cfg = config(tmp_path, url)
        FakeChat.dead_down = False
        main(cfg, until=["generate"])
        data = cfg.model_dump(mode="json")
        data["generation"]["models"][0]["sampling"] = {"temperature": 0.7, "seed": 3}
        data["generation"]["models"][1]["engine"]["concurrency"] = 1  # a run-time knob: results stay valid
        gen = stats(main(RebuildConfig.model_validate(data), until=["generate"]), "generate")
        assert gen["by_model"]["strong"] == {"reused": 0, "generated": 5, "failed": 0}
        assert gen["by_model"]["flaky"]["reused"] == 5 and gen["by_model"]["dead"]["reused"] == 5


def test_batches_after_an_all_failed_one_are_not_sent_and_engine_errors_are_recorded(
    tmp_path: Path, ray_local, monkeypatch: pytest.MonkeyPatch
) -> None:
    from finerouter.generate import run
    from finerouter.generate.prompts import load_requests
    from finerouter.generate.store import ResultStore

    real_run_model = run.run_model

    def run_model(pending, model, retries):
        if model.name == "boom":
            raise RuntimeError("engine actor died")
        return real_run_model(pending, model, retries)

    monkeypatch.setattr(run, "run_model", run_model)
    with serve(ANSWERS) as url:
        data = config(tmp_path, url).generation.model_dump(mode="json")
        dead, boom = data["models"][2], {**data["models"][0], "name": "boom"}
        dead["engine"]["max_retries"] = 0
        data.update(models=[dead, boom], checkpoint_rows=2)
        cfg = RebuildConfig.model_validate({"data": {"format": "generated"}, "generation": data}).generation
        requests, _ = load_requests(cfg)
        results, stats = run.generate_all(cfg, requests, ResultStore(tmp_path / "none", tmp_path / "cache", None))
    assert stats == {"dead": {"reused": 0, "generated": 0, "failed": 5}, "boom": {"reused": 0, "generated": 0,
                     "failed": 5}}  # fmt: skip
    assert calls_by_model() == {"dead": 2}  # the first batch of two; the other three pairs were not sent
    dead_rows = results[results["model"] == "dead"]
    assert list(dead_rows["attempts"]) == [1, 1, 0, 0, 0]
    assert dead_rows["error"].iloc[2].startswith("not sent: all 2 requests of the batch before failed (HTTP 500")
    boom_rows = results[results["model"] == "boom"]
    assert boom_rows["error"].str.contains("engine error: RuntimeError: engine actor died").all()
    assert len(list((tmp_path / "cache").glob("part-*.parquet"))) == 6  # every batch checkpointed
