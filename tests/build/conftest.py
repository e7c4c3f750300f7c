"""Small real bundles from the simulated benchmark (tests/routing/factory.py), shared by the build tests."""

from __future__ import annotations

import pytest

from tests.routing.factory import make_bundle, synthetic_run


@pytest.fixture(scope="package")
def run():
    return synthetic_run()


@pytest.fixture(scope="package")
def bundle(run, tmp_path_factory):
    return make_bundle(tmp_path_factory.mktemp("b") / "bundle", run, models=run.data.models[:4])


@pytest.fixture(scope="package")
def ensemble_bundle(run, tmp_path_factory):
    return make_bundle(tmp_path_factory.mktemp("e") / "bundle", run, models=run.data.models[:4], members=3)
