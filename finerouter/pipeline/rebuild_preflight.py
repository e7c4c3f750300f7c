"""The rebuild's preflight: the Ray resources each stage declares (`Stage.demands`), checked against the cluster
when the rebuild starts (every stage still to run) and again before each Ray stage.

Stages run one after another, so each stage's demand is checked on its own; the parts of one demand (a Ray Train
worker group, an actor pool, vLLM engines with their helper stages) start together and are added up.
"""

from __future__ import annotations

import logging

from finerouter.cluster import Demand, check
from finerouter.pipeline.config import PipelineConfig
from finerouter.pipeline.ray_runtime import ensure_ray
from finerouter.pipeline.stage import Stage, read_marker, stage_key

log = logging.getLogger("finerouter.preflight")

MODE_HINT = (
    "(ray.preflight: fail. On an autoscaling cluster, whose nodes start on demand, set --set ray.preflight=warn.)"
)


def pending_ray_stages(config: PipelineConfig, stages: list[Stage], force: frozenset[str]) -> list[Stage]:
    """The stages that need Ray and will run: not up to date now (an upstream that will rerun counts as changed)."""
    pending = []
    for stage in stages:
        if not stage.needs_ray:
            continue
        marker = read_marker(config.run_dir / stage.name)
        try:
            current = marker is not None and marker.get("key") == stage_key(stage, config, config.run_dir)
        except RuntimeError:  # an upstream has not completed yet: this stage will run
            current = False
        if stage.name in force or not current:
            pending.append(stage)
    return pending


def preflight_rebuild(config: PipelineConfig, stages: list[Stage], force: frozenset[str] = frozenset()) -> None:
    """Before the first stage: connect to Ray (only if a stage still to run needs it) and check every such stage."""
    pending = pending_ray_stages(config, stages, force)
    if not pending:
        return
    _check(config, [d for stage in pending for d in stage.demands(config)], announce=True)
    for stage in pending:
        stage.preflight(config)  # e.g. publish: the Serve app it will update runs


def preflight_stage(config: PipelineConfig, stage: Stage) -> None:
    """Before a Ray stage: resources may have been taken since the rebuild started (a Serve app deployed)."""
    _check(config, stage.demands(config), announce=False)


def _check(config: PipelineConfig, demands: list[Demand], announce: bool) -> None:
    ensure_ray(config.ray)
    mode = config.ray.preflight
    if announce and demands and mode != "skip":
        log.info("Ray preflight (%s): %s", mode, "; ".join(f"{d.owner}: {d.what}" for d in demands))
    check(demands, mode, mode_hint=MODE_HINT if mode == "fail" else "")
