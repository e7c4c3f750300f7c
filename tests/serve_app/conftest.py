from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT
from tests.serve_app.fake_upstream import FakeUpstream

# Read by the Serve replicas, which inherit the environment of the Ray started later in the session.
UPSTREAM_KEY_ENV = "FINEROUTER_TEST_UPSTREAM_KEY"
UPSTREAM_KEY = "sk-upstream-test"
os.environ.setdefault(UPSTREAM_KEY_ENV, UPSTREAM_KEY)

TEST_RUN = "llmrouter-serve-tests"
# A real bundle from a uniform sample of the LLMRouter table (embedding all its 6k prompts takes ~5 min on 2 cores).
SAMPLE_PROMPTS = 800
CHEAP_STAGE2 = ["stage2.classifier.epochs=3", "stage2.estimator.epochs=3"]


@pytest.fixture(scope="module")
def fake_upstream() -> Iterator[FakeUpstream]:
    upstream = FakeUpstream(api_key=UPSTREAM_KEY).start()
    yield upstream
    upstream.stop()


def build_test_bundle(shared_data: Path) -> Path:
    """A real router bundle: the rebuild job on a sample of the LLMRouter table, stage 2 trained for a few epochs,
    into artifacts/llmrouter-serve-tests/. Later sessions find its stages complete and skip them; a stage whose code
    or config changed since is rerun, so the bundle always matches the code."""
    run_dir = REPO_ROOT / "artifacts" / TEST_RUN
    command = [sys.executable, "-m", "jobs.rebuild", "--config", "configs/llmrouter.yaml", "--until", "bundle"]
    overrides = [
        f"run={TEST_RUN}",
        f"data.sources=[{shared_data / 'llmrouter'}]",
        f"data.split.sample_prompts={SAMPLE_PROMPTS}",
        *CHEAP_STAGE2,
    ]
    for item in overrides:
        command += ["--set", item]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    env.pop("RAY_ADDRESS", None)
    done = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stderr[-3000:]
    return run_dir / "bundle"


@pytest.fixture(scope="session")
def router_bundle(shared_data: Path):
    """(bundle dir, router class import path, loaded Router) built from real data (see build_test_bundle).
    FINEROUTER_TEST_BUNDLE=DIR uses an existing bundle instead."""
    from finerouter.routing.router import Router

    given = os.environ.get("FINEROUTER_TEST_BUNDLE")
    bundle = Path(given) if given else build_test_bundle(shared_data)
    return bundle, "finerouter.routing.router:Router", Router.load(bundle)
