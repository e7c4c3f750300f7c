"""The ingress FastAPI app in-process, without Ray: served by uvicorn on 127.0.0.1 in a thread, with a stand-in for
the Router deployment's handle. For the chat proxy tests, which name pool models (nothing is routed)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

from serve_app.api import build_api
from serve_app.config import ServiceArgs
from serve_app.service import RoutingService
from tests.serve_app.harness import free_port


class _Method:
    def __init__(self, answer: Any) -> None:
        self._answer = answer

    async def remote(self, *args: Any) -> Any:
        return self._answer


class PoolOnlyRouterHandle:
    """Answers the Router deployment's `info` for a fixed pool; routing calls fail loudly (these tests name a pool
    model in `model`, so the proxy never asks for a decision)."""

    def __init__(self, models: list[str]) -> None:
        cost = {model: 1.0 for model in models}
        info = {"version": "proxy-test", "created": 0, "models": models, "model_cost": cost, "cost_unit": "usd"}
        self.info = _Method(info)

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the proxy tests do not route, but the service called Router.{name}")


@contextmanager
def proxy_on_loopback(args: ServiceArgs, pool: list[str]) -> Iterator[tuple[str, RoutingService]]:
    """Yields (base URL, service) of the ingress app for `args`, served over real HTTP until the block ends."""
    service = RoutingService(args, PoolOnlyRouterHandle(pool))
    port = free_port()
    config = uvicorn.Config(build_api(service), host="127.0.0.1", port=port, log_level="error", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise AssertionError("uvicorn did not start the proxy app")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}", service
    finally:
        server.should_exit = True
        thread.join(timeout=30)
