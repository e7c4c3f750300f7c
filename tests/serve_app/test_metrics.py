"""What an operator sees of a running app: `GET /metrics` on the serving port (Prometheus text format) after real
requests, and OpenAI's retrieve-model `GET /v1/models/{id}` with `created`."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from finerouter.routing.decision import RouteDecision
from serve_app.metrics import IngressMetrics
from tests.serve_app.fake_upstream import FakeUpstream
from tests.serve_app.harness import proxy_app_args, serve_on_loopback

API_KEY = "fr-metrics-key"
PROMPTS = [
    "Write a python function that reverses a linked list.",
    "What is the capital of Australia?",
    "Solve for x: 3x + 7 = 22.",
    "Summarise the plot of Hamlet in two sentences.",
    "Translate 'good morning' into French.",
]
Samples = dict[tuple[str, frozenset], float]


def scrape(text: str) -> Samples:
    """Every sample of a Prometheus text exposition, keyed by (sample name, labels)."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def delta(before: Samples, after: Samples, name: str, **labels: str) -> float:
    key = (name, frozenset(labels.items()))
    return after.get(key, 0.0) - before.get(key, 0.0)


def test_exposition_outside_serve() -> None:
    metrics = IngressMetrics()
    decision = RouteDecision("m-a", None, None, 0.2, {"m-a": 1.0}, 0.5, "USD", "v1")
    metrics.record_decision(decision, 0.004)
    metrics.record_upstream("m-a", 429, 0.1)
    body, content_type = metrics.exposition()
    samples = scrape(body.decode())
    assert content_type.startswith("text/plain; version=0.0.4")
    assert samples[("finerouter_routes_by_model_total", frozenset({("model", "m-a")}))] == 1
    assert samples[("finerouter_routes_by_task_total", frozenset({("task", "none")}))] == 1
    assert samples[("finerouter_routes_no_task_total", frozenset())] == 1
    assert samples[("finerouter_estimated_cost_total", frozenset({("model", "m-a")}))] == 0.5
    assert samples[("finerouter_decision_latency_s_count", frozenset())] == 1
    upstream = frozenset({("model", "m-a"), ("outcome", "429")})
    assert samples[("finerouter_upstream_latency_s_count", upstream)] == 1


@dataclass
class Served:
    base: str
    http: requests.Session
    router: object
    ok: str
    failing: str  # upstream 500, falls back to `ok`
    throttled: str  # upstream 429
    bundle: Path


@pytest.fixture(scope="module")
def served(router_bundle, fake_upstream: FakeUpstream, tmp_path_factory) -> Iterator[Served]:
    bundle, router_class, router = router_bundle
    ok, failing, throttled = sorted(router.models, key=lambda m: router.model_cost[m])[:3]
    keys = tmp_path_factory.mktemp("auth") / "keys.txt"
    keys.write_text(API_KEY + "\n")
    modes = {ok: "ok", failing: "fail500", throttled: "fail429"}
    args = proxy_app_args(bundle, router_class, modes, fake_upstream.base_url, {failing: ok}, keys)
    with serve_on_loopback(args, api_key=API_KEY) as base:
        http = requests.Session()
        http.headers["Authorization"] = f"Bearer {API_KEY}"
        yield Served(base, http, router, ok, failing, throttled, Path(bundle))


def get_metrics(served: Served) -> Samples:
    response = requests.get(served.base + "/metrics", timeout=10)  # no key: scrapers usually send none
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return scrape(response.text)


def chat(served: Served, model: str) -> requests.Response:
    body = {"model": model, "messages": [{"role": "user", "content": "What is 2 + 2?"}]}
    return served.http.post(served.base + "/v1/chat/completions", json=body, timeout=30)


def test_metrics_show_routing_after_requests(served: Served) -> None:
    before = get_metrics(served)
    for prompt in PROMPTS:
        answer = served.http.post(served.base + "/v1/route", json={"prompt": prompt}, timeout=30)
        assert answer.status_code == 200, answer.text
    assert chat(served, served.ok).status_code == 200
    assert chat(served, served.failing).headers["X-FineRouter-Model"] == served.ok  # answered by the fallback
    assert chat(served, served.throttled).status_code >= 400
    after = get_metrics(served)

    expected = served.router.route(PROMPTS)  # type: ignore[attr-defined]
    for model, count in Counter(d.model for d in expected).items():
        assert delta(before, after, "finerouter_routes_by_model_total", model=model) == count
        cost = sum(d.estimated_cost for d in expected if d.model == model)
        assert delta(before, after, "finerouter_estimated_cost_total", model=model) == pytest.approx(cost)
    for task, count in Counter("none" if d.task_id is None else str(d.task_id) for d in expected).items():
        assert delta(before, after, "finerouter_routes_by_task_total", task=task) == count
    no_task = sum(d.task_id is None for d in expected)
    assert delta(before, after, "finerouter_routes_no_task_total") == no_task
    assert delta(before, after, "finerouter_requests_total", endpoint="route", status="200") == len(PROMPTS)
    assert delta(before, after, "finerouter_request_latency_s_count", endpoint="route") == len(PROMPTS)
    assert delta(before, after, "finerouter_request_latency_s_count", endpoint="chat") == 3
    assert delta(before, after, "finerouter_decision_latency_s_count") == len(PROMPTS)
    assert delta(before, after, "finerouter_upstream_latency_s_count", model=served.ok, outcome="ok") == 2
    assert delta(before, after, "finerouter_upstream_latency_s_count", model=served.throttled, outcome="429") == 1
    assert delta(before, after, "finerouter_upstream_errors_total", model=served.failing, status="500") == 1
    assert delta(before, after, "finerouter_upstream_errors_total", model=served.throttled, status="429") == 1
    assert delta(before, after, "finerouter_upstream_fallbacks_total", model=served.failing, fallback=served.ok) == 1


def test_metrics_are_not_in_the_api_spec(served: Served) -> None:
    spec = requests.get(served.base + "/openapi.json", timeout=10).json()
    assert "/metrics" not in spec["paths"] and "/v1/models/{model_id}" in spec["paths"]


def test_retrieve_model_has_created(served: Served) -> None:
    listing = served.http.get(served.base + "/v1/models", timeout=10).json()
    created = datetime.fromisoformat(json.loads((served.bundle / "bundle.json").read_text())["created"])
    assert {card["created"] for card in listing["data"]} == {int(created.timestamp())}
    for card in listing["data"]:
        one = served.http.get(f"{served.base}/v1/models/{card['id']}", timeout=10)
        assert one.status_code == 200, one.text
        assert one.json() == card


@pytest.mark.parametrize("model_id", ["gpt-99", "meta-llama/Llama-3-8B"])
def test_retrieve_unknown_model_is_404(served: Served, model_id: str) -> None:
    response = served.http.get(f"{served.base}/v1/models/{model_id}", timeout=10)
    assert response.status_code == 404, response.text
    error = response.json()["error"]
    assert model_id in error["message"] and "finerouter" in error["message"] and error["param"] == "model"
    assert error["code"] == "model_not_found" and error["type"] == "invalid_request_error"
    assert requests.get(f"{served.base}/v1/models/{served.ok}", timeout=10).status_code == 401  # key still needed
