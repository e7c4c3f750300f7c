"""Hostile snippets in the sandbox harm neither the host nor the run.

Fork tests are bounded even if the guard failed (sequential forks whose children exit at once, or at most 2**8
processes), because as root RLIMIT_NPROC does not apply. Network tests only ever target 127.0.0.1.
"""

from __future__ import annotations

import os
import socket
import subprocess
import textwrap

import pytest

from finerouter.scoring import grade
from finerouter.scoring.sandbox import SandboxLimits, run_python


def _processes() -> int:
    return sum(name.isdigit() for name in os.listdir("/proc"))


def _alive(pid: int) -> bool:
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_passing_failing_and_output() -> None:
    ok = run_python("print('hello')")
    assert (ok.status, ok.returncode, ok.stdout) == ("passed", 0, "hello\n")
    assert ok.network in ("namespace", "blocked") and ok.duration > 0
    bad = run_python("assert 1 == 2, 'nope'")
    assert bad.status == "failed" and bad.returncode == 1 and "AssertionError: nope" in bad.reason


@pytest.mark.parametrize("body", ["while True:\n    pass", "import time\ntime.sleep(60)"])
def test_infinite_loop_times_out_and_is_killed(body: str) -> None:
    code = "import os, sys\nprint(os.getpid(), flush=True)\n" + body
    result = run_python(code, SandboxLimits(timeout=2))
    assert result.status == "timeout" and "wall-clock" in result.reason
    assert 1.5 < result.duration < 10
    pid = int(result.stdout.split()[0])
    assert not _alive(pid), "the sandbox's process group must be gone"


def test_cpu_limit_stops_busy_loop() -> None:
    result = run_python("while True:\n    pass", SandboxLimits(timeout=20, cpu_seconds=1))
    assert result.status == "timeout" and result.reason == "CPU time limit exceeded"
    assert result.duration < 15


FORK_PROBE = """
import os
made = 0
for _ in range(10_000):
    try:
        pid = os.fork()
    except Exception:
        continue
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    made += 1
print("forked", made)
"""

BOUNDED_BOMB = """
import os, posix
made = 0
for _ in range(8):
    for fork in (os.fork, posix.fork, os.forkpty):
        try:
            fork()
            made += 1
        except Exception:
            pass
print("forked", made)
"""


def test_fork_attempts_are_refused() -> None:
    result = run_python(FORK_PROBE, SandboxLimits(timeout=30))
    assert result.status == "passed" and result.stdout.strip() == "forked 0"


def test_fork_bomb_is_contained() -> None:
    probe = run_python(FORK_PROBE, SandboxLimits(timeout=30))
    assert probe.stdout.strip() == "forked 0", "guard not working: not running the bomb"
    before = _processes()
    result = run_python(BOUNDED_BOMB, SandboxLimits(timeout=10))
    assert result.status == "passed" and result.stdout.strip() == "forked 0"
    spawners = """
import subprocess, os
spawn = lambda: os.posix_spawn("/bin/true", ["true"], {})
attempts = (lambda: os.system("true"), lambda: subprocess.run(["true"]), spawn)
for attempt in attempts:
    try:
        attempt()
        print("spawned")
    except PermissionError:
        pass
for module in ("multiprocessing", "ctypes", "_posixsubprocess", "pty"):
    try:
        __import__(module)
        print("imported", module)
    except ImportError:
        pass
"""
    spawned = run_python(spawners, SandboxLimits(timeout=10))
    assert spawned.status == "passed" and spawned.stdout == ""
    assert _processes() <= before + 20
    assert subprocess.run(["true"], timeout=10).returncode == 0  # the host still runs commands


def test_files_outside_the_workdir_survive(tmp_path) -> None:
    folder = tmp_path / "precious"
    folder.mkdir()
    canary = folder / "canary.txt"
    canary.write_text("alive")
    code = textwrap.dedent(
        f"""
        import os, pathlib, shutil
        target, folder = {str(canary)!r}, {str(folder)!r}
        attempts = [
            lambda: os.remove(target), lambda: os.unlink(target), lambda: pathlib.Path(target).unlink(),
            lambda: shutil.rmtree(folder), lambda: os.rename(target, "stolen"), lambda: os.replace(target, "x"),
            lambda: open(target, "w").write("overwritten"), lambda: os.truncate(target, 0),
            lambda: os.chmod(target, 0), lambda: os.chdir(folder), lambda: shutil.move(target, "."),
            lambda: os.open(target, os.O_WRONLY | os.O_TRUNC),
        ]
        done = 0
        for attempt in attempts:
            try:
                attempt()
                done += 1
            except PermissionError:
                pass
        open("scratch.txt", "w").write("inside is fine")
        os.remove("scratch.txt")
        print("succeeded", done, os.getcwd())
        """
    )
    result = run_python(code)
    assert result.status == "passed", result.stderr
    count, workdir = result.stdout.split()[1:]
    assert count == "0" and canary.read_text() == "alive" and oct(canary.stat().st_mode)[-3:] != "000"
    assert not os.path.exists(workdir), "the working directory is temporary"


@pytest.mark.parametrize("namespace", [True, False])
def test_no_connection_reaches_a_loopback_listener(namespace: bool) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]
        code = f"""
import socket
s = socket.create_connection(("127.0.0.1", {port}), timeout=3)
s.sendall(b"escaped")
print("connected")
"""
        result = run_python(code, SandboxLimits(timeout=10, network_namespace=namespace))
        assert result.status == "failed" and "connected" not in result.stdout
        assert result.network == ("namespace" if namespace else "blocked")
        server.settimeout(0.5)
        with pytest.raises(TimeoutError):
            server.accept()


@pytest.mark.parametrize("hog", ["x = bytearray(8 << 30)", "x = []\nwhile True:\n    x.append(bytearray(50 << 20))"])
def test_memory_hog_is_stopped(hog: str) -> None:
    result = run_python(hog, SandboxLimits(timeout=20, memory_mb=512))
    assert result.status in ("failed", "error") and "memory" in (result.reason or "").lower()
    assert subprocess.run(["true"], timeout=10).returncode == 0


def test_host_environment_is_not_inherited(monkeypatch) -> None:
    monkeypatch.setenv("FINEROUTER_TEST_SECRET", "s3cret")
    result = run_python("import os\nprint(os.environ.get('FINEROUTER_TEST_SECRET'), os.environ['HOME'] == os.getcwd())")
    assert result.stdout.split() == ["None", "True"]


HUMANEVAL = {
    "prompt": 'def add(a: int, b: int) -> int:\n    """Sum of a and b."""\n',
    "entry_point": "add",
    "test": "def check(candidate):\n    assert candidate(2, 3) == 5\n    assert candidate(-1, 1) == 0\n",
}


def test_code_grader() -> None:
    assert grade("code", "```python\ndef add(a, b):\n    return a + b\n```\nThat's it.", HUMANEVAL).score == 1.0
    assert grade("code", "    return a + b\n", HUMANEVAL).score == 1.0  # a completion of the prompt
    wrong = grade("code", "def add(a, b):\n    return a - b", HUMANEVAL)
    assert wrong.score == 0.0 and "AssertionError" in wrong.reason
    mbpp = ["assert square(3) == 9", "assert square(0) == 0"]
    assert grade("code", "def square(x):\n    return x * x", mbpp).score == 1.0
    assert grade("code", "def square(x) return x", mbpp).reason.startswith("failed: SyntaxError")
    slow = grade("code", "def square(x):\n    while True:\n        pass", mbpp, timeout=2)
    assert slow.score == 0.0 and slow.reason.startswith("timeout")
    assert grade("code", "", mbpp).reason == "empty response"
