"""Start the Serve app on 127.0.0.1 for a test module (one Ray + Serve instance, small resources)."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from serve_app.config import ServeAppArgs
from tests.serve_app.conftest import UPSTREAM_KEY_ENV


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


def proxy_app_args(
    bundle: Path, router_class: str, upstream_modes: dict[str, str], base_url: Callable[[str], str],
    fallbacks: dict[str, str], keys_file: Path, **extra: object,
) -> ServeAppArgs:  # fmt: skip
    """One router replica of 0.5 CPU, each pool model's upstream the fake upstream in the given mode, bearer keys
    from `keys_file`; `extra`: more top-level app args."""
    return ServeAppArgs.model_validate({
        "bundle": str(bundle), "router_class": router_class,
        "router": {"autoscaling": {"min_replicas": 1, "max_replicas": 1}, "num_cpus": 0.5},
        "upstreams": {m: {"base_url": base_url(mode), "api_key_env": UPSTREAM_KEY_ENV}
                      for m, mode in upstream_modes.items()},
        "fallbacks": fallbacks,
        "auth": {"api_keys_file": str(keys_file)},
        **extra,
    })  # fmt: skip
