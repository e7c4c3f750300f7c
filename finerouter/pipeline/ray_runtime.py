"""Connecting to Ray: an existing cluster when one is named, else an embedded local one."""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, datetime
from pathlib import Path

from finerouter.ray_config import RayConfig

log = logging.getLogger("finerouter.ray")


def resolve_address(cfg: RayConfig) -> str | None:
    """Config's address wins, then RAY_ADDRESS (set by `ray job submit`); None means start a local Ray."""
    return cfg.address or os.environ.get("RAY_ADDRESS") or None


def ensure_ray(cfg: RayConfig) -> None:
    import ray

    if ray.is_initialized():
        return
    address = resolve_address(cfg)
    if address:
        log.info("connecting to the Ray cluster at %s", address)
        ray.init(address=address, namespace=cfg.namespace, logging_level=logging.WARNING)
    else:
        log.info(
            "starting a local Ray with %s CPUs (set ray.address or RAY_ADDRESS to use a cluster)",
            cfg.num_cpus,
        )
        ray.init(
            num_cpus=cfg.num_cpus,
            num_gpus=cfg.num_gpus,
            include_dashboard=cfg.dashboard,
            namespace=cfg.namespace,
            logging_level=logging.WARNING,
        )


JOB_PREFIX = "finerouter-rebuild"


def job_name(run: str) -> str:
    """The name the Ray dashboard's Jobs page shows (its Name column is the `job_name` key of the job's metadata)."""
    return f"{JOB_PREFIX}-{run}"


def new_submission_id(run: str, now: datetime | None = None) -> str:
    """A unique `ray job submit --submission-id` for a rebuild of `run`: finerouter-rebuild-<run>-<UTC time>."""
    return f"{job_name(run)}-{(now or datetime.now(UTC)).strftime('%Y%m%d-%H%M%S')}"


def job_submit_options(run: str, now: datetime | None = None) -> list[str]:
    """The `ray job submit` options that name the job: as the documented command sets them (docs/operations.md)."""
    return [
        f"--submission-id={new_submission_id(run, now)}",
        f"--metadata-json={json.dumps({'job_name': job_name(run)})}",
    ]


def submission_id() -> str | None:
    """The `ray job submit` id when this process is a submitted job's driver, else None."""
    raw = os.environ.get("RAY_JOB_CONFIG_JSON_ENV_VAR")
    if not raw:
        return None
    try:
        return json.loads(raw).get("metadata", {}).get("job_submission_id")
    except (json.JSONDecodeError, AttributeError):
        return None


def warn_if_artifacts_are_ephemeral(artifacts_dir: Path) -> None:
    """Under `ray job submit` the working directory is Ray's temporary copy of the upload: say so."""
    job = submission_id()
    if job and not artifacts_dir.is_absolute():
        log.warning(
            "job %s: artifacts_dir %r is relative, so the artifacts go to %s, inside Ray's temporary copy of the "
            "uploaded working directory; pass --set artifacts_dir=/an/absolute/path (shared storage on a cluster) "
            "to keep them",
            job,
            str(artifacts_dir),
            artifacts_dir.resolve(),
        )
