from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.ops.head import Head, start_head


@pytest.fixture(scope="session")
def ray_head() -> Iterator[Head]:
    """A local Ray head with the dashboard (job API) on free ports; stopped by signalling only its processes."""
    head = start_head(num_cpus=2)
    yield head
    head.stop()
