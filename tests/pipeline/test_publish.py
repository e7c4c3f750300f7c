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
