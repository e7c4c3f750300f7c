"""Runs inside the sandbox's child interpreter (`python -I -B sandbox_guard.py CONFIG_JSON`); stdlib only.

Before the candidate's first line it: sets resource limits (the kernel enforces them from then on), makes sure
the network is cut off (bwrap already gave the run an empty network namespace: `network: isolated`; else it
moves itself into a new one, or blocks sockets when it cannot), and, unless `guard` is false, disables process
creation, signals to other processes, and file changes outside its working directory (after OpenAI
human-eval's `reliability_guard`). Then it runs the candidate file as `__main__`. The in-process part guards
against accidents of generated code; it is not a boundary against an attacker (bubblewrap is).
"""

from __future__ import annotations

import builtins
import json
import os
import resource
import runpy
import shutil
import subprocess
import sys
from typing import Any

CLONE_NEWNET = 0x40000000
MB = 1 << 20


def _own_tasks() -> int:
    """Processes and threads of this user: what RLIMIT_NPROC counts."""
    uid, count = os.getuid(), 0
    for entry in os.listdir("/proc"):
        try:
            if entry.isdigit() and os.stat(f"/proc/{entry}").st_uid == uid:
                count += len(os.listdir(f"/proc/{entry}/task"))
        except OSError:
            continue
    return count


def set_limits(cfg: dict[str, Any]) -> None:
    """RLIMIT_NPROC counts every process of the user (and root is exempt): allow a few beyond the current ones.
    The CPU hard limit is a second above the soft one, so SIGXCPU (not SIGKILL) reports it."""
    limits = {
        resource.RLIMIT_AS: cfg["memory_mb"] * MB,
        resource.RLIMIT_CPU: cfg["cpu_seconds"],
        resource.RLIMIT_NPROC: _own_tasks() + cfg["extra_processes"],
        resource.RLIMIT_FSIZE: cfg["file_size_mb"] * MB,
        resource.RLIMIT_NOFILE: cfg["open_files"],
        resource.RLIMIT_CORE: 0,
    }
    for kind, value in limits.items():
        resource.setrlimit(kind, (value, value + 1 if kind == resource.RLIMIT_CPU else value))


def isolate_network(parent_netns: int, try_namespace: bool = True) -> str:
    """'namespace' when in a fresh network namespace (no interfaces up), else 'blocked' (sockets disabled)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        if try_namespace and libc.unshare(CLONE_NEWNET) == 0 and os.stat("/proc/self/ns/net").st_ino != parent_netns:
            return "namespace"
    except (OSError, AttributeError):
        pass
    import _socket
    import socket

    def no_network(*args: Any, **kwargs: Any) -> Any:
        raise PermissionError("network access is disabled in the sandbox")

    for module in (socket, _socket):
        for name in ("socket", "socketpair", "fromfd", "create_connection", "create_server", "getaddrinfo"):
            if hasattr(module, name):
                setattr(module, name, no_network)
    return "blocked"


def _denied(what: str) -> Any:
    def deny(*args: Any, **kwargs: Any) -> Any:
        raise PermissionError(f"{what} is disabled in the sandbox")

    return deny


def _inside(workdir: str, path: Any) -> bool:
    if isinstance(path, int):
        return False
    real = os.path.realpath(os.fsdecode(path))
    return real == workdir or real.startswith(workdir + os.sep)


def _path_guard(func: Any, workdir: str, what: str, n_paths: int = 1) -> Any:
    def guarded(*args: Any, **kwargs: Any) -> Any:
        paths = list(args[:n_paths]) + [kwargs[k] for k in ("path", "src", "dst") if k in kwargs]
        if kwargs.get("dir_fd") is not None or not all(_inside(workdir, p) for p in paths):
            raise PermissionError(f"{what} outside the sandbox directory is disabled")
        return func(*args, **kwargs)

    return guarded


def reliability_guard(workdir: str) -> None:
    import posix

    write_flags = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
    real_open, real_os_open = builtins.open, os.open

    def guarded_open(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if any(c in mode for c in "wax+") and not _inside(workdir, file):
            raise PermissionError("writing outside the sandbox directory is disabled")
        return real_open(file, mode, *args, **kwargs)

    def guarded_os_open(path: Any, flags: int, *args: Any, **kwargs: Any) -> Any:
        if flags & write_flags and (kwargs.get("dir_fd") is not None or not _inside(workdir, path)):
            raise PermissionError("writing outside the sandbox directory is disabled")
        return real_os_open(path, flags, *args, **kwargs)

    builtins.open = guarded_open
    import io

    io.open = guarded_open
    process = (
        "fork", "forkpty", "vfork", "system", "popen", "spawnl", "spawnle", "spawnlp", "spawnlpe", "spawnv",
        "spawnve", "spawnvp", "spawnvpe", "posix_spawn", "posix_spawnp", "execl", "execle", "execlp", "execlpe",
        "execv", "execve", "execvp", "execvpe", "kill", "killpg", "setsid", "setpgid", "setuid", "setgid",
        "seteuid", "setegid", "setreuid", "setregid", "setresuid", "setresgid", "chroot", "fchdir", "fchmod",
        "fchown", "pidfd_open", "sched_setaffinity", "setpriority",
    )  # fmt: skip
    for name in process:
        for module in (os, posix):
            if hasattr(module, name):
                setattr(module, name, _denied(f"os.{name}"))
    os.open = posix.open = guarded_os_open
    one_path = ("remove", "unlink", "rmdir", "removedirs", "truncate", "chmod", "chown", "lchown", "mkdir")
    one_path += ("makedirs", "mkfifo", "mknod", "chdir", "utime", "setxattr", "removexattr", "lchmod")
    for name in one_path:
        for module in (os, posix):
            if hasattr(module, name):
                setattr(module, name, _path_guard(getattr(module, name), workdir, f"os.{name}"))
    for name in ("rename", "renames", "replace", "link", "symlink"):
        for module in (os, posix):
            if hasattr(module, name):
                setattr(module, name, _path_guard(getattr(module, name), workdir, f"os.{name}", 2))
    shutil.rmtree = _path_guard(shutil.rmtree, workdir, "shutil.rmtree")
    shutil.move = _path_guard(shutil.move, workdir, "shutil.move", 2)
    shutil.chown = _denied("shutil.chown")
    for name in ("Popen", "run", "call", "check_call", "check_output", "getoutput", "getstatusoutput"):
        setattr(subprocess, name, _denied(f"subprocess.{name}"))
    import _posixsubprocess

    _posixsubprocess.fork_exec = _denied("_posixsubprocess.fork_exec")
    for name in ("ctypes", "_ctypes", "_posixsubprocess", "multiprocessing", "pty", "resource", "_testcapi"):
        sys.modules[name] = None  # type: ignore[assignment]


def main() -> None:
    cfg = json.loads(sys.argv[1])
    workdir = os.path.realpath(cfg["workdir"])
    set_limits(cfg)
    if cfg["network"] == "isolated":
        network = "isolated"
    else:
        network = isolate_network(cfg["parent_netns"], cfg["network"] == "namespace")
    os.chdir(workdir)
    if cfg["guard"]:
        reliability_guard(workdir)
    sys.argv = [cfg["program"]]
    sys.path.insert(0, workdir)
    print(f"sandbox-network: {network}", file=sys.stderr, flush=True)
    runpy.run_path(cfg["program"], run_name="__main__")


if __name__ == "__main__":
    main()
