"""A local Ray head for the operations tests: its own ports, temp dir and process group, so it never touches
another Ray on the machine, and is stopped by signalling only its own processes."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

RAY = Path(sys.executable).with_name("ray")
PORT_FLAGS = (
    "--port",
    "--dashboard-port",
    "--node-manager-port",
    "--object-manager-port",
    "--ray-client-server-port",
    "--dashboard-agent-listen-port",
    "--dashboard-agent-grpc-port",
    "--runtime-env-agent-port",
    "--metrics-export-port",
)


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def client_env() -> dict[str, str]:
    """The environment of a `ray` CLI call or head: token auth on (the project's choice), venv first on PATH.

    PYTHONPATH is dropped so a submitted job can import only the uploaded working directory's code.
    """
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "RAY_ADDRESS")}
    env["RAY_AUTH_MODE"] = "token"
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def auth_headers() -> dict[str, str]:
    """The bearer token for the dashboard's HTTP API, from where Ray keeps it.

    Passed explicitly because Ray reads RAY_AUTH_MODE once per process: in a test session that imported Ray
    earlier without it, setting the variable later changes nothing.
    """
    token = os.environ.get("RAY_AUTH_TOKEN")
    if not token:
        path = Path(os.environ.get("RAY_AUTH_TOKEN_PATH", Path.home() / ".ray" / "auth_token"))
        token = path.read_text().strip()
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Head:
    process: subprocess.Popen
    temp_dir: Path
    dashboard_url: str
    log_path: Path
    gcs_address: str = ""  # what `ray.init(address=...)` and `finerouter serve --address` take

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # `ray start --block` drains and stops its own processes
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)  # our own session: we started it with setsid
                self.process.wait(timeout=30)
        shutil.rmtree(self.temp_dir, ignore_errors=True)
        self.log_path.unlink(missing_ok=True)


def start_head(num_cpus: int = 2, timeout_s: float = 120.0) -> Head:
    ports = free_ports(len(PORT_FLAGS) + 1)
    worker_base = 20000 + (ports[-1] % 400) * 100
    temp_dir = Path(tempfile.mkdtemp(prefix="fr-ray-", dir="/tmp"))  # short: Unix socket paths are limited
    log_path = temp_dir.with_suffix(".log")
    cmd = [
        str(RAY),
        "start",
        "--head",
        "--block",
        f"--num-cpus={num_cpus}",
        "--num-gpus=0",
        "--dashboard-host=127.0.0.1",
        f"--temp-dir={temp_dir}",
        f"--min-worker-port={worker_base}",
        f"--max-worker-port={worker_base + 99}",
        "--disable-usage-stats",
        *(f"{flag}={port}" for flag, port in zip(PORT_FLAGS, ports, strict=False)),
    ]
    with log_path.open("w") as log:
        process = subprocess.Popen(cmd, env=client_env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    dashboard_port = ports[PORT_FLAGS.index("--dashboard-port")]
    gcs = f"127.0.0.1:{ports[PORT_FLAGS.index('--port')]}"
    head = Head(process, temp_dir, f"http://127.0.0.1:{dashboard_port}", log_path, gcs)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            message = f"ray start exited with {process.returncode}:\n{log_path.read_text()[-3000:]}"
            head.stop()
            raise RuntimeError(message)
        if "Ray runtime started" in log_path.read_text() and _port_open(dashboard_port):
            return head
        time.sleep(1)
    message = f"the Ray head did not start in {timeout_s} s:\n{log_path.read_text()[-3000:]}"
    head.stop()
    raise RuntimeError(message)


def _port_open(port: int) -> bool:
    with closing(socket.socket()) as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0
