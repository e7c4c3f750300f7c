"""Publishing a completed stage output to `<root>/<run>-<hash>/` with an atomic LATEST pointer."""

from __future__ import annotations

from pathlib import Path

import pytest

from finerouter.config import load_config
from finerouter.errors import FineRouterError
from finerouter.pipeline.publish import latest, publish
from finerouter.pipeline.runner import run_stages
from finerouter.pipeline.stage import Stage, StageContext


class Bundle(Stage):
    name = "bundle"

    def config_key(self, config):
        return {"seed": config.seed}

    def run(self, ctx: StageContext):
        (ctx.out_dir / "weights.txt").write_text(f"seed {ctx.config.seed}")
        return {}


def build(tmp_path: Path, seed: int) -> Path:
    cfg = load_config(
        None, [f"artifacts_dir={tmp_path / 'artifacts'}", "run=r", "data.format=synthetic", f"seed={seed}"]
    )
    run_stages(cfg, [Bundle()])
    return cfg.run_dir / "bundle"


def test_publish_versions_by_content_and_moves_latest(tmp_path: Path) -> None:
    root = tmp_path / "published"
    first = publish(build(tmp_path, 1), root, "r")
    assert first.name.startswith("r-") and (first / "weights.txt").read_text() == "seed 1"
    assert latest(root) == first
    assert publish(build(tmp_path, 1), root, "r") == first  # same content: same version, nothing copied again
    second = publish(build(tmp_path, 2), root, "r")
    assert second != first and latest(root) == second
    assert (first / "weights.txt").read_text() == "seed 1"  # older versions stay for rollback
    assert sorted(p.name for p in root.iterdir()) == sorted(["LATEST", first.name, second.name])


def test_publish_refuses_an_incomplete_output(tmp_path: Path) -> None:
    (tmp_path / "half").mkdir()
    with pytest.raises(FineRouterError, match="not a completed stage output"):
        publish(tmp_path / "half", tmp_path / "published", "r")
    with pytest.raises(FineRouterError, match="nothing published"):
        latest(tmp_path / "published")


def test_a_serve_swap_needs_the_job_to_pass_one_in(tmp_path: Path) -> None:
    """The pipeline never imports serve_app: the job hands the publish stage its Serve bundle swap."""
    from finerouter.errors import ConfigError
    from finerouter.stages import default_stages
    from finerouter.stages.publish import PublishStage
    from jobs.rebuild import swap_serve_bundle

    config = load_config(None, ["data.format=synthetic", f"publish.root={tmp_path}", "publish.serve_app=finerouter"])
    with pytest.raises(ConfigError, match="started without a Serve bundle swap"):
        PublishStage(config).preflight(config)
    (publish_stage,) = [s for s in default_stages(config, swap_bundle=swap_serve_bundle) if s.name == "publish"]
    assert publish_stage.swap_bundle is swap_serve_bundle and publish_stage.needs_ray
