from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ops.head import Head, start_head
from tests.ops.jobs import demo_overrides, logs, submit, wait


@pytest.fixture(scope="session")
def ray_head() -> Iterator[Head]:
    """A local Ray head with the dashboard (job API) on free ports; stopped by signalling only its processes."""
    try:
        head = start_head(num_cpus=2)
    except RuntimeError:  # on a loaded shared machine the GCS can miss its start-up deadline once
        head = start_head(num_cpus=2)
    yield head
    head.stop()


@pytest.fixture(scope="session")
def ops_artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ops-artifacts")


@pytest.fixture(scope="session")
def clean_run(ray_head: Head, ops_artifacts: Path) -> tuple[str, Path]:
    """One uninterrupted demo rebuild through `ray job submit`: the reference the fault drills compare with."""
    job = submit(ray_head, demo_overrides(ops_artifacts, "clean"))
    assert wait(ray_head, job) == "SUCCEEDED", logs(ray_head, job)[-6000:]
    return job, ops_artifacts / "clean"
