"""Escape probes for the code sandbox: each tries one escape and the host checks that it had no effect.

A probe is Python source (formatted with the `ProbeHost` fields) plus a check run on the host after the run;
the check returns a description of the effect the probe achieved, or None when it had none. The probes work
against any runner `(code, timeout) -> SandboxResult`, so the same list measured the old in-process guard
(docs/security.md lists both results). Fork probes are bounded (at most 2**6 processes, or sequential forks
whose children exit at once) because as root RLIMIT_NPROC does not apply; network probes only target 127.0.0.1.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HOST_SECRET_ENV = "FINEROUTER_PROBE_SECRET"
CANARY_TEXT = "finerouter-canary-alive"
PASSWD_MARK = "root:x:0:0"


@dataclass
class ProbeHost:
    """Host-side things the probes aim at: files, a loopback listener, a process, a process-name marker."""

    folder: Path
    listener: socket.socket
    sleeper_pid: int
    marker: str  # /proc/PID/comm of anything a probe leaves running
    project_file: Path

    @property
    def target(self) -> str:
        return str(self.folder / "written-by-probe")

    @property
    def canary(self) -> str:
        return str(self.folder / "canary.txt")

    @property
    def port(self) -> int:
        return self.listener.getsockname()[1]

    def fields(self) -> dict[str, Any]:
        return {"target": self.target, "canary": self.canary, "port": self.port, "sleeper": self.sleeper_pid,
                "marker": self.marker, "project_file": str(self.project_file)}  # fmt: skip


def _survivors(marker: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        try:
            if entry.isdigit() and Path(f"/proc/{entry}/comm").read_text().strip() == marker:
                found.append(int(entry))
        except OSError:
            continue
    return found


def wrote_target(host: ProbeHost, result: Any) -> str | None:
    return f"created {host.target}" if os.path.exists(host.target) else None


def canary_changed(host: ProbeHost, result: Any) -> str | None:
    path = Path(host.canary)
    if not path.exists():
        return "deleted the canary"
    return None if path.read_text() == CANARY_TEXT else "overwrote the canary"


def printed(mark: str) -> Callable[[ProbeHost, Any], str | None]:
    def check(host: ProbeHost, result: Any) -> str | None:
        text = f"{result.stdout}\n{result.stderr}\n{result.reason or ''}"
        return f"output shows {mark!r}" if mark in text else None

    return check


def connected(host: ProbeHost, result: Any) -> str | None:
    host.listener.settimeout(0.3)
    try:
        conn, _ = host.listener.accept()
    except TimeoutError:
        return None
    conn.close()
    return "connected to a host loopback listener"


def survived(delay: float) -> Callable[[ProbeHost, Any], str | None]:
    def check(host: ProbeHost, result: Any) -> str | None:
        time.sleep(delay)
        alive = _survivors(host.marker)
        late = wrote_target(host, result)
        return f"processes outlived the run: {alive}; {late or ''}" if alive or late else None

    return check


def sleeper_killed(host: ProbeHost, result: Any) -> str | None:
    try:
        state = Path(f"/proc/{host.sleeper_pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        state = "gone"
    return None if state in ("S", "R") else f"killed a host process (state {state})"


def more_than(mark: str, limit: int) -> Callable[[ProbeHost, Any], str | None]:
    def check(host: ProbeHost, result: Any) -> str | None:
        for line in result.stdout.splitlines():
            if line.startswith(mark) and int(line.split()[1]) > limit:
                return line
        return None

    return check


def all_of(*checks: Callable[[ProbeHost, Any], str | None]) -> Callable[[ProbeHost, Any], str | None]:
    def check(host: ProbeHost, result: Any) -> str | None:
        effects = [e for e in (c(host, result) for c in checks) if e]
        return "; ".join(effects) or None

    return check


REIMPORT_POSIX = "import sys\nsys.modules.pop('posix', None)\nimport posix\n"
REIMPORT_CTYPES = (
    "import sys\nfor _m in ('ctypes', '_ctypes'):\n    sys.modules.pop(_m, None)\n"
    "import ctypes\nlibc = ctypes.CDLL(None)\n"
)
SET_COMM = "ctypes.CDLL(None).prctl(15, {marker!r}.encode(), 0, 0, 0)\n"  # PR_SET_NAME
WRITE_TARGET = "posix.close(posix.open({target!r}, posix.O_WRONLY | posix.O_CREAT))\n"  # the real, re-imported call


@dataclass(frozen=True)
class Probe:
    name: str
    code: str
    check: Callable[[ProbeHost, Any], str | None]
    timeout: float = 5.0
    notes: list[str] = field(default_factory=list)


PROBES = [
    Probe("write via _io.FileIO", "import _io\n_io.FileIO({target!r}, 'w').write(b'x')", wrote_target),
    Probe(
        "write via the real open in open.__closure__",
        "real = open\nfor cell in getattr(open, '__closure__', None) or ():\n"
        "    if getattr(cell.cell_contents, '__name__', '') == 'open':\n        real = cell.cell_contents\n"
        "real({target!r}, 'w').write('x')",
        wrote_target,
    ),
    Probe("write via plain open", "open({target!r}, 'w').write('x')", wrote_target),
    Probe("delete a host file", "import os\nos.remove({canary!r})", canary_changed),
    Probe(
        "overwrite a host file via os.open",
        "import os\nos.write(os.open({canary!r}, os.O_WRONLY | os.O_TRUNC), b'')",
        canary_changed,
    ),
    Probe("del sys.modules['posix']; posix.system", REIMPORT_POSIX + "posix.system('touch {target}')", wrote_target),
    Probe("os.system", "import os\nos.system('touch {target}')", wrote_target),
    Probe("subprocess.run", "import subprocess\nsubprocess.run(['/bin/sh', '-c', 'touch {target}'])", wrote_target),
    Probe(
        "re-imported _posixsubprocess: a working subprocess.run",
        "import sys\nfor m in ('_posixsubprocess', 'subprocess'):\n    sys.modules.pop(m, None)\n"
        "import subprocess\nsubprocess.run(['/bin/sh', '-c', 'touch {target}'])",
        wrote_target,
    ),
    Probe("ctypes libc.system", "import ctypes\nctypes.CDLL(None).system(b'touch {target}')", wrote_target),
    Probe("re-imported ctypes: libc.system", REIMPORT_CTYPES + "libc.system(b'touch {target}')", wrote_target),
    Probe(
        "re-imported posix: fork, child writes a file",
        REIMPORT_POSIX + "pid = posix.fork()\nif pid == 0:\n    " + WRITE_TARGET + "    posix._exit(0)\n"
        "posix.waitpid(pid, 0)",
        wrote_target,
    ),
    Probe(
        "setsid + double fork outliving the timeout, writing 2 s later",
        REIMPORT_POSIX + REIMPORT_CTYPES + "import time\nif posix.fork() == 0:\n    posix.setsid()\n"
        "    if posix.fork() == 0:\n        " + SET_COMM + "        time.sleep(2)\n"
        "        " + WRITE_TARGET + "        time.sleep(3)\n    posix._exit(0)\ntime.sleep(60)",
        survived(2.5),
        timeout=1.0,
    ),
    Probe(
        "SIGTERM ignored, busy loop",
        REIMPORT_CTYPES + SET_COMM + "import signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "while True:\n    pass",
        survived(0.2),
        timeout=1.0,
    ),
    Probe("infinite loop", REIMPORT_CTYPES + SET_COMM + "while True:\n    pass", survived(0.2), timeout=1.0),
    Probe(
        "bounded fork bomb (2**6)",
        REIMPORT_POSIX + "import time\nmade = 0\nfor _ in range(6):\n    try:\n        if posix.fork() == 0:\n"
        "            made = 0\n    except OSError:\n        pass\n    else:\n        made += 1\n"
        "print('forked', made, flush=True)\ntime.sleep(0.5)",
        more_than("forked", 0),
    ),
    Probe(
        "setns into the parent's network namespace, then connect",
        REIMPORT_CTYPES + "import os, socket\nfor pid in (os.getppid(), 1):\n    try:\n"
        "        print('setns', pid, libc.setns(os.open(f'/proc/{{pid}}/ns/net', os.O_RDONLY), 0x40000000))\n"
        "    except OSError as exc:\n        print('setns', pid, exc)\n"
        "socket.create_connection(('127.0.0.1', {port}), timeout=2).sendall(b'escaped')",
        connected,
    ),
    Probe(
        "connect to a host loopback listener",
        "import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2).sendall(b'escaped')",
        connected,
    ),
    Probe(
        "_socket.SocketType past the socket block",
        "import _socket\ns = _socket.SocketType(_socket.AF_INET, _socket.SOCK_STREAM)\ns.settimeout(2)\n"
        "s.connect(('127.0.0.1', {port}))\ns.send(b'escaped')",
        connected,
    ),
    Probe("read /etc/passwd", "print(open('/etc/passwd').read())", printed(PASSWD_MARK)),
    Probe("read /proc/1/root/etc/passwd", "print(open('/proc/1/root/etc/passwd').read())", printed(PASSWD_MARK)),
    Probe("read the project's files", "print(open({project_file!r}).read())", printed("[project]")),
    Probe("read a host file's content", "print(open({canary!r}).read())", printed(CANARY_TEXT)),
    Probe(
        "list /root (Ray's auth token lives there)",
        "import os\nprint('root-entries', sorted(set(os.listdir('/root')) - {{'.pyenv'}}))",
        lambda host, result: (
            None
            if "root-entries []" in result.stdout or "root-entries" not in result.stdout
            else result.stdout.strip()[:200]
        ),
    ),
    Probe(
        "leak 300 characters of a file through the grade reason",
        "raise AssertionError(open('/etc/passwd').read()[:300])",
        printed(PASSWD_MARK),
    ),
    Probe("host environment secret", f"import os\nprint(os.environ.get({HOST_SECRET_ENV!r}))", printed("s3cret-probe")),
    Probe("kill a host process", REIMPORT_POSIX + "posix.kill({sleeper}, 9)", sleeper_killed),
    Probe("setuid(0)", REIMPORT_POSIX + "posix.setuid(0)\nprint('uid', posix.getuid())", printed("uid 0")),
    Probe(
        "10 GB allocation",
        "x = bytearray(10 << 30)\nprint('allocated', len(x) >> 30)",
        printed("allocated 10"),
    ),
    Probe(
        "100 MB of stdout",
        "import sys\nchunk = b'y' * (1 << 20)\nfor _ in range(100):\n    sys.stdout.buffer.write(chunk)\n"
        "sys.stdout.flush()\nprint('wrote-all', flush=True)",
        all_of(printed("wrote-all"), lambda host, result: "stdout kept" if len(result.stdout) > 1 << 20 else None),
        timeout=20.0,
    ),
    Probe(
        "fill the disk: 5 files of 15 MB",
        "total = 0\nfor i in range(5):\n    with open(f'fill{{i}}', 'wb') as fh:\n        fh.write(b'z' * (15 << 20))\n"
        "    total += 15\n    print('filled', total, flush=True)",
        more_than("filled", 64),
        timeout=20.0,
    ),
]
