"""Run a command in its own session with a wall-clock limit and a cap on the bytes it may print.

stdout and stderr are pipes read here, so the program can never fill the host's disk: past `output_bytes`
(both streams together) or past the timeout, the whole process group is killed with SIGKILL. Only the tails
are kept.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass

CHUNK = 1 << 16
POLL_SECONDS = 0.05
HEAD = 256


@dataclass(frozen=True)
class ProcessOutcome:
    returncode: int
    timed_out: bool
    output_exceeded: bool
    stdout: bytes  # tails
    stderr: bytes
    duration: float
    stderr_head: bytes = b""  # the first HEAD bytes of stderr, kept whatever follows


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def run_capped(
    argv: list[str],
    *,
    timeout: float,
    output_bytes: int,
    tail: int,
    stdin: str | None = None,
    env: dict[str, str] | None = None,
    cwd: str | None = None,
    pass_fds: tuple[int, ...] = (),
) -> ProcessOutcome:
    with tempfile.TemporaryFile() as stdin_file:
        if stdin is not None:
            stdin_file.write(stdin.encode())
            stdin_file.seek(0)
        start = time.monotonic()
        proc = subprocess.Popen(
            argv, stdin=stdin_file if stdin is not None else subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, env=env, cwd=cwd, pass_fds=pass_fds, start_new_session=True,
        )  # fmt: skip
    tails = {"stdout": bytearray(), "stderr": bytearray()}
    head = bytearray()
    total, timed_out, exceeded = 0, False, False
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ, "stdout")  # type: ignore[arg-type]
        selector.register(proc.stderr, selectors.EVENT_READ, "stderr")  # type: ignore[arg-type]
        try:
            while selector.get_map() and not exceeded:
                left = timeout - (time.monotonic() - start)
                if left <= 0:
                    timed_out = True
                    break
                exited = proc.poll() is not None  # then drain what is buffered; a leftover child holds no run open
                ready = selector.select(0 if exited else min(left, POLL_SECONDS))
                if exited and not ready:
                    break
                for key, _ in ready:
                    chunk = os.read(key.fd, CHUNK)
                    if not chunk:
                        selector.unregister(key.fileobj)
                        continue
                    total += len(chunk)
                    if key.data == "stderr" and len(head) < HEAD:
                        head += chunk[: HEAD - len(head)]
                    tails[key.data] += chunk
                    del tails[key.data][: -max(tail, 1)]
                    exceeded = total > output_bytes
        finally:
            _kill_group(proc.pid)
            proc.wait()
            proc.stdout.close()  # type: ignore[union-attr]
            proc.stderr.close()  # type: ignore[union-attr]
    duration = time.monotonic() - start
    stdout, stderr = bytes(tails["stdout"]), bytes(tails["stderr"])
    return ProcessOutcome(proc.returncode, timed_out, exceeded, stdout, stderr, duration, bytes(head))
