from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.serve_app.fake_upstream import FakeUpstream

# Read by the Serve replicas, which inherit the environment of the Ray started later in the session.
UPSTREAM_KEY_ENV = "FINEROUTER_TEST_UPSTREAM_KEY"
UPSTREAM_KEY = "sk-upstream-test"
os.environ.setdefault(UPSTREAM_KEY_ENV, UPSTREAM_KEY)


@pytest.fixture(scope="module")
def fake_upstream() -> Iterator[FakeUpstream]:
    upstream = FakeUpstream(api_key=UPSTREAM_KEY).start()
    yield upstream
    upstream.stop()


@pytest.fixture(scope="module")
def router_bundle(tmp_path_factory):
    """(bundle dir, router class import path, loaded router) for the Serve tests."""
    from tests.serve_app.contract_double import ContractDoubleRouter, write_double_bundle

    costs = {"small": 0.0001, "medium": 0.001, "large": 0.01, "huge": 0.03, "giant": 0.06}
    path = write_double_bundle(tmp_path_factory.mktemp("bundle"), "double-1", costs)
    return path, "tests.serve_app.contract_double:ContractDoubleRouter", ContractDoubleRouter.load(path)
