"""The sandbox's contract in both isolations: results, limits, output cap, and the bwrap set-up.

The escape probes live in test_sandbox_escapes.py. Fork tests are bounded even if the guard failed (sequential
forks whose children exit at once, or at most 2**8 processes), because as root RLIMIT_NPROC does not apply to
`guard-only`. Network tests only ever target 127.0.0.1.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import textwrap

import pytest

from finerouter.scoring import grade
from finerouter.scoring.sandbox import SandboxLimits, SandboxUnavailable, run_python

needs_bwrap = pytest.mark.skipif(
    shutil.which("bwrap") is None, reason="bubblewrap is not installed (apt-get install -y bubblewrap)"
)
ISOLATIONS = [pytest.param("bwrap", marks=needs_bwrap), "guard-only"]


def _processes() -> int:
    return sum(name.isdigit() for name in os.listdir("/proc"))


def _alive(pid: int) -> bool:
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_passing_failing_and_output(isolation: str) -> None:
    ok = run_python("print('hello')", isolation=isolation)
    assert (ok.status, ok.returncode, ok.stdout, ok.stderr) == ("passed", 0, "hello\n", "")
    assert ok.network in ("namespace", "blocked") and ok.isolation == isolation and ok.duration > 0
    bad = run_python("assert 1 == 2, 'nope'", isolation=isolation)
    assert bad.status == "failed" and bad.returncode == 1 and "AssertionError: nope" in bad.reason


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_files_and_stdin_reach_the_program(isolation: str) -> None:
    code = "import sys\nprint(open('data.txt').read(), sys.stdin.read())"
    result = run_python(code, stdin="from stdin", files={"data.txt": "from a file"}, isolation=isolation)
    assert result.stdout == "from a file from stdin\n"


@pytest.mark.parametrize("isolation", ISOLATIONS)
@pytest.mark.parametrize("body", ["while True:\n    pass", "import time\ntime.sleep(60)"])
def test_infinite_loop_times_out(isolation: str, body: str) -> None:
    result = run_python(body, SandboxLimits(timeout=1), isolation=isolation)
    assert result.status == "timeout" and result.reason == "wall-clock limit of 1 s"


def test_guard_only_kills_the_process_group() -> None:
    result = run_python("import os\nprint(os.getpid(), flush=True)\nwhile True:\n    pass", SandboxLimits(timeout=1),
                        isolation="guard-only")  # fmt: skip
    assert result.status == "timeout" and not _alive(int(result.stdout.split()[0]))


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_cpu_limit_stops_busy_loop(isolation: str) -> None:
    result = run_python("while True:\n    pass", SandboxLimits(timeout=20, cpu_seconds=1), isolation=isolation)
    assert result.status == "timeout" and result.reason == "CPU time limit exceeded"


@pytest.mark.parametrize("isolation", ISOLATIONS)
@pytest.mark.parametrize("hog", ["x = bytearray(8 << 30)", "x = []\nwhile True:\n    x.append(bytearray(50 << 20))"])
def test_memory_hog_is_stopped(isolation: str, hog: str) -> None:
    result = run_python(hog, SandboxLimits(timeout=20, memory_mb=512), isolation=isolation)
    assert result.status in ("failed", "error") and "memory" in (result.reason or "").lower()
    assert subprocess.run(["true"], timeout=10).returncode == 0


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_output_is_capped(isolation: str) -> None:
    code = "import sys\nfor _ in range(8):\n    sys.stdout.write('y' * (1 << 20))\nprint('done')"
    result = run_python(code, SandboxLimits(output_bytes=1 << 20), tail=1000, isolation=isolation)
    assert (result.status, result.reason) == ("error", "output limit of 1048576 bytes exceeded")
    assert "done" not in result.stdout and len(result.stdout) <= 1000


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_host_environment_is_not_inherited(isolation: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINEROUTER_TEST_SECRET", "s3cret")
    code = "import os\nprint(os.environ.get('FINEROUTER_TEST_SECRET'), os.environ['HOME'] == os.getcwd())"
    assert run_python(code, isolation=isolation).stdout.split() == ["None", "True"]


@needs_bwrap
def test_bwrap_runs_unprivileged_in_an_almost_empty_root() -> None:
    code = textwrap.dedent(
        """
        import os, sys
        caps = [line.split()[1] for line in open('/proc/self/status') if line.startswith(('CapEff', 'CapBnd'))]
        print(os.getuid() != 0, os.getgid() != 0, set(caps) == {'0000000000000000'})
        print(sorted(os.listdir('/')), os.getcwd())
        print([p for p in sys.path if 'site-packages' in p and os.listdir(p)])
        """
    )
    result = run_python(code, SandboxLimits(in_process_guard=False))
    lines = result.stdout.splitlines()
    assert lines[0] == "True True True", result.stderr
    assert lines[1].startswith("['dev', 'lib', 'lib64', 'proc', 'root', 'sandbox', 'tmp', 'usr', 'work'] /work") or (
        lines[1].startswith("['dev', 'lib', 'proc', 'sandbox', 'tmp', 'usr', 'work'] /work")
    ), lines[1]
    assert lines[2] == "[]", "third-party packages must stay hidden"


@needs_bwrap
def test_bwrap_workdir_is_private_and_size_limited() -> None:
    code = "open('big', 'wb').write(b'z' * (8 << 20))"
    result = run_python(code, SandboxLimits(workdir_mb=4, file_size_mb=16))
    assert result.status == "failed" and "No space left on device" in result.reason
    first = run_python("open('left-behind', 'w').write('x')")
    second = run_python("import os\nprint(sorted(os.listdir('.')))")
    assert first.status == "passed" and second.stdout.strip() == "['main.py']"


def test_missing_bwrap_fails_with_an_install_hint(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no bwrap on it
    with pytest.raises(SandboxUnavailable, match="apt-get install -y bubblewrap"):
        run_python("print(1)")
    with pytest.raises(SandboxUnavailable, match="guard-only"):
        grade("code", "def f():\n    return 1", ["assert f() == 1"])  # not a silent 0, not the weak guard
    assert run_python("print(1)", isolation="guard-only").status == "passed"  # only when asked for explicitly


def test_unknown_isolation_is_refused() -> None:
    with pytest.raises(ValueError, match="valid: bwrap, guard-only"):
        run_python("print(1)", isolation="docker")  # type: ignore[arg-type]


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


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_fork_attempts_are_refused(isolation: str) -> None:
    result = run_python(FORK_PROBE, SandboxLimits(timeout=30), isolation=isolation)
    assert result.status == "passed" and result.stdout.strip() == "forked 0"


def test_guard_only_refuses_spawning() -> None:
    before = _processes()
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
    spawned = run_python(spawners, SandboxLimits(timeout=10), isolation="guard-only")
    assert spawned.status == "passed" and spawned.stdout == ""
    assert _processes() <= before + 20


def test_guard_only_keeps_files_outside_the_workdir(tmp_path) -> None:
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
    result = run_python(code, isolation="guard-only")
    assert result.status == "passed", result.stderr
    count, workdir = result.stdout.split()[1:]
    assert count == "0" and canary.read_text() == "alive" and oct(canary.stat().st_mode)[-3:] != "000"
    assert not os.path.exists(workdir), "the working directory is temporary"


@pytest.mark.parametrize(
    ("isolation", "namespace", "network"),
    [pytest.param("bwrap", True, "namespace", marks=needs_bwrap), ("guard-only", True, "namespace"),
     ("guard-only", False, "blocked")],
)  # fmt: skip
def test_no_connection_reaches_a_loopback_listener(isolation: str, namespace: bool, network: str) -> None:
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
        result = run_python(code, SandboxLimits(timeout=10, network_namespace=namespace), isolation=isolation)
        assert result.status == "failed" and "connected" not in result.stdout
        assert result.network == network
        server.settimeout(0.5)
        with pytest.raises(TimeoutError):
            server.accept()
