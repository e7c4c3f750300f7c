"""Runs stages in order, skipping those whose completion marker matches their current key."""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finerouter.pipeline.fingerprint import fingerprint_tree, fingerprint_value
from finerouter.pipeline.stage import MARKER_FILE, Stage, StageContext, read_marker

if TYPE_CHECKING:
    from finerouter.config import RebuildConfig

log = logging.getLogger("finerouter.rebuild")


@dataclass
class StageOutcome:
    name: str
    status: str  # "ran" | "skipped"
    seconds: float
    stats: dict[str, Any] = field(default_factory=dict)


def stage_key(stage: Stage, config: RebuildConfig, run_dir: Path) -> str:
    upstream = {}
    for dep in stage.inputs:
        marker = read_marker(run_dir / dep)
        if marker is None:
            raise RuntimeError(f"stage {stage.name!r} needs {dep!r}, which has not completed")
        upstream[dep] = marker["output_fingerprint"]
    external = {
        str(p): fingerprint_tree(p, content=False) if p.exists() else "missing" for p in stage.external_inputs(config)
    }
    return fingerprint_value(
        {
            "stage": stage.name,
            "version": stage.version,
            "config": stage.config_key(config),
            "inputs": upstream,
            "external": external,
        }
    )


def run_stages(config: RebuildConfig, stages: list[Stage], force: frozenset[str] = frozenset()) -> list[StageOutcome]:
    run_dir = config.run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    outcomes: list[StageOutcome] = []
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
        log.info("[%d/%d] %s: running (%s)", i, len(stages), stage.name, reason)
        if stage.needs_ray:
            from finerouter.pipeline.ray_runtime import ensure_ray

            ensure_ray(config.ray)
        outcomes.append(_run_one(stage, config, run_dir, out_dir, key))
        log.info("[%d/%d] %s: done in %.1f s", i, len(stages), stage.name, outcomes[-1].seconds)
    write_summary(config, outcomes)
    return outcomes


def _run_one(stage: Stage, config: RebuildConfig, run_dir: Path, out_dir: Path, key: str) -> StageOutcome:
    # Work in a scratch directory and swap it in at the end, so a crash never leaves half an output.
    scratch = run_dir / f".{stage.name}.tmp-{os.getpid()}"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    started = time.perf_counter()
    stats = stage.run(StageContext(config, run_dir, scratch, logging.getLogger(f"finerouter.{stage.name}")))
    seconds = time.perf_counter() - started
    shutil.rmtree(out_dir, ignore_errors=True)
    scratch.rename(out_dir)
    marker = {
        "stage": stage.name,
        "key": key,
        "output_fingerprint": fingerprint_tree(out_dir),
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds": round(seconds, 3),
        "stats": stats,
    }
    (out_dir / MARKER_FILE).write_text(json.dumps(marker, indent=2, default=str) + "\n")
    return StageOutcome(stage.name, "ran", seconds, stats)


def write_summary(config: RebuildConfig, outcomes: list[StageOutcome]) -> Path:
    path = config.run_dir / "summary.json"
    summary = {
        "run": config.run,
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "stages": [
            {"name": o.name, "status": o.status, "seconds": round(o.seconds, 3), "stats": o.stats} for o in outcomes
        ],
    }
    path.write_text(json.dumps(summary, indent=2, default=str) + "\n")
    return path
