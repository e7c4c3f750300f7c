"""Stage skipping: a rerun skips completed stages; a changed config field or input reruns what depends on it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from finerouter.config import RebuildConfig, load_config
from finerouter.pipeline.runner import run_stages
from finerouter.pipeline.stage import MARKER_FILE, Stage, StageContext


class Source(Stage):
    name = "source"
    calls = 0

    def config_key(self, config: RebuildConfig) -> Any:
        return {"salt": config.data.split.salt}

    def run(self, ctx: StageContext) -> dict[str, Any]:
        Source.calls += 1
        (ctx.out_dir / "value.txt").write_text(ctx.config.data.split.salt.upper())
        return {"n": 1}


class Derived(Stage):
    name = "derived"
    inputs = ("source",)
    calls = 0

    def config_key(self, config: RebuildConfig) -> Any:
        return {"seed": config.seed}

    def run(self, ctx: StageContext) -> dict[str, Any]:
        Derived.calls += 1
        value = (ctx.input_dir("source") / "value.txt").read_text()
        (ctx.out_dir / "out.txt").write_text(f"{value}-{ctx.config.seed}")
        return {}


class Broken(Stage):
    name = "broken"

    def config_key(self, config: RebuildConfig) -> Any:
        return {}

    def run(self, ctx: StageContext) -> dict[str, Any]:
        (ctx.out_dir / "partial.txt").write_text("half")
        raise RuntimeError("boom")


def cfg(tmp_path: Path, **overrides: Any) -> RebuildConfig:
    sets = [
        f"artifacts_dir={tmp_path}",
        "run=t",
        "data.format=synthetic",
        *(f"{k}={v}" for k, v in overrides.items()),
    ]
    return load_config(None, sets)


@pytest.fixture(autouse=True)
def _reset_counts() -> None:
    Source.calls = Derived.calls = 0


def statuses(outcomes) -> dict[str, str]:
    return {o.name: o.status for o in outcomes}


def test_rerun_skips_and_config_change_reruns_only_dependents(tmp_path: Path) -> None:
    stages = [Source(), Derived()]
    assert statuses(run_stages(cfg(tmp_path), stages)) == {"source": "ran", "derived": "ran"}
    assert statuses(run_stages(cfg(tmp_path), stages)) == {"source": "skipped", "derived": "skipped"}
    assert (Source.calls, Derived.calls) == (1, 1)
    # A field only `derived` reads: `source` stays skipped.
    assert statuses(run_stages(cfg(tmp_path, seed=7), stages)) == {"source": "skipped", "derived": "ran"}
    assert (tmp_path / "t/derived/out.txt").read_text() == "FINEROUTER-7"
    # A field `source` reads: both rerun (derived because its input's fingerprint changed).
    assert statuses(run_stages(cfg(tmp_path, seed=7, **{"data.split.salt": "x"}), stages)) == {
        "source": "ran",
        "derived": "ran",
    }
    assert (tmp_path / "t/derived/out.txt").read_text() == "X-7"
    summary = json.loads((tmp_path / "t/summary.json").read_text())
    assert [s["status"] for s in summary["stages"]] == ["ran", "ran"]


def test_same_output_does_not_cascade(tmp_path: Path) -> None:
    stages = [Source(), Derived()]
    run_stages(cfg(tmp_path), stages)
    # Forcing `source` reproduces identical output, so `derived` (keyed on content) is still up to date.
    assert statuses(run_stages(cfg(tmp_path), stages, force=frozenset({"source"}))) == {
        "source": "ran",
        "derived": "skipped",
    }


def test_failed_stage_leaves_no_marker_and_no_partial_output(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="boom"):
        run_stages(cfg(tmp_path), [Broken()])
    assert not (tmp_path / "t/broken").exists()
    assert not (tmp_path / "t/broken" / MARKER_FILE).exists()


def test_changed_external_input_reruns(tmp_path: Path) -> None:
    src = tmp_path / "src.txt"
    src.write_text("a")

    class ReadsFile(Source):
        name = "reads"

        def external_inputs(self, config: RebuildConfig) -> list[Path]:
            return [src]

    assert statuses(run_stages(cfg(tmp_path), [ReadsFile()])) == {"reads": "ran"}
    assert statuses(run_stages(cfg(tmp_path), [ReadsFile()])) == {"reads": "skipped"}
    src.write_text("bb")
    assert statuses(run_stages(cfg(tmp_path), [ReadsFile()])) == {"reads": "ran"}
