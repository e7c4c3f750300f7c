"""Description backends: `prompt`, and `openai` against a fake OpenAI-compatible server on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from typing import ClassVar

import pandas as pd
import pytest

from finerouter.describe.backends import describe, summarize
from finerouter.describe.config import DescribeConfig
from finerouter.describe.stages import clean_description
from finerouter.errors import FineRouterError
from tests.json_handler import JsonHandler


class FakeOpenAI(JsonHandler):
    """Answers chat completions; prompts containing FAIL-429/FAIL-500 fail that many times first, NEVER always."""

    calls: ClassVar[Counter] = Counter()

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"{}")
        if self.headers.get("Authorization") == "Bearer wrong-key":
            return self._send(401, {"error": "invalid api key"})
        if "messages" not in body:
            return self._send(400, {"error": "bad request"})
        prompt = body["messages"][0]["content"]
        FakeOpenAI.calls[prompt] += 1
        n = FakeOpenAI.calls[prompt]
        if "NEVER" in prompt:
            return self._send(500, {"error": "permanent"})
        if "FAIL-429" in prompt and n <= 2:
            return self._send(429, {"error": "slow down"})
        if "FAIL-500" in prompt and n <= 1:
            return self._send(500, {"error": "oops"})
        if "BADREQ" in prompt:
            return self._send(400, {"error": "no"})
        topic = prompt.split("Request:\n")[-1].split("\n")[0][:30]
        self._send(200, {"choices": [{"message": {"content": f'"Task: answer a question about {topic}."\nextra'}}]})


@pytest.fixture(scope="module")
def fake_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeOpenAI)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


def openai_cfg(url: str, **kw: object) -> DescribeConfig:
    return DescribeConfig(
        backend="openai",
        openai={"base_url": url, "model": "fake", "max_retries": 2, "retry_wait_s": 0.01, "concurrency": 4, **kw},
    )


def test_prompt_backend_keeps_every_row() -> None:
    prompts = pd.DataFrame({"prompt_id": ["a", "b"], "prompt": ["  What   is\n2+2? ", "x" * 5000]})
    out = describe(prompts, DescribeConfig(prompt_backend_chars=100))
    assert list(out["prompt_id"]) == ["a", "b"] and (out["status"] == "from_prompt").all()
    assert out["description"].iloc[0] == "  What   is\n2+2? " and len(out["description"].iloc[1]) == 100
    with pytest.raises(ValueError, match="need an LLM backend"):
        summarize({0: ["x"]}, DescribeConfig())


def test_openai_backend_retries_then_records_failures(fake_server: str, ray_local) -> None:
    prompts = pd.DataFrame(
        {
            "prompt_id": [f"p{i}" for i in range(8)],
            "prompt": [
                "cooking",
                "FAIL-429 astronomy",
                "FAIL-500 law",
                "NEVER works",
                "BADREQ",
                "sport",
                "art",
                "maths",
            ],
        }
    )
    out = describe(prompts, openai_cfg(fake_server))
    assert list(out["prompt_id"]) == list(prompts["prompt_id"])  # every row, in order
    status = dict(zip(out["prompt_id"], out["status"], strict=True))
    assert status == {
        "p0": "ok",
        "p1": "ok",
        "p2": "ok",
        "p3": "failed",
        "p4": "failed",
        "p5": "ok",
        "p6": "ok",
        "p7": "ok",
    }
    errors = dict(zip(out["prompt_id"], out["error"], strict=True))
    assert "HTTP 500" in errors["p3"] and "after 3 attempts" in errors["p3"]
    assert "HTTP 400" in errors["p4"]  # not retryable: one attempt
    assert out.set_index("prompt_id").loc["p0", "description"] == "Task: answer a question about cooking."
    calls = {p.split("Request:\n")[-1].split("\n")[0]: n for p, n in FakeOpenAI.calls.items()}
    assert calls["FAIL-429 astronomy"] == 3 and calls["NEVER works"] == 3 and calls["BADREQ"] == 1
    summaries = summarize({3: ["about cooking", "about baking"]}, openai_cfg(fake_server))
    assert list(summaries) == [3] and summaries[3].startswith("Task:")


def test_dead_endpoint_is_one_clear_error(ray_local) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again when the block ends: nothing listens there
    url = f"http://127.0.0.1:{port}/v1"
    with pytest.raises(FineRouterError, match=rf"127\.0\.0\.1:{port}/v1/chat/completions is unreachable"):
        describe(pd.DataFrame({"prompt_id": ["a"], "prompt": ["q"]}), openai_cfg(url))


def test_api_key_is_read_on_the_driver_and_checked(fake_server: str, monkeypatch, ray_local) -> None:
    prompts = pd.DataFrame({"prompt_id": ["a"], "prompt": ["cooking"]})
    monkeypatch.delenv("FAKE_KEY", raising=False)
    with pytest.raises(FineRouterError, match="'FAKE_KEY', which is not set"):
        describe(prompts, openai_cfg(fake_server, api_key_env="FAKE_KEY"))
    monkeypatch.setenv("FAKE_KEY", "wrong-key")
    with pytest.raises(FineRouterError, match="refused the credentials"):
        describe(prompts, openai_cfg(fake_server, api_key_env="FAKE_KEY"))
    monkeypatch.setenv("FAKE_KEY", "right-key")
    assert describe(prompts, openai_cfg(fake_server, api_key_env="FAKE_KEY"))["status"].tolist() == ["ok"]


def test_config_and_cleaning() -> None:
    with pytest.raises(ValueError, match=r"needs describe\.openai\.base_url"):
        DescribeConfig(backend="openai")
    with pytest.raises(ValueError, match=r"needs describe\.vllm\.model"):
        DescribeConfig(backend="vllm")
    with pytest.raises(ValueError, match="must contain '\\{prompt\\}'"):
        DescribeConfig(instruction="no slot")
    assert clean_description('Task description: "Convert units."\nmore') == "Convert units."
    assert clean_description("  \n ") is None


def test_vllm_backend_without_vllm_names_the_package() -> None:
    import importlib.util

    from finerouter.errors import MissingDependencyError

    if importlib.util.find_spec("vllm") is not None:
        pytest.skip("vllm is installed")
    cfg = DescribeConfig(backend="vllm", vllm={"model": "/nonexistent", "num_gpus": 0})
    with pytest.raises(MissingDependencyError, match="vllm"):
        describe(pd.DataFrame({"prompt_id": ["a"], "prompt": ["q"]}), cfg)


def test_rebuild_with_openai_descriptions_and_llm_task_summaries(fake_server: str, tmp_path, ray_local) -> None:
    from pathlib import Path

    from finerouter.config import load_config
    from jobs.rebuild import main

    repo = Path(__file__).resolve().parents[2]
    cfg = load_config(
        repo / "configs/demo.yaml",
        [
            f"artifacts_dir={tmp_path}",
            "data.synthetic.n_prompts=300",
            "describe.backend=openai",
            f"describe.openai.base_url={fake_server}",
            "describe.openai.model=fake",
            "describe.openai.retry_wait_s=0.01",
        ],
    )
    outcomes = {o.name: o for o in main(cfg, until=["task_report"])}
    assert outcomes["describe"].stats["status"] == {"ok": outcomes["describe"].stats["rows"]}
    described = pd.read_parquet(tmp_path / "demo/describe/descriptions.parquet")
    assert described["text"].str.startswith("Task: answer a question about").all()
    tasks = pd.read_parquet(tmp_path / "demo/tasks/tasks.parquet")
    assert (tasks["summary_source"] == "llm").all() and tasks["summary"].str.startswith("Task:").all()
