"""The Serve app over real HTTP on 127.0.0.1: routing, the chat proxy (with a local fake upstream), every error path."""

from __future__ import annotations

import json
import math
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import openai
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings

from serve_app.config import ServeAppArgs
from tests.serve_app.fake_upstream import STREAM_WORDS, FakeUpstream
from tests.serve_app.harness import proxy_app_args, serve_on_loopback

API_KEY = "fr-test-key-1"


@dataclass
class Served:
    base: str
    http: requests.Session
    pool: list[str]
    cost: dict[str, float]
    cheapest: str  # upstream /ok
    failing: str  # upstream 500, falls back to `cheapest`
    throttled: str  # upstream 429, no fallback
    rejecting: str  # upstream 400 (context_length_exceeded)
    cutting: str  # upstream that drops its streams after the first chunk
    args: ServeAppArgs

    def post(self, path: str, body: dict, **kwargs) -> requests.Response:
        return self.http.post(self.base + path, json=body, timeout=30, **kwargs)


@pytest.fixture(scope="module")
def served(router_bundle, fake_upstream: FakeUpstream, tmp_path_factory) -> Iterator[Served]:
    bundle, router_class, router = router_bundle
    by_cost = sorted(router.models, key=lambda m: router.model_cost[m])
    cheapest, failing, throttled, rejecting, cutting = by_cost[:5]
    keys = tmp_path_factory.mktemp("auth") / "keys.txt"
    keys.write_text(f"# test keys\n{API_KEY}\nfr-test-key-2\n")
    modes = {
        cheapest: "ok",
        failing: "fail500",
        throttled: "ratelimit429",
        rejecting: "context400",
        cutting: "cutstream",
    }
    args = proxy_app_args(
        bundle, router_class, modes, fake_upstream.base_url, {failing: cheapest}, keys,
        limits={"max_body_bytes": 20_000, "max_prompt_chars": 2_000},
    )  # fmt: skip
    with serve_on_loopback(args, api_key=API_KEY) as base:
        http = requests.Session()
        http.headers["Authorization"] = f"Bearer {API_KEY}"
        pool, cost = list(router.models), dict(router.model_cost)
        yield Served(base, http, pool, cost, cheapest, failing, throttled, rejecting, cutting, args)


def error_of(response: requests.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"]["message"]
    return body["error"]


# --- listings -----------------------------------------------------------------------------------------------------


def test_health_models_and_openapi(served: Served) -> None:
    health = requests.get(served.base + "/healthz", timeout=10).json()  # no key needed
    assert health["status"] == "ok" and health["models"] == len(served.pool)
    listing = served.http.get(served.base + "/v1/models", timeout=10).json()
    ids = [card["id"] for card in listing["data"]]
    assert ids == ["finerouter", *served.pool]
    upstreamed = {c["id"] for c in listing["data"] if c["has_upstream"] and c["id"] != "finerouter"}
    assert upstreamed == {served.cheapest, served.failing, served.throttled, served.rejecting, served.cutting}
    assert listing["bundle_version"] == health["bundle_version"]
    spec = requests.get(served.base + "/openapi.json", timeout=10).json()
    assert {"/v1/route", "/v1/chat/completions", "/v1/models", "/healthz"} <= set(spec["paths"])


# --- routing ------------------------------------------------------------------------------------------------------


def test_route_prompt(served: Served) -> None:
    response = served.post("/v1/route", {"prompt": "What is 17 * 23? Show the steps."})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] in served.pool
    assert set(body["scores"]) == set(served.pool)
    assert body["estimated_cost"] == pytest.approx(served.cost[body["model"]])
    assert body["routed_from"] == "prompt" and body["request_id"]
    assert math.isfinite(body["task"]["confidence"])
    assert (body["task"]["id"] is None) == (body["task"]["summary"] is None)
    assert response.headers["X-Request-Id"]


def test_route_messages_uses_last_user_turn(served: Served) -> None:
    question = "Write a python function that reverses a linked list."
    messages = [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "What is the capital of France?"},
        {"role": "assistant", "content": "Paris."},
        {"role": "user", "content": [{"type": "text", "text": question}]},
    ]
    by_messages = served.post("/v1/route", {"messages": messages}).json()
    by_prompt = served.post("/v1/route", {"prompt": question}).json()
    assert by_messages["routed_from"] == "messages[3]"
    assert by_messages["model"] == by_prompt["model"]
    assert by_messages["task"] == by_prompt["task"]


def test_route_constraints(served: Served) -> None:
    prompt = "Prove that the square root of 2 is irrational."
    subset = [served.pool[-1], served.pool[0]]
    assert served.post("/v1/route", {"prompt": prompt, "models": subset}).json()["model"] in subset
    bound = sorted(served.cost.values())[1]
    capped = served.post("/v1/route", {"prompt": prompt, "max_cost": bound}).json()
    assert served.cost[capped["model"]] <= bound
    assert set(capped["scores"]) == {m for m in served.pool if served.cost[m] <= bound}
    # a tolerance wider than any score gap takes the cheapest allowed model
    loose = served.post("/v1/route", {"prompt": prompt, "tolerance": 1e9}).json()
    assert loose["model"] == served.cheapest
    # willingness (lambda) instead: paying nothing for quality takes the cheapest, 0 the best score
    thrifty = served.post("/v1/route", {"prompt": prompt, "willingness": 1e9}).json()
    assert thrifty["model"] == served.cheapest
    best = served.post("/v1/route", {"prompt": prompt, "willingness": 0.0}).json()
    assert best["scores"][best["model"]] == max(best["scores"].values())


def test_concurrent_requests_each_get_their_own_decision(served: Served, router_bundle) -> None:
    """48 requests from 16 threads (coalesced by the ingress into list calls): every answer is the in-process
    Router's decision for that request's own prompt and options, and a bad request fails alone."""
    from concurrent.futures import ThreadPoolExecutor

    _, _, router = router_bundle
    subset = [served.pool[-1], served.pool[0]]
    options = [{}, {"tolerance": 0.05}, {"models": subset}, {"max_cost": sorted(served.cost.values())[2]}]
    bodies = [{"prompt": f"Question {i}: what is {i} * {i + 7}? " + "Explain briefly. " * (i % 5), **options[i % 4]}
              for i in range(48)]  # fmt: skip
    bodies[17] = {"prompt": "route me", "models": ["no-such-model"]}
    with ThreadPoolExecutor(16) as pool:
        responses = list(pool.map(lambda body: served.post("/v1/route", body), bodies))
    assert "no-such-model" in error_of(responses[17], 400)["message"]
    for i, (body, response) in enumerate(zip(bodies, responses, strict=True)):
        if i == 17:
            continue
        assert response.status_code == 200, response.text
        expected = router.route([body["prompt"]], tolerance=body.get("tolerance"), max_cost=body.get("max_cost"),
                                models=body.get("models"))[0]  # fmt: skip
        got = response.json()
        assert (got["model"], got["task"]["id"]) == (expected.model, expected.task_id), body
        assert got["scores"] == pytest.approx(expected.scores, abs=1e-4)


def test_route_many_takes_lists_longer_than_a_batch(served: Served, router_bundle) -> None:
    """The Router deployment's list call (what the ingress sends) through a Serve handle: a list over
    max_batch_size (32) is routed in pieces, in order, one outcome per query."""
    from ray import serve

    from serve_app.app import APP_NAME
    from serve_app.router_deployment import RouteQuery

    _, _, router = router_bundle
    prompts = [f"Compute {i} squared and explain the steps." for i in range(70)]
    handle = serve.get_deployment_handle("Router", app_name=APP_NAME)
    outcomes = handle.route_many.remote([RouteQuery(p) for p in prompts]).result(timeout_s=120)
    assert len(outcomes) == 70 and all(o.error is None for o in outcomes)
    expected = router.route(prompts)
    assert [o.decision.model for o in outcomes] == [d.model for d in expected]


# --- client errors: 4xx with a message, never a 5xx -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        ({"prompt": "hi", "models": ["no-such-model"]}, 400, "no-such-model"),
        ({"prompt": "   "}, 400, "empty"),
        ({"prompt": "hi", "max_cost": 0.0}, 400, "cost"),
        ({"messages": [{"role": "system", "content": "x"}]}, 400, "user"),
        ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]}, 400, "no text"),
        ({"prompt": "hi", "messages": [{"role": "user", "content": "hi"}]}, 422, "exactly one"),
        ({}, 422, "exactly one"),
        ({"prompt": "hi", "tolerance": -1}, 422, "tolerance"),
        ({"prompt": "hi", "willingness": -1}, 422, "willingness"),
        ({"prompt": "hi", "willingness": 0.5, "tolerance": 0.1}, 400, "give tolerance or willingness, not both"),
        ({"prompt": "hi", "models": []}, 422, "models"),
        ({"prompt": "hi", "temperature": 1}, 422, "temperature"),
        ({"prompt": "x" * 2_001}, 413, "max_prompt_chars"),
    ],
)
def test_route_client_errors(served: Served, body: dict, status: int, needle: str) -> None:
    error = error_of(served.post("/v1/route", body), status)
    assert needle in error["message"]


def test_unknown_models_named_with_the_pool(served: Served) -> None:
    error = error_of(served.post("/v1/route", {"prompt": "hi", "models": ["gpt-99"]}), 400)
    assert served.pool[0] in error["message"]


def test_malformed_and_oversized_bodies(served: Served) -> None:
    url = served.base + "/v1/route"
    error = error_of(served.http.post(url, data=b"{not json", headers={"Content-Type": "application/json"}), 422)
    assert "json" in error["message"].lower()
    big = json.dumps({"prompt": "y" * 30_000}).encode()
    assert "max_body_bytes" in error_of(served.http.post(url, data=big), 413)["message"]
    chunked = served.http.post(url, data=iter([big[:15_000], big[15_000:]]))  # no Content-Length
    error_of(chunked, 413)


def test_api_keys(served: Served) -> None:
    url = served.base + "/v1/route"
    missing = requests.post(url, json={"prompt": "hi"}, timeout=10)
    assert "Bearer" in error_of(missing, 401)["message"]
    assert missing.headers["WWW-Authenticate"] == "Bearer"
    wrong = requests.post(url, json={"prompt": "hi"}, headers={"Authorization": "Bearer nope"}, timeout=10)
    error_of(wrong, 401)
    second = requests.post(url, json={"prompt": "hi"}, headers={"Authorization": "Bearer fr-test-key-2"}, timeout=10)
    assert second.status_code == 200
    error_of(requests.get(served.base + "/v1/models", timeout=10), 401)


# --- chat proxy ---------------------------------------------------------------------------------------------------


def chat(served: Served, model: str, stream: bool = False, **extra) -> requests.Response:
    body = {"model": model, "messages": [{"role": "user", "content": "What is 2 + 2?"}], "stream": stream, **extra}
    return served.post("/v1/chat/completions", body, stream=stream)


def test_chat_routes_and_forwards(served: Served, fake_upstream: FakeUpstream) -> None:
    response = chat(served, "finerouter:tolerance=1e9", temperature=0.3)
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == "".join(STREAM_WORDS)
    assert response.headers["X-FineRouter-Model"] == served.cheapest
    assert response.headers["X-FineRouter-Routed-Model"] == served.cheapest
    assert response.headers["X-FineRouter-Bundle"] and "X-FineRouter-Task" in response.headers
    sent = fake_upstream.received("ok")[-1]
    assert sent["body"]["model"] == served.cheapest and sent["body"]["temperature"] == 0.3
    assert sent["body"]["messages"] == [{"role": "user", "content": "What is 2 + 2?"}]
    assert sent["headers"]["Authorization"] == "Bearer sk-upstream-test"


def test_chat_default_routing_stays_within_upstreams(served: Served) -> None:
    response = chat(served, "finerouter")
    routed = response.headers["X-FineRouter-Routed-Model"]
    expected = {served.cheapest: 200, served.failing: 200, served.throttled: 429, served.rejecting: 400}
    assert response.status_code == (expected | {served.cutting: 200})[routed]  # cutting breaks streams only


def test_chat_streaming_passes_through(served: Served) -> None:
    response = chat(served, "finerouter:tolerance=1e9", stream=True)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/event-stream")
    events = [line[6:] for line in response.iter_lines(decode_unicode=True) if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    assert "".join(json.loads(e)["choices"][0]["delta"]["content"] for e in events[:-1]) == "".join(STREAM_WORDS)
    assert response.headers["X-FineRouter-Model"] == served.cheapest


def test_chat_falls_back_on_upstream_failure(served: Served) -> None:
    response = chat(served, served.failing, stream=True)  # a pool name: no routing, straight to its upstream
    assert response.status_code == 200
    assert response.headers["X-FineRouter-Model"] == served.cheapest
    assert response.headers["X-FineRouter-Fallback-From"] == served.failing
    assert "".join(response.iter_lines(decode_unicode=True)).endswith("data: [DONE]")


@pytest.mark.parametrize(
    ("which", "error_class", "code"),
    [("throttled", openai.RateLimitError, "rate_limit_exceeded"), ("rejecting", openai.BadRequestError,
                                                                    "context_length_exceeded")],
)  # fmt: skip
def test_chat_upstream_4xx_reach_the_openai_client_with_their_code(
    served: Served, fake_upstream: FakeUpstream, which: str, error_class: type, code: str
) -> None:
    """Through Serve: the upstream's 429 / 400 reach the official client as themselves, called once. max_retries=0:
    the client would retry a 429 itself; FineRouter must not."""
    model, mode = getattr(served, which), {"throttled": "ratelimit429", "rejecting": "context400"}[which]
    before = len(fake_upstream.received(mode))
    client = openai.OpenAI(base_url=served.base + "/v1", api_key=API_KEY, max_retries=0)
    with pytest.raises(error_class) as raised:
        client.chat.completions.create(model=model, messages=[{"role": "user", "content": "What is 2 + 2?"}])
    assert raised.value.code == code
    assert raised.value.response.headers["X-FineRouter-Upstream-Status"] == str(raised.value.status_code)
    assert len(fake_upstream.received(mode)) == before + 1


def test_chat_stream_cut_midway_raises_in_the_openai_client(served: Served) -> None:
    """Through Serve's HTTP proxy: the error event reaches the client, which raises, and the body is incomplete."""
    client = openai.OpenAI(base_url=served.base + "/v1", api_key=API_KEY, max_retries=0)
    stream = client.chat.completions.create(
        model=served.cutting, messages=[{"role": "user", "content": "What is 2 + 2?"}], stream=True
    )
    with pytest.raises(openai.APIError, match="broke off"):
        for _ in stream:
            pass


@pytest.mark.parametrize(
    ("model", "status", "needle"),
    [
        ("gpt-99", 400, "finerouter"),
        ("finerouter:tolerance=abc", 400, "number"),
        ("finerouter:speed=1", 400, "options"),
        ("finerouter:tolerance=-1", 400, ">= 0"),
        ("finerouter:willingness=-1", 400, ">= 0"),
        ("finerouter:tolerance=0.1,willingness=1", 400, "not both"),
    ],
)
def test_chat_bad_model_field(served: Served, model: str, status: int, needle: str) -> None:
    assert needle in error_of(chat(served, model), status)["message"]


def test_chat_pool_model_without_upstream_is_400(served: Served) -> None:
    upstreamed = {served.cheapest, served.failing, served.throttled, served.rejecting, served.cutting}
    without = [m for m in served.pool if m not in upstreamed]
    if without:
        assert served.cheapest in error_of(chat(served, without[0]), 400)["message"]


def test_chat_schema_errors(served: Served) -> None:
    error_of(served.post("/v1/chat/completions", {"model": "finerouter", "messages": []}), 422)
    error_of(served.post("/v1/chat/completions", {"messages": [{"role": "user", "content": "x"}]}), 422)
    bad_role = {"model": "finerouter", "messages": [{"role": "robot", "content": "x"}]}
    error_of(served.post("/v1/chat/completions", bad_role), 422)


# --- fuzzing the served OpenAPI spec ------------------------------------------------------------------------------


def test_fuzz_openapi_no_5xx(served: Served) -> None:
    """Schemathesis cases for every operation of the served spec: no 5xx, whatever the body, query or headers. A 502
    or 503 that carries an upstream status is a configured fake upstream failing on purpose (or cooling down after
    it did), reported as the spec says, not a server fault. (Driven through Hypothesis directly: schemathesis'
    pytest plugin does not load under this pytest.)"""
    schema = schemathesis.openapi.from_url(served.base + "/openapi.json")
    auth = {"Authorization": f"Bearer {API_KEY}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 5
    seen: list[tuple[str, int]] = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
        def no_server_error(case) -> None:
            response = case.call(base_url=served.base, headers=auth, timeout=30)
            seen.append((case.path, response.status_code))
            headers = {name.lower() for name in response.headers}
            upstream_failed = response.status_code in (502, 503) and "x-finerouter-upstream-status" in headers
            assert response.status_code < 500 or upstream_failed, f"{case.method} {case.path}: {response.text[:300]}"

        no_server_error()
    paths = {"/v1/route", "/v1/chat/completions", "/v1/models", "/healthz"}
    assert {path for path, _ in seen if not path.startswith("/v1/models/")} == paths
    assert any(path.startswith("/v1/models/") for path, _ in seen)
    print(sorted(Counter(seen).items()))


# --- deploy-time validation --------------------------------------------------------------------------------------


def test_a_missing_key_variable_fails_the_deploy_with_its_name(served: Served) -> None:
    """A second app whose upstream key variable is unset on the cluster: `deploy_config` (what `finerouter serve`
    and bundle swaps use) raises with the variable's name instead of timing out, and the running app is untouched.
    (Before the bundle swaps below: it redeploys the fixture's config as it was.)"""
    from finerouter.errors import ConfigError
    from serve_app.app import deploy_config, serve_config

    unset = "FINEROUTER_TEST_UNSET_UPSTREAM_KEY"
    running = serve_config(served.args)["applications"][0]
    broken_args = served.args.model_dump(mode="json")
    broken_args["upstreams"][served.cheapest]["api_key_env"] = unset
    broken = {**running, "name": "broken", "route_prefix": "/broken", "args": broken_args}
    try:
        with pytest.raises(ConfigError, match=f"(?s)could not deploy broken: .*variable {unset} is not set"):
            deploy_config({"applications": [running, broken]})
        assert requests.get(served.base + "/healthz", timeout=10).status_code == 200
    finally:
        deploy_config({"applications": [running]})  # removes the broken app
    assert chat(served, served.cheapest).status_code == 200


# --- zero-downtime bundle update (last: it changes the served bundle) ------------------------------------------------


def test_bundle_update_drops_no_request(served: Served, tmp_path: Path) -> None:
    """Deploy the app's config with a new bundle revision in the Router's user_config while clients keep routing:
    every request succeeds, and the version flips from the old bundle to the new one (swapped in place)."""
    from finerouter.routing.bundle import read_bundle, save_bundle
    from serve_app.app import deploy_config, serve_config

    parts = read_bundle(served.args.bundle)
    old_version = parts.meta.version
    parts.meta = parts.meta.with_updates(revision=parts.meta.revision + 1, parent_version=old_version)
    new_bundle = save_bundle(parts, tmp_path / "bundle-r2")
    new_version = json.loads((new_bundle / "bundle.json").read_text())["version"]
    assert new_version != old_version

    results: list[tuple[int, str | None]] = []
    stop = threading.Event()

    def client() -> None:
        for i in range(2_000):  # bounded; stopped once the new version has been seen for a while
            if stop.is_set():
                return
            response = served.post("/v1/route", {"prompt": f"Compute {i} + {i} and explain."})
            version = response.json().get("bundle_version") if response.status_code == 200 else None
            results.append((response.status_code, version))

    threads = [threading.Thread(target=client) for _ in range(4)]
    for thread in threads:
        thread.start()
    deploy_config(serve_config(served.args, new_bundle=new_bundle))  # what `serve deploy` does with the new config
    for _ in range(100):
        if sum(v == new_version for _, v in results[-20:]) == 20:
            break
        threading.Event().wait(0.2)
    stop.set()
    for thread in threads:
        thread.join(timeout=60)
    assert results and all(status == 200 for status, _ in results), [r for r in results if r[0] != 200][:5]
    versions = [v for _, v in results]
    assert versions[0] == old_version and versions[-1] == new_version
    assert set(versions) == {old_version, new_version}
    health = requests.get(served.base + "/healthz", timeout=10).json()
    assert health["bundle_version"] == new_version


def test_publish_stage_swaps_the_served_bundle(served: Served, tmp_path: Path) -> None:
    """The rebuild's last stage publishes a new bundle revision to a versioned root and points the running app at
    it: /healthz reports the new version, and LATEST names the published copy."""
    import logging

    from finerouter.config import load_config
    from finerouter.pipeline.publish import latest
    from finerouter.pipeline.stage import MARKER_FILE, StageContext
    from finerouter.routing.bundle import read_bundle, save_bundle
    from finerouter.stages.publish import PublishStage
    from jobs.rebuild import swap_serve_bundle

    parts = read_bundle(served.args.bundle)
    parts.meta = parts.meta.with_updates(revision=parts.meta.revision + 10, parent_version=parts.meta.version)
    run_dir = tmp_path / "run"
    bundle = save_bundle(parts, run_dir / "bundle")
    (bundle / MARKER_FILE).write_text(json.dumps({"output_fingerprint": "f" * 64}))
    new_version = json.loads((bundle / "bundle.json").read_text())["version"]
    root = tmp_path / "published"
    config = load_config(
        None, ["data.format=synthetic", "run=pub", f"publish.root={root}", "publish.serve_app=finerouter"]
    )
    out = tmp_path / "out"
    out.mkdir()
    stage = PublishStage(config, swap_bundle=swap_serve_bundle)
    stats = stage.run(StageContext(config, run_dir, out, logging.getLogger("test")))
    assert stats["bundle_version"] == new_version and latest(root) == Path(stats["published"])
    for _ in range(100):
        if requests.get(served.base + "/healthz", timeout=10).json()["bundle_version"] == new_version:
            break
        threading.Event().wait(0.2)
    assert requests.get(served.base + "/healthz", timeout=10).json()["bundle_version"] == new_version
    assert served.post("/v1/route", {"prompt": "What is 2 + 2?"}).json()["bundle_version"] == new_version


def test_publish_needs_a_running_app(served: Served, tmp_path: Path) -> None:
    from finerouter.errors import ConfigError
    from serve_app.app import update_bundle

    with pytest.raises(ConfigError, match="no Serve application 'nope' is running; running: \\['finerouter'\\]"):
        update_bundle("nope", tmp_path)


def test_publish_preflight_checks_the_app_when_the_rebuild_starts(served: Served, tmp_path: Path) -> None:
    """A rebuild that ends by swapping its bundle into a Serve app checks that app before its first stage, not after
    hours of work; before the swap itself it checks that the app is RUNNING."""
    from finerouter.config import load_config
    from finerouter.errors import ConfigError
    from finerouter.pipeline.publish import check_serve_app
    from finerouter.pipeline.rebuild_preflight import preflight_rebuild
    from finerouter.stages.publish import PublishStage
    from jobs.rebuild import swap_serve_bundle

    overrides = ["data.format=synthetic", f"artifacts_dir={tmp_path}", f"publish.root={tmp_path / 'published'}"]
    config = load_config(None, [*overrides, "publish.serve_app=nope"])
    with pytest.raises(
        ConfigError, match=r"publish.serve_app 'nope' is not running on this Ray cluster; running: \['finerouter'\]"
    ):
        preflight_rebuild(config, [PublishStage(config, swap_bundle=swap_serve_bundle)])
    assert check_serve_app("finerouter", wait_running_s=5)["status"] == "RUNNING"
