"""The preflight: demands computed from the configuration, compared with what the cluster has free."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from finerouter import cluster
from finerouter.cluster import ClusterView, Demand, check, pool, shortfalls
from finerouter.config import load_config
from finerouter.errors import ResourceShortfallError
from finerouter.pipeline.rebuild_preflight import pending_ray_stages
from finerouter.stages import default_stages

REPO = Path(__file__).resolve().parents[2]


def demo(tmp_path: Path, *overrides: str):
    return load_config(REPO / "configs/demo.yaml", [f"artifacts_dir={tmp_path}", *overrides])


def stage_demands(name: str, config) -> list[Demand]:
    """What the rebuild's stage `name` declares it asks Ray for under `config`."""
    return next(s for s in default_stages(config) if s.name == name).demands(config)


def two_cpus_with(free: float) -> ClusterView:
    return ClusterView({"CPU": free}, {"CPU": 2.0}, {"CPU": 2.0})


def test_stage_demands_follow_the_config(tmp_path: Path) -> None:
    config = demo(
        tmp_path,
        "stage2.scaling.num_workers=2",
        "stage2.scaling.cpus_per_worker=0.75",
        "embed.workers=3",
        "embed.num_cpus=0.5",
        "describe.backend=openai",
        "describe.openai.base_url=http://127.0.0.1:1/v1",
        "describe.openai.model=m",
    )
    (train,) = stage_demands("train_classifier", config)
    assert train.total() == {"CPU": 1.5} and len(train.bundles) == 2
    assert stage_demands("train_router", config)[0].total() == {"CPU": 1.5}
    assert stage_demands("embed", config)[0].total() == {"CPU": 1.5}
    assert stage_demands("describe", config)[0].total() == {"CPU": 0.5}
    assert stage_demands("knn", config) == [] and stage_demands("finetune_encoder", config) == []
    (auto,) = stage_demands("embed", demo(tmp_path, "embed.workers=auto"))  # as many as fit, at least one
    assert auto.total() == {"CPU": 1.0}
    tuned = stage_demands("finetune_encoder", demo(tmp_path, "stage2.encoder=finetune"))
    assert [d.total() for d in tuned] == [{"CPU": 1.0}, {"CPU": 1.0}]  # training, then re-embedding


def test_every_stage_still_to_run_that_needs_ray_is_checked(tmp_path: Path) -> None:
    config = demo(tmp_path)
    pending = [s.name for s in pending_ray_stages(config, default_stages(config), frozenset())]
    assert pending == ["embed", "train_classifier", "train_router"]
    assert all(stage_demands(name, config) for name in pending)


def test_a_shortfall_names_the_stage_the_need_what_is_free_and_the_fixes(tmp_path: Path) -> None:
    config = demo(tmp_path, "stage2.scaling.num_workers=2")
    demands = stage_demands("embed", config) + stage_demands("train_classifier", config)
    with pytest.raises(ResourceShortfallError) as caught:
        check(demands, "fail", wait_s=0, view=lambda: two_cpus_with(0.9), held_by=lambda: ["1 x Router: {CPU: 1}"])
    message = str(caught.value)
    assert "embed: embedding actor pool, 1 x {CPU: 1} needs 1 CPU; the cluster has 0.9 of 2 CPU free" in message
    assert "train_classifier: Ray Train workers, 2 x {CPU: 1} needs 2 CPU; the cluster has 0.9 of 2 CPU free" in message
    assert "--set stage2.scaling.num_workers=1" in message and "--set stage2.scaling.cpus_per_worker=0.5" in message
    assert "--set embed.num_cpus=0.5" in message and "--set embed.workers" not in message  # one actor: no fewer
    assert "Held now by: 1 x Router: {CPU: 1}" in message
    assert "--replica-cpus" in message and "ray start --head --num-cpus" in message


def test_what_fits_passes_and_demands_are_not_added_across_stages(tmp_path: Path) -> None:
    config = demo(tmp_path)  # embed and training take 1 CPU each, one after the other
    demands = stage_demands("embed", config) + stage_demands("train_router", config)
    assert shortfalls(demands, two_cpus_with(1.0)) == []
    assert check(demands, "fail", wait_s=0, view=lambda: two_cpus_with(1.0)) == []


def test_one_worker_larger_than_any_node() -> None:
    demand = pool("train_router", "Ray Train workers", 2, {"CPU": 4})
    view = ClusterView({"CPU": 16.0}, {"CPU": 16.0}, {"CPU": 8.0})  # two 8-CPU nodes, all free
    assert shortfalls([demand], view) == []
    big = pool("train_router", "Ray Train workers", 1, {"CPU": 12})
    (found,) = shortfalls([big], view)
    assert found.single_bundle and found.needed == 12
    assert "one worker needs 12 CPU, more than any node has (largest: 8)" in cluster.report([found], [])


def test_warn_mode_logs_and_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    demand = Demand("embed", "embedding actor pool, 1 x {GPU: 1}", ({"GPU": 1.0},))
    with caplog.at_level(logging.WARNING, logger="finerouter.preflight"):
        found = check([demand], "warn", wait_s=0, view=lambda: two_cpus_with(2.0), held_by=list)
    assert [s.resource for s in found] == ["GPU"]
    assert "needs 1 GPU; the cluster has no GPU" in caplog.text
    assert check([demand], "skip", wait_s=0, view=lambda: two_cpus_with(2.0)) == []


def test_resources_still_being_released_are_waited_for(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cluster, "POLL_S", 0.0)
    seen = iter([0.0, 0.5, 2.0])  # the previous stage's actor is released on the third look
    views: list[float] = []

    def view() -> ClusterView:
        views.append(next(seen))
        return two_cpus_with(views[-1])

    assert check([pool("embed", "pool", 1, {"CPU": 1.0})], "fail", wait_s=60, view=view) == []
    assert views == [0.0, 0.5, 2.0]
