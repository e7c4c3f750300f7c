"""Run untrusted Python (generated code and its tests) in a separate, limited, throwaway process.

What protects what:
- a fresh interpreter (`python -I -B`: no user site, no PYTHON* variables, no cwd on sys.path) in a new
  session, so the whole process group is killed (SIGKILL) on timeout and after every run: no leftovers;
- a throwaway temporary working directory (HOME and TMPDIR point there), removed afterwards;
- a minimal environment (no credentials or tokens of the host process are inherited);
- resource limits set in the child before the candidate runs (`sandbox_guard.set_limits`): address space
  (memory hog -> MemoryError), CPU seconds (busy loop -> SIGXCPU), file size (SIGXFSZ; also caps the captured
  stdout/stderr files), open files, no core dumps, and RLIMIT_NPROC (fork bombs; ignored for root);
- a new network namespace via unshare(CLONE_NEWNET) (no interface is up, so nothing, loopback included, can
  be reached); where that is not permitted, socket creation is disabled instead;
- `sandbox_guard.reliability_guard`: fork/exec/spawn/kill/setsid, subprocess, multiprocessing and ctypes are
  disabled (this is what stops fork bombs when running as root), and file deletion, renames, permission
  changes, chdir and writes are refused outside the working directory.
The guard stops accidents of generated code; deliberate escapes are possible, so untrusted code from an
adversary belongs in a container or VM run as an unprivileged user (where RLIMIT_NPROC and file permissions
then also hold).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

GUARD = Path(__file__).with_name("sandbox_guard.py")
_SIGNAL_STATUS = {signal.SIGXCPU: ("timeout", "CPU time limit exceeded"), signal.SIGXFSZ: ("error", "file size limit")}


@dataclass(frozen=True)
class SandboxLimits:
    timeout: float = 10.0  # wall-clock seconds
    memory_mb: int = 1024  # address space
    cpu_seconds: int | None = None  # default: the wall-clock timeout rounded up, plus 1
    extra_processes: int = 0  # RLIMIT_NPROC above the user's current count (ignored for root)
    file_size_mb: int = 16
    open_files: int = 64
    network_namespace: bool = True  # False: skip unshare and disable sockets instead


@dataclass(frozen=True)
class SandboxResult:
    status: str  # passed / failed / timeout / error
    returncode: int | None
    stdout: str  # tails
    stderr: str
    duration: float  # seconds
    reason: str | None = None
    network: str | None = None  # 'namespace' or 'blocked': how the run was kept off the network


def _tail(path: Path, limit: int, skip: int = 0) -> str:
    try:
        with path.open("rb") as fh:
            fh.seek(max(skip, path.stat().st_size - limit))
            return fh.read().decode("utf-8", errors="replace")
    except OSError:
        return ""


def _network_line(path: Path) -> tuple[str | None, int]:
    """The guard's first stderr line says how the network was cut off; returns it and its length."""
    with path.open("rb") as fh:
        first = fh.readline(100)
    if first.startswith(b"sandbox-network: ") and first.endswith(b"\n"):
        return first.decode().split(": ", 1)[1].strip(), len(first)
    return None, 0


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _env(workdir: str) -> dict[str, str]:
    threads = {k: "1" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS")}
    return {"PATH": "/usr/bin:/bin", "HOME": workdir, "TMPDIR": workdir, "LANG": "C.UTF-8", **threads}


def run_python(
    code: str, limits: SandboxLimits | None = None, stdin: str | None = None, tail: int = 4000
) -> SandboxResult:
    """Run `code` as a script in the sandbox; exit status 0 is `passed`."""
    limits = limits or SandboxLimits()
    cpu = limits.cpu_seconds or int(limits.timeout) + 1
    with tempfile.TemporaryDirectory(prefix="finerouter-sandbox-") as work, tempfile.TemporaryDirectory() as io_dir:
        program = Path(work) / "main.py"
        program.write_text(code)
        config = {
            "workdir": work, "program": str(program), "parent_netns": os.stat("/proc/self/ns/net").st_ino,
            "memory_mb": limits.memory_mb, "cpu_seconds": cpu, "extra_processes": limits.extra_processes,
            "file_size_mb": limits.file_size_mb, "open_files": limits.open_files,
            "network_namespace": limits.network_namespace,
        }  # fmt: skip
        out_path, err_path = Path(io_dir) / "stdout", Path(io_dir) / "stderr"
        start = time.monotonic()
        with out_path.open("wb") as out, err_path.open("wb") as err:
            try:
                proc = subprocess.Popen(
                    [sys.executable, "-I", "-B", str(GUARD), json.dumps(config)],
                    cwd=work, env=_env(work), stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                    stdout=out, stderr=err, start_new_session=True,
                )  # fmt: skip
            except OSError as exc:
                return SandboxResult("error", None, "", "", 0.0, f"could not start the sandbox: {exc}")
            timed_out = False
            try:
                proc.communicate(stdin.encode() if stdin is not None else None, timeout=limits.timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
            finally:
                _kill_group(proc.pid)
                proc.wait()
        duration = time.monotonic() - start
        network, skip = _network_line(err_path)
        stdout, stderr = _tail(out_path, tail), _tail(err_path, tail, skip)
    result = _result(proc.returncode, timed_out, stdout, stderr, duration, limits)
    return replace(result, network=network)


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)


def _result(
    code: int, timed_out: bool, stdout: str, stderr: str, duration: float, limits: SandboxLimits
) -> SandboxResult:
    if timed_out:
        return SandboxResult("timeout", None, stdout, stderr, duration, f"wall-clock limit of {limits.timeout:g} s")
    if code == 0:
        return SandboxResult("passed", 0, stdout, stderr, duration)
    if code < 0:
        status, reason = _SIGNAL_STATUS.get(-code, ("error", f"killed by signal {_signal_name(-code)}"))
        return SandboxResult(status, code, stdout, stderr, duration, reason)
    last = stderr.strip().splitlines()[-1] if stderr.strip() else f"exit status {code}"
    if "MemoryError" in last:
        last = f"memory limit of {limits.memory_mb} MB exceeded (MemoryError)"
    return SandboxResult("failed", code, stdout, stderr, duration, last[:300])
