"""The real stages: two identical demo rebuilds, in different directories under different run names, give identical
output hashes in every _COMPLETE.json; forcing a stage that reproduces its output reruns none of its dependants."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from finerouter.config import RebuildConfig, load_config
from finerouter.pipeline.stage import MARKER_FILE, TIMINGS_FILE
from jobs.rebuild import main

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def tiny_demo(artifacts: Path, run: str) -> RebuildConfig:
    return load_config(
        REPO / "configs/demo.yaml",
        [
            f"artifacts_dir={artifacts}",
            f"run={run}",
            "data.synthetic.n_prompts=400",
            "stage2.classifier.epochs=3",
            "stage2.estimator.epochs=3",
            f"publish.root={artifacts / 'published'}",
        ],
    )


def output_hashes(run_dir: Path) -> dict[str, str]:
    return {
        marker.parent.name: json.loads(marker.read_text())["output_fingerprint"]
        for marker in sorted(run_dir.glob(f"*/{MARKER_FILE}"))
    }


def test_identical_rebuilds_give_identical_output_hashes(tmp_path: Path, ray_local) -> None:
    first, second = tiny_demo(tmp_path / "one", "first"), tiny_demo(tmp_path / "two", "second")
    stages = [o.name for o in main(first)]
    main(second)
    hashes = output_hashes(first.run_dir)
    assert list(hashes) == sorted(stages)
    assert hashes == output_hashes(second.run_dir)
    # Timings are still recorded, beside the outputs.
    levels = json.loads((first.run_dir / "communities" / TIMINGS_FILE).read_text())
    assert levels and all("leiden" in level for level in levels)
    fit_seconds = json.loads((first.run_dir / "evaluate" / TIMINGS_FILE).read_text())["fit_seconds"]
    assert set(fit_seconds) == set(json.loads((first.run_dir / "evaluate/results.json").read_text())["routers"])

    forced = {o.name: o.status for o in main(second, force=["communities"])}
    assert forced["communities"] == "ran"
    assert {status for name, status in forced.items() if name != "communities"} == {"skipped"}
    assert output_hashes(second.run_dir) == hashes
