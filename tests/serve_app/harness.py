"""Start the Serve app on 127.0.0.1 for a test module (one Ray + Serve instance, small resources)."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import requests

from serve_app.config import ServeAppArgs


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(
    base: str, headers: dict[str, str] | None = None, seconds: float = 60,
    check_alive: Callable[[], None] = lambda: None,
) -> dict:  # fmt: skip
    """Poll `base`/healthz until it answers 200 (its JSON); `check_alive` raises if the server has died meanwhile."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        check_alive()
        try:
            response = requests.get(f"{base}/healthz", headers=headers, timeout=5)
            if response.status_code == 200:
                return response.json()
        except (requests.ConnectionError, requests.Timeout):  # not listening yet, or no route table yet
            pass
        time.sleep(0.5)
    raise AssertionError(f"{base}/healthz not healthy after {seconds} s")


@contextmanager
def serve_on_loopback(args: ServeAppArgs, api_key: str | None = None) -> Iterator[str]:
    """Deploy `build_app(args)`; yields the base URL. Ray and Serve are shut down afterwards."""
    import ray
    from ray import serve

    from serve_app.app import deploy_config, serve_config

    os.environ.pop("RAY_ADDRESS", None)
    started_ray = not ray.is_initialized()
    if started_ray:
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    port = free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    try:
        deploy_config(serve_config(args))  # the declarative path of `serve deploy`
        base = f"http://127.0.0.1:{port}"
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        wait_healthy(base, headers)  # the proxy answers a little after the deployment returns
        yield base
    finally:
        serve.shutdown()
        if started_ray:
            ray.shutdown()
