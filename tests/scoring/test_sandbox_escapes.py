"""The escape probe suite (`sandbox_probes.PROBES`) against the bubblewrap sandbox: none may have its effect.

Each probe runs with the in-process guard off (the operating-system layer alone must hold) and on (both layers).
"""

from __future__ import annotations

import secrets
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from finerouter.scoring.sandbox import SandboxLimits, run_python
from tests.scoring.sandbox_probes import CANARY_TEXT, HOST_SECRET_ENV, PROBES, Probe, ProbeHost

REPO_ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(
    shutil.which("bwrap") is None, reason="bubblewrap is not installed (apt-get install -y bubblewrap)"
)


@pytest.fixture(scope="module")
def host_services() -> Iterator[tuple[socket.socket, subprocess.Popen]]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        sleeper = subprocess.Popen(["sleep", "600"])
        yield listener, sleeper
        sleeper.kill()
        sleeper.wait()


@pytest.fixture
def probe_host(tmp_path: Path, host_services, monkeypatch: pytest.MonkeyPatch) -> ProbeHost:
    monkeypatch.setenv(HOST_SECRET_ENV, "s3cret-probe")
    listener, sleeper = host_services
    (tmp_path / "canary.txt").write_text(CANARY_TEXT)
    marker = "frp" + secrets.token_hex(4)
    return ProbeHost(tmp_path, listener, sleeper.pid, marker, REPO_ROOT / "pyproject.toml")


def test_the_suite_has_at_least_25_probes() -> None:
    assert len(PROBES) >= 25 and len({p.name for p in PROBES}) == len(PROBES)


@pytest.mark.parametrize("guard", [False, True], ids=["os-layer-only", "with-guard"])
@pytest.mark.parametrize("probe", PROBES, ids=[p.name for p in PROBES])
def test_probe_has_no_effect(probe: Probe, guard: bool, probe_host: ProbeHost) -> None:
    code = probe.code.format(**probe_host.fields())
    result = run_python(code, SandboxLimits(timeout=probe.timeout, in_process_guard=guard), isolation="bwrap")
    assert result.isolation == "bwrap" and result.network == "namespace"
    effect = probe.check(probe_host, result)
    assert effect is None, f"{probe.name}: {effect}\nstdout: {result.stdout[-500:]}\nstderr: {result.stderr[-500:]}"
