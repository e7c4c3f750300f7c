"""The scale benchmark at a tiny size, so it cannot rot: two whole rebuilds, every stage timed, growth exponents
fitted, the embed stage's throughput a ratio of the raw encoder's measured in the same run."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from benchmarks.scale_rebuild import growth_exponent, main, split_overrides
from finerouter.stages import STAGE_NAMES

TINY = [
    "data.synthetic.n_families=8",
    "discovery.knn.index=flat",
    "stage2.classifier.epochs=2",
    "stage2.estimator.epochs=2",
    "ray.progress_interval_s=60",
]

WORKING_STAGES = ("import", "embed", "communities", "train_classifier", "train_router", "bundle", "evaluate")


def test_growth_exponent_of_a_power_law() -> None:
    assert growth_exponent([1000, 2000, 4000], [3.0, 6.0, 12.0]) == pytest.approx(1.0)
    assert growth_exponent([1000, 2000], [1.0, 4.0]) == pytest.approx(2.0)
    assert growth_exponent([1000, 2000], [0.0, 4.0]) is None  # one usable point


def test_dev_and_test_are_capped() -> None:
    for n_prompts, held in [(280_000, 35_000), (1_000_000, 35_000), (8000, 1000)]:
        sets = {k: float(v) for k, v in (item.split("=") for item in split_overrides(n_prompts, 35_000))}
        assert sets["data.split.test"] * n_prompts == pytest.approx(held)
        assert sets["data.split.dev"] == sets["data.split.test"]
        assert sum(sets.values()) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.slow
def test_scale_benchmark_at_a_tiny_size(tmp_path: Path) -> None:
    argv = ["--sizes", "300", "600", "--out", str(tmp_path), "--encoder-texts", "64"]
    for item in TINY:
        argv += ["--set", item]
    result = main(argv)
    saved = json.loads((tmp_path / "scale_rebuild.json").read_text())
    assert saved["runs"] == result["runs"] and [r["prompts"] for r in saved["runs"]] == [300, 600]
    expected = {n for n in STAGE_NAMES if n not in ("generate", "score", "publish")}
    for run in saved["runs"]:
        assert expected <= set(run["stages"]), sorted(expected - set(run["stages"]))
        assert all(s["seconds"] >= 0 for s in run["stages"].values())
        assert all(run["stages"][name]["seconds"] > 0 for name in WORKING_STAGES)
        assert run["peak_rss_bytes"] > 100 * 2**20 and run["peak_rss_processes"] > 2  # driver + Ray's processes
        assert 0 < run["peak_pss_bytes"] <= run["peak_rss_bytes"]  # shared pages count once, not per process
        assert run["peak_pss_top"] and run["peak_pss_top"][0]["pss_bytes"] <= run["peak_pss_bytes"]
        long_stages = {name for name, stage in run["stages"].items() if stage["seconds"] >= 2.0}
        assert long_stages and long_stages <= set(run["stage_memory"])  # each sampled while it ran
        for mem in run["stage_memory"].values():
            assert 0 < mem["pss_bytes"] <= mem["rss_bytes"] <= run["peak_rss_bytes"]
        embed = run["embed"]
        assert embed["workers"] == 2 and embed["threads_per_worker"] == 1  # configs/scale.yaml: 2 CPUs, auto
        assert embed["efficiency"] > 0 and math.isfinite(embed["efficiency"])
        assert Path(run["bundle"], "bundle.json").is_file() and any(r.endswith("report.md") for r in run["reports"])
    raw = saved["raw_encoder"]
    assert raw["texts"] == 64 and raw["texts_per_s"] == pytest.approx(sum(raw["texts_per_s_before_after"]) / 2)
    assert all(v > 0 for v in raw["texts_per_s_before_after"])
    assert set(saved["exponents"]) == {*saved["runs"][0]["stages"], "rebuild", "peak_rss", "peak_pss"}
    for name in [*WORKING_STAGES, "rebuild", "peak_rss"]:
        assert math.isfinite(saved["exponents"][name]), name
    for name, exponent in saved["exponents"].items():  # a stage timed at 0.0 s somewhere has none, not a made-up one
        timed = [r["stages"][name]["seconds"] > 0 for r in saved["runs"]] if name in saved["runs"][0]["stages"] else []
        assert (exponent is None) == (not all(timed)) if timed else exponent is not None
    table = (tmp_path / "scale_rebuild.md").read_text()
    assert "| embed |" in table and "efficiency vs raw encoder" in table and "peak summed PSS" in table
