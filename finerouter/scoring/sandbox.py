"""Run untrusted Python (generated code and its tests) in a separate, limited, throwaway process.

Two layers (docs/security.md says what each guarantees and what it does not):
- the operating system (`isolation="bwrap"`, the default; `sandbox_bwrap.py`): bubblewrap gives the run fresh
  namespaces (no network, own pids), a root holding only the interpreter, its standard library and shared
  libraries read-only, a private size-limited tmpfs `/work`, and an unprivileged uid without capabilities. The
  whole process tree is killed at the timeout (SIGKILL to the session; the pid namespace dies with it). Where
  `bwrap` is missing, `SandboxUnavailable` says how to install it: there is no silent fallback.
- `sandbox_guard.py` inside the run: resource limits set before the candidate's first line (address space, CPU
  seconds, processes, file size, open files, no core dumps), then the in-process `reliability_guard` that
  disables process creation, signals, network and file changes outside the working directory.
`isolation="guard-only"` runs the guard alone on the host (the old behaviour): UNSAFE for untrusted code, only
for machines that cannot have bubblewrap, and only when configured explicitly (`scoring.sandbox: guard-only`).
Output is read through pipes and capped (`output_bytes`), so a program cannot fill the host's disk.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from finerouter.scoring.sandbox_bwrap import (
    GUARD_PATH,
    WORKDIR,
    SandboxUnavailable,
    bwrap_argv,
    find_bwrap,
    sandbox_uid,
)
from finerouter.scoring.sandbox_process import ProcessOutcome, run_capped

GUARD = Path(__file__).with_name("sandbox_guard.py")
Isolation = Literal["bwrap", "guard-only"]
ISOLATIONS: tuple[str, ...] = ("bwrap", "guard-only")
_SIGNAL_STATUS = {signal.SIGXCPU: ("timeout", "CPU time limit exceeded"), signal.SIGXFSZ: ("error", "file size limit")}
_BWRAP_SIGNALLED = 128  # bwrap exits with 128 + the signal that killed the program
NETWORK_LINE = b"sandbox-network: "


@dataclass(frozen=True)
class SandboxLimits:
    timeout: float = 10.0  # wall-clock seconds
    memory_mb: int = 1024  # address space
    cpu_seconds: int | None = None  # default: the wall-clock timeout rounded up, plus 1
    extra_processes: int = 0  # RLIMIT_NPROC above the run's own processes (not binding for guard-only as root)
    file_size_mb: int = 16
    open_files: int = 64
    output_bytes: int = 1 << 20  # stdout + stderr together; past it the run is killed
    workdir_mb: int = 64  # size of the private tmpfs /work (bwrap)
    network_namespace: bool = True  # guard-only: False skips unshare and disables sockets instead
    in_process_guard: bool = True  # the second layer; False only to test the OS layer alone


@dataclass(frozen=True)
class SandboxResult:
    status: str  # passed / failed / timeout / error
    returncode: int | None
    stdout: str  # tails
    stderr: str
    duration: float  # seconds
    reason: str | None = None
    network: str | None = None  # 'namespace' or 'blocked': how the run was kept off the network
    isolation: str | None = None  # 'bwrap' or 'guard-only'


def _env(workdir: str) -> dict[str, str]:
    threads = {k: "1" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS")}
    return {"PATH": "/usr/bin:/bin", "HOME": workdir, "TMPDIR": workdir, "LANG": "C.UTF-8", **threads}


def _guard_config(limits: SandboxLimits, workdir: str, network: str) -> dict[str, object]:
    return {
        "workdir": workdir, "program": f"{workdir}/main.py", "memory_mb": limits.memory_mb,
        "cpu_seconds": limits.cpu_seconds or int(limits.timeout) + 1, "extra_processes": limits.extra_processes,
        "file_size_mb": limits.file_size_mb, "open_files": limits.open_files, "network": network,
        "parent_netns": os.stat("/proc/self/ns/net").st_ino, "guard": limits.in_process_guard,
    }  # fmt: skip


def run_python(
    code: str,
    limits: SandboxLimits | None = None,
    stdin: str | None = None,
    tail: int = 4000,
    files: dict[str, str] | None = None,
    isolation: Isolation = "bwrap",
) -> SandboxResult:
    """Run `code` as a script in the sandbox (`files`: more files beside it in the working directory).

    Exit status 0 is `passed`. Raises `SandboxUnavailable` when `bwrap` isolation cannot run here."""
    limits = limits or SandboxLimits()
    if isolation not in ISOLATIONS:
        raise ValueError(f"unknown sandbox isolation {isolation!r}; valid: {', '.join(ISOLATIONS)}")
    sources = {"main.py": code, **(files or {})}
    run = _run_bwrap if isolation == "bwrap" else _run_guard_only
    outcome, network = run(sources, limits, stdin, tail)
    result = _result(outcome, limits, signal_offset=_BWRAP_SIGNALLED if isolation == "bwrap" else None)
    return SandboxResult(**{**result.__dict__, "network": network, "isolation": isolation})


def _run_bwrap(
    sources: dict[str, str], limits: SandboxLimits, stdin: str | None, tail: int
) -> tuple[ProcessOutcome, str]:
    bwrap = find_bwrap()
    with contextlib.ExitStack() as stack:
        fds = {}
        for name, text in sources.items():
            handle = stack.enter_context(tempfile.TemporaryFile())
            handle.write(text.encode())
            handle.seek(0)
            fds[name] = handle.fileno()
        config = json.dumps(_guard_config(limits, WORKDIR, "isolated"))
        command = ["-I", "-B", GUARD_PATH, config]
        argv = bwrap_argv(bwrap, GUARD, fds, sandbox_uid(), limits.workdir_mb << 20, _env(WORKDIR), command)
        outcome = run_capped(
            argv, timeout=limits.timeout, output_bytes=limits.output_bytes, tail=tail, stdin=stdin,
            env=_env(WORKDIR), cwd="/", pass_fds=tuple(fds.values()),
        )  # fmt: skip
    stripped, network = _strip_network_line(outcome)
    if network != "isolated" and not outcome.timed_out:
        problem = outcome.stderr_head.decode("utf-8", errors="replace").strip() or f"exit status {outcome.returncode}"
        raise SandboxUnavailable(f"the bwrap sandbox did not start: {problem[:300]}")
    return stripped, "namespace"


def _run_guard_only(
    sources: dict[str, str], limits: SandboxLimits, stdin: str | None, tail: int
) -> tuple[ProcessOutcome, str | None]:
    with tempfile.TemporaryDirectory(prefix="finerouter-sandbox-") as work:
        for name, text in sources.items():
            (Path(work) / name).write_text(text)
        network = "namespace" if limits.network_namespace else "block"
        config = json.dumps(_guard_config(limits, os.path.realpath(work), network))
        outcome = run_capped(
            [sys.executable, "-I", "-B", str(GUARD), config], timeout=limits.timeout,
            output_bytes=limits.output_bytes, tail=tail, stdin=stdin, env=_env(work), cwd=work,
        )  # fmt: skip
    return _strip_network_line(outcome)


def _strip_network_line(outcome: ProcessOutcome) -> tuple[ProcessOutcome, str | None]:
    """The guard's first stderr line (written before the candidate runs) says how the network was cut off."""
    first, newline, _ = outcome.stderr_head.partition(b"\n")
    if not (first.startswith(NETWORK_LINE) and newline):
        return outcome, None
    network = first[len(NETWORK_LINE) :].decode().strip()
    stderr = outcome.stderr
    if stderr.startswith(first + newline):  # the tail still holds the start: drop the line from it
        stderr = stderr[len(first) + 1 :]
    return ProcessOutcome(**{**outcome.__dict__, "stderr": stderr}), network


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)


def _result(outcome: ProcessOutcome, limits: SandboxLimits, signal_offset: int | None) -> SandboxResult:
    stdout = outcome.stdout.decode("utf-8", errors="replace")
    stderr = outcome.stderr.decode("utf-8", errors="replace")
    code, duration = outcome.returncode, outcome.duration

    def result(status: str, reason: str | None = None, returncode: int | None = code) -> SandboxResult:
        return SandboxResult(status, returncode, stdout, stderr, duration, reason)

    if outcome.timed_out:
        return result("timeout", f"wall-clock limit of {limits.timeout:g} s", None)
    if outcome.output_exceeded:
        return result("error", f"output limit of {limits.output_bytes} bytes exceeded", None)
    if code == 0:
        return result("passed")
    signalled = -code if code < 0 else None
    if signal_offset and signal_offset < code < signal_offset + signal.SIGRTMAX:
        signalled = code - signal_offset
    if signalled:
        status, reason = _SIGNAL_STATUS.get(signalled, ("error", f"killed by signal {_signal_name(signalled)}"))
        return result(status, reason)
    last = stderr.strip().splitlines()[-1] if stderr.strip() else f"exit status {code}"
    if "MemoryError" in last:
        last = f"memory limit of {limits.memory_mb} MB exceeded (MemoryError)"
    return result("failed", last[:300])
