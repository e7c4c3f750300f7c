"""Runs stages in order, skipping those whose completion marker matches their current key."""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from finerouter.errors import FineRouterError
from finerouter.fingerprint import fingerprint_outputs
from finerouter.pipeline.config import PipelineConfig
from finerouter.pipeline.progress import format_seconds, report_metric
from finerouter.pipeline.rebuild_preflight import preflight_rebuild, preflight_stage
from finerouter.pipeline.stage import MARKER_FILE, Stage, StageContext, read_marker, stage_key

log = logging.getLogger("finerouter.rebuild")

SCRATCH_INFIX = ".tmp-"
BUNDLE_STAGE = "bundle"  # the stage that writes the router bundle (stage 2), named in summary.json when it ran


@dataclass
class StageOutcome:
    name: str
    status: str  # "ran" | "skipped" | "failed"
    seconds: float
    stats: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    @property
    def rows(self) -> int | None:
        """The stage's row count, read from its stats by the first of ROW_KEYS it reports (None when none)."""
        for path in ROW_KEYS:
            value: Any = self.stats
            for part in path:
                value = value.get(part) if isinstance(value, dict) else None
            if isinstance(value, int) and not isinstance(value, bool):
                return value
        return None


# Where a stage's stats say how many rows it processed: `rows` or `prompts` by convention; the import stage's
# kept prompts; the stats stage's whole table; the kNN stage's vectors.
ROW_KEYS: tuple[tuple[str, ...], ...] = (
    ("rows",),
    ("prompts",),
    ("counts", "prompts", "kept"),
    ("all", "prompts"),
    ("n",),
)


def run_stages(config: PipelineConfig, stages: list[Stage], force: frozenset[str] = frozenset()) -> list[StageOutcome]:
    run_dir = config.run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    with run_lock(run_dir):
        return _run_locked(config, stages, force)


@contextmanager
def run_lock(run_dir: Path) -> Iterator[None]:
    """One rebuild per run directory at a time; the OS releases the lock when its process dies."""
    with (run_dir / ".lock").open("a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            raise FineRouterError(
                f"run directory {str(run_dir)!r} is being rebuilt by {holder}; wait for it or stop it "
                "(a killed run releases the lock, and the next run resumes after its last completed stage)"
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"process {os.getpid()} on {socket.gethostname()}\n")
        fh.flush()
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _run_locked(config: PipelineConfig, stages: list[Stage], force: frozenset[str]) -> list[StageOutcome]:
    run_dir = config.run_dir
    remove_stale_scratch(run_dir)
    preflight_rebuild(config, stages, force)  # seconds, not a silent wait: every Ray stage still to run fits
    outcomes: list[StageOutcome] = []
    started = time.perf_counter()
    for i, stage in enumerate(stages, 1):
        out_dir = run_dir / stage.name
        key = stage_key(stage, config, run_dir)
        marker = read_marker(out_dir)
        if marker and marker.get("key") == key and stage.name not in force:
            log.info(
                "[%d/%d] %s: up to date, skipped (completed %s)",
                i,
                len(stages),
                stage.name,
                marker.get("finished"),
            )
            outcomes.append(StageOutcome(stage.name, "skipped", 0.0, marker.get("stats", {})))
            continue
        reason = "forced" if stage.name in force else ("inputs or config changed" if marker else "not run before")
        last = f"; last run took {format_seconds(marker['seconds'])}" if marker and "seconds" in marker else ""
        log.info("[%d/%d] %s: running (%s%s)", i, len(stages), stage.name, reason, last)
        if stage.needs_ray:
            preflight_stage(config, stage)  # connects to Ray; resources may have been taken since the start
        report_metric("running", 1, config.run, stage.name)
        try:
            outcome = _run_one(stage, config, run_dir, out_dir, key)
        except BaseException as exc:
            failed = StageOutcome(stage.name, "failed", 0.0, error=f"{type(exc).__name__}: {exc}")
            write_summary(config, [*outcomes, failed], time.perf_counter() - started, status="failed")
            raise
        finally:
            report_metric("running", 0, config.run, stage.name)
        outcomes.append(outcome)
        rows = f", {outcome.rows:,} rows" if outcome.rows is not None else ""
        log.info("[%d/%d] %s: done in %s%s", i, len(stages), stage.name, format_seconds(outcome.seconds), rows)
    write_summary(config, outcomes, time.perf_counter() - started)
    return outcomes


def remove_stale_scratch(run_dir: Path) -> list[Path]:
    """Delete scratch directories left by a driver that died mid-stage (its process is gone)."""
    removed = []
    for scratch in run_dir.glob(f".*{SCRATCH_INFIX}*"):
        pid = scratch.name.rpartition(SCRATCH_INFIX)[2]
        if scratch.is_dir() and pid.isdigit() and not _process_alive(int(pid)):
            shutil.rmtree(scratch, ignore_errors=True)
            log.info("removed %s, left by an interrupted run (process %s is gone)", scratch.name, pid)
            removed.append(scratch)
    return removed


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _run_one(stage: Stage, config: PipelineConfig, run_dir: Path, out_dir: Path, key: str) -> StageOutcome:
    # Work in a scratch directory and swap it in at the end, so a crash never leaves half an output.
    scratch = run_dir / f".{stage.name}{SCRATCH_INFIX}{os.getpid()}"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    started = time.perf_counter()
    try:
        stats = stage.run(StageContext(config, run_dir, scratch, logging.getLogger(f"finerouter.{stage.name}")))
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    seconds = time.perf_counter() - started
    shutil.rmtree(out_dir, ignore_errors=True)
    scratch.rename(out_dir)
    marker = {
        "stage": stage.name,
        "key": key,
        "output_fingerprint": fingerprint_outputs(out_dir, stage.recorded_fields),
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds": round(seconds, 3),
        "stats": stats,
    }
    (out_dir / MARKER_FILE).write_text(json.dumps(marker, indent=2, default=str) + "\n")
    return StageOutcome(stage.name, "ran", seconds, stats)


def write_summary(
    config: PipelineConfig, outcomes: list[StageOutcome], seconds: float = 0.0, status: str = "succeeded"
) -> Path:
    """summary.json: status, per-stage time and rows, and where the reports (and the router bundle) are."""
    run_dir = config.run_dir
    path = run_dir / "summary.json"
    done = [o for o in outcomes if o.status != "failed"]
    reports = sorted(str(p) for o in done for p in (run_dir / o.name).glob("*.md"))
    bundle = run_dir / BUNDLE_STAGE
    summary = {
        "run": config.run,
        "status": status,
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds": round(seconds, 3),
        "run_dir": str(run_dir.resolve()),
        "reports": [str(Path(r).resolve()) for r in reports],
        "bundle": str(bundle.resolve()) if any(o.name == BUNDLE_STAGE for o in done) else None,
        "stages": [
            {"name": o.name, "status": o.status, "seconds": round(o.seconds, 3), "rows": o.rows, "stats": o.stats}
            | ({"error": o.error} if o.error else {})
            for o in outcomes
        ],
    }
    path.write_text(json.dumps(summary, indent=2, default=str) + "\n")
    return path
