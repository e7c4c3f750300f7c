from __future__ import annotations

import os
import shutil
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

# Stage-1 artifacts of the LLMRouter table (embedding its 6k prompts takes ~5 min on 2 cores, so they are reused).
STAGE1_CACHE = Path(os.environ.get("FINEROUTER_STAGE1_CACHE", "/work/cache/artifacts/llmrouter"))
STAGE1 = ("import", "stats", "describe", "embed", "preferences", "knn", "graph", "communities", "tasks", "task_report")
TEST_RUN = "llmrouter-serve-tests"
CHEAP_STAGE2 = ["stage2.classifier.epochs=3", "stage2.estimator.epochs=3"]


@pytest.fixture(scope="module")
def fake_upstream() -> Iterator[FakeUpstream]:
    upstream = FakeUpstream(api_key=UPSTREAM_KEY).start()
    yield upstream
    upstream.stop()


def build_test_bundle() -> Path:
    """A real router bundle: the LLMRouter table's stage-1 artifacts + stage 2 trained for a few epochs, built once
    into artifacts/llmrouter-serve-tests/ by the rebuild job. Later sessions find its stages complete and skip them;
    a stage whose code or config changed since is rerun, so the bundle always matches the code."""
    run_dir = REPO_ROOT / "artifacts" / TEST_RUN
    for stage in STAGE1:
        if not (run_dir / stage).is_dir():
            shutil.copytree(STAGE1_CACHE / stage, run_dir / stage)
    command = [sys.executable, "-m", "jobs.rebuild", "--config", "configs/llmrouter.yaml", "--until", "bundle"]
    for item in [f"run={TEST_RUN}", *CHEAP_STAGE2]:
        command += ["--set", item]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    env.pop("RAY_ADDRESS", None)
    done = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return run_dir / "bundle"


@pytest.fixture(scope="session")
def router_bundle(shared_data: Path):
    """(bundle dir, router class import path, loaded Router) built from real data (see build_test_bundle).
    FINEROUTER_TEST_BUNDLE=DIR uses an existing bundle instead."""
    from finerouter.routing.router import Router

    given = os.environ.get("FINEROUTER_TEST_BUNDLE")
    if given:
        bundle = Path(given)
    elif (STAGE1_CACHE / "tasks" / "_COMPLETE.json").is_file():
        bundle = build_test_bundle()
    else:
        pytest.skip(f"no stage-1 artifacts at {STAGE1_CACHE}: set FINEROUTER_STAGE1_CACHE or FINEROUTER_TEST_BUNDLE")
    return bundle, "finerouter.routing.router:Router", Router.load(bundle)
