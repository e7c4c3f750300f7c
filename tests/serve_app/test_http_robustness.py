"""The Serve app over real HTTP: one bad query never fails its batch, and the HTTP details (read timeout, 401 before
the body, 405 `Allow`, text the router cannot take, the OpenAPI input rule, /healthz while the router loads)."""

from __future__ import annotations

import http.client
import json
import shutil
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from serve_app.config import ServeAppArgs
from tests.serve_app.faulty_router import FAULT, hold_file
from tests.serve_app.harness import serve_on_loopback, wait_healthy

API_KEY = "fr-robust-key"


@dataclass
class Served:
    base: str
    http: requests.Session
    args: ServeAppArgs

    def post(self, path: str, body: dict) -> requests.Response:
        return self.http.post(self.base + path, json=body, timeout=60)


def app_args(bundle: Path, keys: Path) -> ServeAppArgs:
    return ServeAppArgs.model_validate({
        "bundle": str(bundle), "router_class": "tests.serve_app.faulty_router:FaultyRouter",
        "router": {"autoscaling": {"min_replicas": 1, "max_replicas": 1}, "num_cpus": 0.5},
        "auth": {"api_keys_file": str(keys)}, "limits": {"max_body_bytes": 20_000},
    })  # fmt: skip


@pytest.fixture(scope="module")
def served(router_bundle, tmp_path_factory) -> Iterator[Served]:
    bundle, _, _ = router_bundle
    keys = tmp_path_factory.mktemp("auth") / "keys.txt"
    keys.write_text(f"{API_KEY}\n")
    args = app_args(bundle, keys)
    with serve_on_loopback(args, api_key=API_KEY) as base:
        http = requests.Session()
        http.headers["Authorization"] = f"Bearer {API_KEY}"
        yield Served(base, http, args)


def error_of(response: requests.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    return response.json()["error"]


def concurrently(served: Served, bodies: list[dict]) -> list[requests.Response]:
    with ThreadPoolExecutor(16) as pool:
        return list(pool.map(lambda body: served.post("/v1/route", body), bodies))


# --- one bad query never fails its batch ------------------------------------------------------------------------


def test_one_poisoned_request_among_40_good_ones_fails_alone(served: Served) -> None:
    """A lone surrogate ("\\ud800" in the JSON) made the tokenizer raise TypeError and failed every request batched
    with it; it is now a 400 naming the field, and its 40 neighbours get their answers."""
    bodies = [{"prompt": f"Question {i}: what is {i} * {i + 3}? Explain briefly."} for i in range(41)]
    bodies[20] = {"prompt": "Translate \ud800 into French."}
    responses = concurrently(served, bodies)
    assert Counter(r.status_code for r in responses) == {200: 40, 400: 1}, [r.text for r in responses][:3]
    error = error_of(responses[20], 400)
    assert error["param"] == "prompt" and "UTF-8" in error["message"] and error["code"] == "invalid_text"


def test_an_internal_fault_of_one_query_is_its_own_500(served: Served) -> None:
    """A query the router itself fails on (any exception) gets a 500; the queries batched with it are answered."""
    bodies = [{"prompt": f"Name {i} prime numbers above 100."} for i in range(24)]
    bodies[7] = {"prompt": f"{FAULT} What is 2 + 2?"}
    responses = concurrently(served, bodies)
    assert Counter(r.status_code for r in responses) == {200: 23, 500: 1}, [r.text for r in responses][:3]
    error = error_of(responses[7], 500)
    assert error["type"] == "server_error" and "RoutingFailure" in error["message"]


# --- HTTP details -----------------------------------------------------------------------------------------------


def test_a_body_shorter_than_its_content_length_gets_a_408(served: Served) -> None:
    """The body read stops at limits.body_read_timeout_s (10 s) instead of holding the connection open. The socket
    timeout is generous: the assertion is only that an answer came before it."""
    host, port = served.base.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=60)  # the socket; headers written by hand
    try:
        connection.putrequest("POST", "/v1/route")
        for name, value in [("Authorization", f"Bearer {API_KEY}"), ("Content-Type", "application/json"),
                            ("Content-Length", "100")]:  # fmt: skip
            connection.putheader(name, value)
        connection.endheaders(b'{"prompt": "hel')  # 15 of the 100 bytes declared, then nothing
        response = connection.getresponse()
        status, body = response.status, json.loads(response.read())
    finally:
        connection.close()
    assert status == 408, body
    message = body["error"]["message"]
    assert "limits.body_read_timeout_s" in message and "15 bytes of the 100 declared" in message


def test_a_missing_or_wrong_key_is_a_401_before_the_body_is_looked_at(served: Served) -> None:
    url = served.base + "/v1/route"
    malformed = requests.post(url, data=b"{not json", headers={"Content-Type": "application/json"}, timeout=30)
    assert error_of(malformed, 401)["type"] == "authentication_error"
    assert malformed.headers["WWW-Authenticate"] == "Bearer"
    big = json.dumps({"prompt": "y" * 30_000}).encode()
    error_of(requests.post(url, data=big, headers={"Authorization": "Bearer nope"}, timeout=30), 401)
    error_of(requests.post(url, json={"temperature": 1}, timeout=30), 401)
    assert served.http.post(url, data=b"{not json", timeout=30).status_code == 422  # with the key: the schema


def test_405_carries_allow(served: Served) -> None:
    response = served.http.get(served.base + "/v1/route", timeout=30)
    assert response.status_code == 405 and response.headers["Allow"] == "POST"
    assert response.json()["error"]["message"]


def user_parts(*parts: dict) -> dict:
    return {"messages": [{"role": "user", "content": list(parts)}]}


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (user_parts({"type": "text", "text": {"a": 1}}), "messages.0.content.0.text"),
        (user_parts({"type": "image_url"}, {"type": "text", "text": 42}), "messages.0.content.1.text"),
        (
            {"messages": [{"role": "user", "content": "ok"}, {"role": "user", "content": "\udc80"}]},
            "messages.1.content",
        ),
        ({"prompt": "fine", "models": ["\ud800"]}, "models.0"),
    ],
)
def test_text_the_router_cannot_take_is_a_400_naming_the_field(served: Served, body: dict, param: str) -> None:
    error = error_of(served.post("/v1/route", body), 400)
    assert error["param"] == param and param in error["message"]


def test_chat_text_that_cannot_be_encoded_is_a_400(served: Served) -> None:
    body = {"model": "finerouter", "messages": [{"role": "user", "content": "hi"}], "user": "\ud800"}
    assert error_of(served.post("/v1/chat/completions", body), 400)["param"] == "user"


def test_openapi_says_exactly_one_of_prompt_and_messages(served: Served) -> None:
    spec = requests.get(served.base + "/openapi.json", timeout=30).json()
    route = spec["components"]["schemas"]["RouteRequest"]
    assert route["oneOf"] == [{"required": ["prompt"]}, {"required": ["messages"]}]
    assert route["properties"]["prompt"]["type"] == "string" and route["properties"]["messages"]["type"] == "array"


# --- /healthz while the router loads (last: it deploys a second application) -------------------------------------


def test_healthz_is_503_at_once_while_the_router_loads_then_200(served: Served, tmp_path: Path) -> None:
    """A second application whose router is held in `load` (FaultyRouter waits while `<bundle>.hold` exists): its
    /healthz answers 503 instead of hanging until the bundle is loaded, and 200 once it is."""
    from ray import serve

    from serve_app.app import deploy_config, serve_config

    bundle = shutil.copytree(served.args.bundle, tmp_path / "bundle")
    hold_file(bundle).write_text("loading")
    gated = serve_config(served.args.model_copy(update={"bundle": bundle}))["applications"][0]
    gated |= {"name": "gated", "route_prefix": "/gated"}
    deploy_config({"applications": [serve_config(served.args)["applications"][0], gated]}, blocking=False)
    url = served.base + "/gated/healthz"
    try:
        for _ in range(240):  # until the gated app's ingress answers (before, the proxy has no route for it)
            response = requests.get(url, timeout=30)  # the fix is that this answers; before it, it hung
            if response.status_code != 404 and response.headers.get("Content-Type") == "application/json":
                break  # a 404: the main app ("/") answers until the gated app's route exists
            time.sleep(0.5)
        error = error_of(response, 503)
        assert error["type"] == "service_unavailable" and "not ready" in error["message"]
        assert response.headers["Retry-After"] == "1"
        hold_file(bundle).unlink()
        assert wait_healthy(served.base + "/gated", seconds=180)["status"] == "ok"
    finally:
        hold_file(bundle).unlink(missing_ok=True)
        serve.delete("gated")
