"""The chat proxy behaves like an OpenAI server to the official `openai` client: upstream 4xx/429 pass through with
their status, code and Retry-After (called once), connection failures and 5xx become 502/503 without internal
addresses, a dead upstream is skipped for its cool-down, and a stream that breaks midway raises in the client.

The ingress app runs in-process under uvicorn (tests/serve_app/proxy_harness.py: real HTTP, no Ray); the upstreams
are tests/serve_app/fake_upstream.py, which counts every call."""

from __future__ import annotations

import json
from collections.abc import Iterator

import openai
import pytest
import requests

from serve_app.config import ServiceArgs
from tests.serve_app.conftest import UPSTREAM_KEY_ENV
from tests.serve_app.fake_upstream import RETRY_AFTER_S, STREAM_WORDS, FakeUpstream
from tests.serve_app.harness import free_port
from tests.serve_app.proxy_harness import proxy_on_loopback

MESSAGES = [{"role": "user", "content": "What is 2 + 2?"}]
# pool model -> fake upstream mode (see fake_upstream.py); "refused" is a port nothing listens on
MODES = {
    "m-ok": "ok",
    "m-context": "context400",
    "m-ratelimit": "ratelimit429",
    "m-ratelimit-fb": "ratelimit429",
    "m-5xx": "fail500",
    "m-unavailable": "fail503",
    "m-cut": "cutstream",
    "m-cut-raw": "cutstream",  # a stream that breaks counts as a failure: each test has its own breaker to open
    "m-nodone": "nodone",
    "m-dead": "hangup",
    "m-refused": "refused",
}


def proxy_args(upstream: FakeUpstream, **extra: object) -> ServiceArgs:
    refused = f"http://127.0.0.1:{free_port()}/v1"
    upstreams = {
        model: {"base_url": refused if mode == "refused" else upstream.base_url(mode), "api_key_env": UPSTREAM_KEY_ENV}
        for model, mode in MODES.items()
    }
    return ServiceArgs.model_validate({"upstreams": upstreams, "fallbacks": {"m-ratelimit-fb": "m-ok"}, **extra})


@pytest.fixture(scope="module")
def proxy(fake_upstream: FakeUpstream) -> Iterator[str]:
    """One proxy; a breaker that opens on the first failure and stays open for an hour (no timing in the tests)."""
    args = proxy_args(fake_upstream, circuit_breaker={"allowed_fails": 1, "cooldown_s": 3600})
    with proxy_on_loopback(args, list(MODES)) as (base, _):
        yield base


def client(base: str, max_retries: int = 2) -> openai.OpenAI:
    return openai.OpenAI(base_url=base + "/v1", api_key="unused", max_retries=max_retries)


def calls(upstream: FakeUpstream, mode: str) -> int:
    return len(upstream.received(mode))


def test_upstream_400_reaches_the_client_as_bad_request_called_once(proxy: str, fake_upstream: FakeUpstream) -> None:
    """The client retries nothing but 408/409/429/5xx, so with its default max_retries=2 a 400 must reach the
    upstream exactly once."""
    before = calls(fake_upstream, "context400")
    with pytest.raises(openai.BadRequestError) as raised:
        client(proxy).chat.completions.create(model="m-context", messages=MESSAGES)
    assert raised.value.status_code == 400 and raised.value.code == "context_length_exceeded"
    assert raised.value.param == "messages" and "maximum context length" in raised.value.message
    assert raised.value.response.headers["X-FineRouter-Upstream-Status"] == "400"
    assert calls(fake_upstream, "context400") == before + 1


def test_upstream_429_reaches_the_client_as_rate_limit_called_once(proxy: str, fake_upstream: FakeUpstream) -> None:
    """max_retries=0: the client itself would retry a 429 (after Retry-After); what is tested is that FineRouter does
    not retry it, and that the client gets what it needs to back off (Retry-After, x-ratelimit-*)."""
    before = calls(fake_upstream, "ratelimit429")
    with pytest.raises(openai.RateLimitError) as raised:
        client(proxy, max_retries=0).chat.completions.create(model="m-ratelimit", messages=MESSAGES)
    assert raised.value.status_code == 429 and raised.value.code == "rate_limit_exceeded"
    headers = raised.value.response.headers
    assert headers["Retry-After"] == str(RETRY_AFTER_S) and headers["x-ratelimit-remaining-requests"] == "0"
    assert calls(fake_upstream, "ratelimit429") == before + 1


def test_429_falls_back_when_a_fallback_is_configured(proxy: str, fake_upstream: FakeUpstream) -> None:
    before = calls(fake_upstream, "ratelimit429")
    raw = client(proxy, max_retries=0).chat.completions.with_raw_response.create(
        model="m-ratelimit-fb", messages=MESSAGES
    )
    assert raw.parse().choices[0].message.content == "".join(STREAM_WORDS)
    assert raw.headers["X-FineRouter-Model"] == "m-ok" and raw.headers["X-FineRouter-Fallback-From"] == "m-ratelimit-fb"
    assert calls(fake_upstream, "ratelimit429") == before + 1


def test_429_passes_through_when_fallback_on_429_is_off(fake_upstream: FakeUpstream) -> None:
    args = proxy_args(fake_upstream, fallback_on_429=False)
    ok_before = calls(fake_upstream, "ok")
    with proxy_on_loopback(args, list(MODES)) as (base, _), pytest.raises(openai.RateLimitError):
        client(base, max_retries=0).chat.completions.create(model="m-ratelimit-fb", messages=MESSAGES)
    assert calls(fake_upstream, "ok") == ok_before


@pytest.mark.parametrize(("model", "status", "code"), [("m-5xx", 502, "upstream_error"),
                                                        ("m-unavailable", 503, "upstream_unavailable"),
                                                        ("m-refused", 502, "upstream_unreachable")])  # fmt: skip
def test_connection_failures_and_5xx_become_502_503_without_addresses(
    proxy: str, model: str, status: int, code: str
) -> None:
    response = requests.post(proxy + "/v1/chat/completions", json={"model": model, "messages": MESSAGES}, timeout=30)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code and model in error["message"]
    assert "127.0.0.1" not in response.text and "http" not in error["message"]


def test_a_dead_upstream_is_called_at_most_once_per_cooldown(proxy: str, fake_upstream: FakeUpstream) -> None:
    """The breaker opens on the first failure (allowed_fails=1) for an hour: later requests are answered 503 with
    Retry-After at once, and the upstream is not called again."""
    before = calls(fake_upstream, "hangup")
    api = client(proxy, max_retries=0)
    with pytest.raises(openai.InternalServerError) as first:
        api.chat.completions.create(model="m-dead", messages=MESSAGES)
    assert first.value.status_code == 502 and first.value.code == "upstream_unreachable"
    for _ in range(4):
        with pytest.raises(openai.InternalServerError) as later:
            api.chat.completions.create(model="m-dead", messages=MESSAGES)
        assert later.value.status_code == 503 and later.value.code == "upstream_cooling_down"
        assert 3500 < int(later.value.response.headers["Retry-After"]) <= 3600
    assert calls(fake_upstream, "hangup") == before + 1


@pytest.mark.parametrize(("model", "mode"), [("m-cut", "cutstream"), ("m-nodone", "nodone")])
def test_a_stream_cut_midway_raises_in_the_client(
    proxy: str, fake_upstream: FakeUpstream, model: str, mode: str
) -> None:
    before = calls(fake_upstream, mode)
    received: list[str] = []
    with pytest.raises(openai.APIError) as raised:
        for chunk in client(proxy, max_retries=0).chat.completions.create(model=model, messages=MESSAGES, stream=True):
            received.append(chunk.choices[0].delta.content or "")
    assert received == [STREAM_WORDS[0]]
    assert "broke off" in raised.value.message and raised.value.code == "upstream_stream_broken"
    assert calls(fake_upstream, mode) == before + 1


def test_a_broken_stream_ends_with_an_error_event_and_an_incomplete_body(proxy: str) -> None:
    """Below the client: the last event is an OpenAI-style error and the chunked body has no end, so any HTTP
    client sees a failed transfer, not a complete answer."""
    events: list[str] = []
    body = {"model": "m-cut-raw", "messages": MESSAGES, "stream": True}
    response = requests.post(proxy + "/v1/chat/completions", json=body, stream=True, timeout=30)
    assert response.status_code == 200
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        events.extend(line[6:] for line in response.iter_lines(decode_unicode=True) if line.startswith("data: "))
    assert json.loads(events[0])["choices"][0]["delta"]["content"] == STREAM_WORDS[0]
    error = json.loads(events[-1])["error"]
    assert error["code"] == "upstream_stream_broken" and error["type"] == "upstream_error"
    assert "[DONE]" not in events


def test_a_complete_stream_still_passes_through(proxy: str) -> None:
    stream = client(proxy).chat.completions.create(model="m-ok", messages=MESSAGES, stream=True)
    assert "".join(chunk.choices[0].delta.content or "" for chunk in stream) == "".join(STREAM_WORDS)


def test_a_4xx_body_not_in_openai_shape_is_wrapped_in_it() -> None:
    """A gateway's HTML 403 keeps its status and becomes an OpenAI error quoting it, so clients can parse it."""
    from serve_app.proxy_errors import rejection_response
    from serve_app.upstream import Rejection

    rejection = Rejection("m-x", 403, b"<html>Forbidden</html>", "text/html", {"Retry-After": "3"})
    response = rejection_response(rejection, {"X-FineRouter-Model": "m-x"}, "req-1")
    assert response.status_code == 403 and response.headers["Retry-After"] == "3"
    body = json.loads(response.body)
    assert body["request_id"] == "req-1" and body["error"]["upstream_status"] == 403
    assert body["error"]["message"] == "the upstream of m-x answered 403: <html>Forbidden</html>"
    assert body["error"]["type"] == "invalid_request_error" and body["error"]["code"] is None
