"""What the runner does for operations: one rebuild per run directory, cleanup after a dead driver, and a
summary.json that says what happened (also when a stage fails)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from finerouter.config import RebuildConfig, load_config
from finerouter.pipeline.runner import StageOutcome, remove_stale_scratch, run_lock, run_stages
from finerouter.pipeline.stage import Stage, StageContext


class Counted(Stage):
    name = "counted"

    def config_key(self, config: RebuildConfig) -> Any:
        return {}

    def run(self, ctx: StageContext) -> dict[str, Any]:
        (ctx.out_dir / "report.md").write_text("# report\n")
        return {"rows": 42}


class Fails(Stage):
    name = "fails"
    inputs = ("counted",)

    def config_key(self, config: RebuildConfig) -> Any:
        return {}

    def run(self, ctx: StageContext) -> dict[str, Any]:
        raise ValueError("bad row 7")


def cfg(tmp_path: Path) -> RebuildConfig:
    return load_config(None, [f"artifacts_dir={tmp_path}", "run=t", "data.format=synthetic"])


def test_summary_has_status_rows_reports_and_the_failed_stage(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="bad row 7"):
        run_stages(cfg(tmp_path), [Counted(), Fails()])
    summary = json.loads((tmp_path / "t/summary.json").read_text())
    assert summary["status"] == "failed" and summary["bundle"] is None
    assert summary["reports"] == [str((tmp_path / "t/counted/report.md").resolve())]
    assert [(s["name"], s["status"], s["rows"]) for s in summary["stages"]] == [
        ("counted", "ran", 42),
        ("fails", "failed", None),
    ]
    assert summary["stages"][1]["error"] == "ValueError: bad row 7"
    assert not list((tmp_path / "t").glob(".*.tmp-*"))  # the failed stage's scratch is gone

    run_stages(cfg(tmp_path), [Counted()])
    assert json.loads((tmp_path / "t/summary.json").read_text())["status"] == "succeeded"


def test_rows_follow_the_stats_conventions() -> None:
    def rows(stats: dict) -> int | None:
        return StageOutcome("s", "ran", 0.0, stats).rows

    assert rows({"rows": 3, "prompts": 9}) == 3
    assert rows({"prompts": 9}) == 9
    assert rows({"counts": {"prompts": {"in": 10, "kept": 8}}}) == 8
    assert rows({"all": {"prompts": 5}}) == 5
    assert rows({"n": 4, "dim": 384}) == 4
    assert rows({"tasks": 12, "flag": True}) is None


def test_scratch_of_a_dead_driver_is_removed_and_a_live_ones_kept(tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_dir = tmp_path / f".embed.tmp-{int(dead.stdout)}"
    live_dir = tmp_path / f".knn.tmp-{os.getpid()}"
    for d in (dead_dir, live_dir):
        d.mkdir()
        (d / "part.npy").write_bytes(b"x")
    assert remove_stale_scratch(tmp_path) == [dead_dir]
    assert not dead_dir.exists() and live_dir.exists()


def test_a_second_rebuild_of_the_same_run_is_refused(tmp_path: Path) -> None:
    with run_lock(tmp_path):
        # Another process (the lock is per open file, as a second driver would hold it).
        code = (
            "import sys; from pathlib import Path; from finerouter.pipeline.runner import run_lock\n"
            "with run_lock(Path(sys.argv[1])): pass"
        )
        other = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True)
        assert other.returncode != 0
        assert f"FineRouterError: run directory {str(tmp_path)!r} is being rebuilt by process {os.getpid()}" in (
            other.stderr
        )
    with run_lock(tmp_path):  # released: the next run goes ahead
        pass
