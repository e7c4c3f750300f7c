"""The job connects to a named Ray cluster, or starts an embedded one with the configured resources."""

from __future__ import annotations

import pytest

from finerouter.pipeline.ray_runtime import ensure_ray, resolve_address
from finerouter.ray_config import FaultToleranceConfig, RayConfig
from finerouter.stage2.ray_runner import train_run_config


def test_address_resolution(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    assert resolve_address(RayConfig()) is None
    monkeypatch.setenv("RAY_ADDRESS", "http://127.0.0.1:8265")
    assert resolve_address(RayConfig()) == "http://127.0.0.1:8265"
    assert resolve_address(RayConfig(address="ray://head:10001")) == "ray://head:10001"


def test_local_ray_gets_the_configured_resources(monkeypatch: pytest.MonkeyPatch) -> None:
    import ray

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    ray.shutdown()
    try:
        ensure_ray(RayConfig(num_cpus=1, num_gpus=0))
        assert ray.cluster_resources()["CPU"] == 1
        assert "GPU" not in ray.cluster_resources()
        ensure_ray(RayConfig(num_cpus=2))  # already connected: no second init
        assert ray.cluster_resources()["CPU"] == 1
    finally:
        ray.shutdown()


def test_train_run_config_carries_the_configured_fault_tolerance(tmp_path) -> None:
    ft = FaultToleranceConfig(train_max_failures=5, train_checkpoints_to_keep=3)
    run = train_run_config(ft, tmp_path / "train", "demo-router")
    assert run.name == "demo-router" and run.storage_path == str((tmp_path / "train").resolve())
    assert run.failure_config.max_failures == 5 and run.checkpoint_config.num_to_keep == 3
