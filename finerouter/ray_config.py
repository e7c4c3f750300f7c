"""The `ray` section of a configuration: how to reach Ray, and how Ray work survives lost workers."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from finerouter.config_model import ConfigModel


class FaultToleranceConfig(ConfigModel):
    """How the rebuild survives dead worker processes; set explicitly rather than left to Ray's defaults."""

    actor_max_restarts: int = Field(
        3, ge=-1, description="restarts of a batch-stage actor whose process dies (-1: unlimited, 0: none)"
    )
    actor_task_retries: int = Field(
        3, ge=-1, description="times a batch lost with its actor is resubmitted to the restarted actor (-1: unlimited)"
    )
    actor_init_deaths: int = Field(
        2, ge=-1, description="consecutive actor deaths while loading a model tolerated per stage (-1: unlimited)"
    )
    actor_start_timeout_s: int = Field(
        600, ge=1, description="wait this long for a batch stage's actors to start (covers cluster autoscaling)"
    )
    no_progress_timeout_s: float = Field(
        3600.0, description="fail a Ray Data stage that makes no progress for this long (-1: never)"
    )
    train_max_failures: int = Field(
        3, ge=-1, description="Ray Train: restarts of the worker group from its latest checkpoint (-1: unlimited)"
    )
    train_checkpoints_to_keep: int = Field(2, ge=1, description="Ray Train: checkpoints kept for restore")
    train_poll_interval_s: float | None = Field(
        0.1, gt=0,
        description="Ray Train: seconds between its controller's polls of the workers (health checks; each poll "
        "collects one report, so a per-epoch report waits up to this long; Ray's own default is 2 s, slow for "
        "short epochs). None keeps Ray's (or RAY_TRAIN_HEALTH_CHECK_INTERVAL_S when set)",
    )  # fmt: skip

    @model_validator(mode="after")
    def _retries_need_restarts(self) -> FaultToleranceConfig:
        if self.actor_max_restarts == 0 and self.actor_task_retries != 0:
            raise ValueError(
                "ray.fault_tolerance.actor_task_retries needs a restarted actor to retry on: "
                "set actor_max_restarts above 0 (or -1), or actor_task_retries: 0"
            )
        if self.no_progress_timeout_s <= 0 and self.no_progress_timeout_s != -1:
            raise ValueError("ray.fault_tolerance.no_progress_timeout_s must be positive, or -1 to disable it")
        return self


class RayConfig(ConfigModel):
    address: str | None = Field(None, description="Ray cluster address; None: RAY_ADDRESS, else a local Ray")
    num_cpus: int | None = Field(2, ge=1, description="CPUs of the embedded local Ray (ignored on a cluster)")
    num_gpus: int | None = Field(0, ge=0, description="GPUs of the embedded local Ray (ignored on a cluster)")
    dashboard: bool = False
    namespace: str = "finerouter"
    progress_interval_s: float = Field(15.0, gt=0, description="seconds between progress lines of a long stage")
    fault_tolerance: FaultToleranceConfig = Field(default_factory=FaultToleranceConfig)
    preflight: Literal["fail", "warn", "skip"] = Field(
        "fail",
        description="before work starts, compare what each Ray stage will request (Ray Train workers, actor pools) "
        "with what the cluster has free: fail names the shortfall and the fix instead of waiting; warn only logs it "
        "(an autoscaling cluster, whose nodes start on demand); skip skips it (not `off`, which YAML reads as "
        "false). finerouter/pipeline/rebuild_preflight.py",
    )
