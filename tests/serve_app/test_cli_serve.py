"""`finerouter serve` as a user runs it, with its defaults: a subprocess with its own local Ray, Serve's
throughput-optimized direct ingress on the given port, the proxy on the next one, the encoder this machine runs
fastest (printed with the reason), `/metrics` on the serving port, and a clean stop on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest
import requests

from serve_app.fast_path import choose_encoder
from tests.conftest import REPO_ROOT
from tests.serve_app.harness import free_port, wait_healthy


@pytest.mark.slow
def test_cli_serve_defaults_route_show_metrics_and_stop(router_bundle) -> None:
    bundle, _, router = router_bundle
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    env.pop("RAY_ADDRESS", None)
    command = [
        sys.executable, "-m", "finerouter.cli", "serve", "--bundle", str(bundle), "--port", str(port),
        "--num-cpus", "2", "--replica-cpus", "0.5", "--max-replicas", "1",
    ]  # fmt: skip
    process = subprocess.Popen(
        command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(process.stdout), daemon=True)  # type: ignore[arg-type]
    reader.start()

    def check_alive() -> None:
        assert process.poll() is None, "finerouter serve exited:\n" + "".join(lines)[-3000:]

    try:
        for base in (f"http://127.0.0.1:{port}", f"http://127.0.0.1:{port + 1}"):  # direct, then Serve's proxy
            assert wait_healthy(base, seconds=240, check_alive=check_alive)["bundle_version"] == router.version
        prompt = "Write a python function that reverses a linked list."
        answer = requests.post(f"http://127.0.0.1:{port}/v1/route", json={"prompt": prompt}, timeout=30)
        assert answer.status_code == 200, answer.text
        expected = router.route([prompt])[0]
        assert answer.json()["model"] == expected.model and answer.json()["task"]["id"] == expected.task_id
        scraped = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
        assert scraped.status_code == 200, scraped.text
        assert f'finerouter_routes_by_model_total{{model="{expected.model}"}} 1.0' in scraped.text
        deadline = time.monotonic() + 120  # the app answers a moment before the command reports it
        while not any(f"at http://127.0.0.1:{port}" in line for line in lines) and time.monotonic() < deadline:
            time.sleep(0.5)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=120)
        reader.join(timeout=10)
    output = "".join(lines)
    assert process.returncode == 0, output[-3000:]
    assert f"at http://127.0.0.1:{port}" in output and "serving path: direct ingress" in output, output[-3000:]
    choice = choose_encoder(None, None)  # what this machine runs fastest
    assert f"prompt encoder: {choice.runtime} {choice.dtype} ({choice.reason}" in output, output[-3000:]
