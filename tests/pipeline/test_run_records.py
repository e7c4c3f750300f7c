"""Run records (timings, stamps, run names) stay out of output fingerprints: identical runs, identical hashes."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import pytest

from finerouter.config import RebuildConfig, load_config
from finerouter.fingerprint import TIMINGS_FILE, fingerprint_outputs
from finerouter.pipeline.runner import run_stages
from finerouter.pipeline.stage import Stage, StageContext, read_marker


class Timed(Stage):
    """Writes a result plus what differs between identical runs: its time, a creation stamp, the run's name."""

    name = "timed"
    recorded_fields: ClassVar[dict[str, tuple[str, ...]]] = {"meta.json": ("created", "source_run")}

    def config_key(self, config: RebuildConfig) -> Any:
        return {"seed": config.seed}

    def run(self, ctx: StageContext) -> dict[str, Any]:
        started = time.perf_counter_ns()
        (ctx.out_dir / "value.txt").write_text(f"seed {ctx.config.seed}")
        meta = {
            "value": ctx.config.seed,
            "created": datetime.now(UTC).isoformat(timespec="microseconds"),
            "source_run": str(ctx.run_dir),
        }
        (ctx.out_dir / "meta.json").write_text(json.dumps(meta))
        (ctx.out_dir / TIMINGS_FILE).write_text(json.dumps({"ns": time.perf_counter_ns() - started}))
        return {}


class Consumer(Stage):
    name = "consumer"
    inputs = ("timed",)
    calls = 0

    def config_key(self, config: RebuildConfig) -> Any:
        return {}

    def run(self, ctx: StageContext) -> dict[str, Any]:
        Consumer.calls += 1
        (ctx.out_dir / "out.txt").write_text((ctx.input_dir("timed") / "value.txt").read_text() + "!")
        return {}


def cfg(artifacts: Path, run: str, seed: int = 0) -> RebuildConfig:
    return load_config(None, [f"artifacts_dir={artifacts}", f"run={run}", "data.format=synthetic", f"seed={seed}"])


def fingerprints(config: RebuildConfig) -> dict[str, str]:
    return {name: read_marker(config.run_dir / name)["output_fingerprint"] for name in ("timed", "consumer")}


def test_identical_runs_give_identical_output_hashes(tmp_path: Path) -> None:
    first, second = cfg(tmp_path / "one", "first"), cfg(tmp_path / "two", "second")
    run_stages(first, [Timed(), Consumer()])
    run_stages(second, [Timed(), Consumer()])
    assert (first.run_dir / "timed/meta.json").read_text() != (second.run_dir / "timed/meta.json").read_text()
    assert fingerprints(first) == fingerprints(second)
    # A real difference still changes the hash.
    other = cfg(tmp_path / "three", "third", seed=1)
    run_stages(other, [Timed(), Consumer()])
    assert fingerprints(other)["timed"] != fingerprints(first)["timed"]


def test_forcing_a_stage_whose_output_is_unchanged_leaves_its_dependants_skipped(tmp_path: Path) -> None:
    config = cfg(tmp_path, "t")
    run_stages(config, [Timed(), Consumer()])
    Consumer.calls = 0
    again = run_stages(config, [Timed(), Consumer()], force=frozenset({"timed"}))
    assert {o.name: o.status for o in again} == {"timed": "ran", "consumer": "skipped"}
    assert Consumer.calls == 0


def test_recorded_fields_must_name_a_json_object(tmp_path: Path) -> None:
    (tmp_path / "meta.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match=r"meta\.json is declared a JSON output with recorded fields but holds a list"):
        fingerprint_outputs(tmp_path, {"meta.json": ("created",)})
