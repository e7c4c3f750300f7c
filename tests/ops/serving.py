"""`finerouter serve --address HEAD` as a user runs it beside the rebuild: a subprocess, stopped with SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from tests.ops.head import Head, client_env, free_ports
from tests.ops.jobs import REPO

FINEROUTER = Path(sys.executable).with_name("finerouter")


@contextmanager
def serving(head: Head, bundle: Path, *flags: str, timeout_s: float = 300.0) -> Iterator[str]:
    """The Serve app on `head`, answering /healthz; yields its base URL. Stopping it shuts Serve down on the head."""
    port = free_ports(1)[0]
    log_file = Path(tempfile.mkstemp(prefix="fr-serve-", suffix=".log")[1])
    command = [str(FINEROUTER), "serve", "--address", head.gcs_address, "--bundle", str(bundle), "--port", str(port)]
    with log_file.open("w") as log:
        process = subprocess.Popen(
            [*command, *flags], cwd=REPO, env=client_env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while "FineRouter serving bundle" not in log_file.read_text():
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"finerouter serve did not come up:\n{log_file.read_text()[-4000:]}")
            time.sleep(1)
        while requests.get(f"{url}/healthz", timeout=30).status_code != 200:
            assert time.monotonic() < deadline, log_file.read_text()[-4000:]
            time.sleep(1)
        yield url
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)  # serve.shutdown(), then ray.shutdown(): the head's CPUs come back
            try:
                process.wait(timeout=120)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)  # our own session: started with start_new_session
                process.wait(timeout=30)
        log_file.unlink(missing_ok=True)


def route(url: str, prompt: str) -> requests.Response:
    return requests.post(f"{url}/v1/route", json={"prompt": prompt}, timeout=60)
