"""A synthetic run and a four-model bundle made from it, one per test module."""

from __future__ import annotations

import pytest

from tests.routing.factory import make_bundle, synthetic_run


@pytest.fixture(scope="module")
def run():
    return synthetic_run()


@pytest.fixture(scope="module")
def bundle(run, tmp_path_factory):
    return make_bundle(tmp_path_factory.mktemp("b") / "bundle", run, models=run.data.models[:4])
