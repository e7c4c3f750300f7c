"""Fault drills: a Ray worker killed mid-stage and a driver killed mid-rebuild both end in a completed rebuild whose
outputs equal a clean run's (every data file byte for byte; reports and JSON without timings, see
`comparable_outputs`), and whose stages record the same output hashes as the clean run's, under another run name
and directory: timings, stamps and run names live outside the hashed outputs."""

from __future__ import annotations

import json
import os
import re
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from finerouter.fingerprint import TIMINGS_FILE
from finerouter.pipeline.stage import MARKER_FILE
from tests.ops.head import Head
from tests.ops.jobs import actor, alive_actors, client, comparable_outputs, demo_overrides, logs, submit, wait

pytestmark = pytest.mark.slow


def _alive_map_workers(head: Head, job: str) -> list[dict[str, Any]]:
    job_id = client(head).get_job_info(job).job_id
    if not job_id:
        return []
    return [a for a in alive_actors(head) if a["job_id"] == job_id and "MapWorker" in a["class_name"]]


def output_hashes(run_dir: Path) -> dict[str, str]:
    """Each completed stage's output hash, as its marker records it (what downstream stage keys are built from)."""
    return {
        marker.parent.name: json.loads(marker.read_text())["output_fingerprint"]
        for marker in sorted(run_dir.glob(f"*/{MARKER_FILE}"))
    }


def assert_same_outputs(run_dir: Path, clean: Path) -> None:
    assert comparable_outputs(run_dir) == comparable_outputs(clean)
    hashes = output_hashes(run_dir)
    assert len(hashes) >= 15 and hashes == output_hashes(clean)
    levels = json.loads((run_dir / "communities" / TIMINGS_FILE).read_text())  # timings still recorded, beside
    assert levels and all("leiden" in level for level in levels)
    fit_seconds = json.loads((run_dir / "evaluate" / TIMINGS_FILE).read_text())["fit_seconds"]
    assert set(fit_seconds) == set(json.loads((run_dir / "evaluate/results.json").read_text())["routers"])


def wait_for_embed_actor(head: Head, job: str) -> Any:
    """An ALIVE actor of the embed pool: its model is loaded (constructor done) and it holds in-flight blocks."""
    assert wait(head, job, until=r"embed: running") == "RUNNING"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        workers = _alive_map_workers(head, job)
        if workers:
            return workers[0]
        time.sleep(0.3)
    raise AssertionError(f"no embed actor came up:\n{logs(head, job)[-3000:]}")


def test_worker_killed_mid_embed_still_completes_with_clean_outputs(
    ray_head: Head, clean_run: tuple[str, Path], ops_artifacts: Path
) -> None:
    job = submit(ray_head, demo_overrides(ops_artifacts, "worker-kill"))
    victim = wait_for_embed_actor(ray_head, job)
    os.kill(victim["pid"], signal.SIGKILL)
    at_kill = re.findall(r"embed: [\d,]+/[\d,]+ texts", logs(ray_head, job))
    print(f"killed embed actor pid {victim['pid']}; progress lines before the kill: {at_kill}")

    assert wait(ray_head, job) == "SUCCEEDED", logs(ray_head, job)[-6000:]
    restarts = int(actor(ray_head, victim["actor_id"])["num_restarts"])
    print(f"the killed actor was restarted {restarts} time(s)")
    assert restarts >= 1  # restarted in place, not replaced
    assert_same_outputs(ops_artifacts / "worker-kill", clean_run[1])


def test_driver_killed_mid_rebuild_then_rerun_resumes_with_clean_outputs(
    ray_head: Head, clean_run: tuple[str, Path], ops_artifacts: Path
) -> None:
    run_dir = ops_artifacts / "driver-restart"
    overrides = demo_overrides(ops_artifacts, "driver-restart")
    first = submit(ray_head, overrides)
    wait_for_embed_actor(ray_head, first)
    driver_pid = int(re.search(r"driver pid (\d+)", logs(ray_head, first)).group(1))
    os.kill(driver_pid, signal.SIGKILL)
    assert wait(ray_head, first) == "FAILED"
    assert (run_dir / f".embed.tmp-{driver_pid}").is_dir()  # it died inside the embed stage
    assert not (run_dir / "embed/_COMPLETE.json").exists()

    second = submit(ray_head, overrides)
    assert wait(ray_head, second) == "SUCCEEDED", logs(ray_head, second)[-6000:]
    text = logs(ray_head, second)
    assert f"removed .embed.tmp-{driver_pid}, left by an interrupted run" in text
    summary = json.loads((run_dir / "summary.json").read_text())
    statuses = {stage["name"]: stage["status"] for stage in summary["stages"]}
    assert [statuses[s] for s in ("import", "stats", "describe")] == ["skipped"] * 3
    assert statuses["embed"] == "ran"
    print(f"killed driver pid {driver_pid} in the embed stage; rerun: {statuses}")
    assert not list(run_dir.glob(".*.tmp-*"))
    assert_same_outputs(run_dir, clean_run[1])
