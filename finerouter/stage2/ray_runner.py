"""Running a stage-2 training loop on Ray Train (`TorchTrainer`), or in-process without Ray.

The arrays go to the object store once (`ray.put`) and every worker maps them from there; each epoch reports its
metrics (the Ray dashboard's Train view shows them) and checkpoints to `storage_path/name`. Starting a trainer with
the same name and storage path again resumes from the last checkpoint of the earlier, interrupted attempt.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from finerouter.ray_config import FaultToleranceConfig
from finerouter.stage2.config import ScalingSettings
from finerouter.stage2.finetune import train_encoder
from finerouter.stage2.session import LocalSession, RayTrainSession, load_checkpoint_state
from finerouter.stage2.training import train_classifier, train_estimator, train_estimators

LOOPS = {
    "classifier": train_classifier, "estimator": train_estimator, "estimators": train_estimators,
    "encoder": train_encoder,
}  # fmt: skip
POLL_ENV = "RAY_TRAIN_HEALTH_CHECK_INTERVAL_S"
log = logging.getLogger("finerouter.stage2.train")


def _worker_loop(config: dict[str, Any]) -> None:
    import ray
    import torch

    # More intra-op threads than the worker's CPUs makes small matmuls many times slower on a busy machine.
    torch.set_num_threads(config["threads"])
    data = config["data"]
    if isinstance(data, ray.ObjectRef):
        data = ray.get(data)
    LOOPS[config["kind"]](data, config["settings"], RayTrainSession(), seed=config["seed"])


def train_local(
    kind: str, data: dict[str, np.ndarray], settings: dict[str, Any], seed: int = 0, threads: int = 1,
    resume_state: dict[str, Any] | None = None, **loop_kwargs: Any,
) -> dict[str, Any]:  # fmt: skip
    """The same loop in this process (tests, `add-model`, ablations), with `threads` intra-op threads."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return LOOPS[kind](data, settings, LocalSession(resume_state), seed=seed, **loop_kwargs)
    finally:
        torch.set_num_threads(before)


@contextmanager
def train_poll_interval(seconds: float | None) -> Iterator[None]:
    """Ray Train's controller takes its poll interval from the driver's environment when a trainer starts (it
    propagates RAY_TRAIN_HEALTH_CHECK_INTERVAL_S to the controller actor); set it for this fit only."""
    if seconds is None:
        yield
        return
    before = os.environ.get(POLL_ENV)
    os.environ[POLL_ENV] = str(seconds)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(POLL_ENV, None)
        else:
            os.environ[POLL_ENV] = before


def train_run_config(ft: FaultToleranceConfig, storage_path: Path, name: str) -> Any:
    """Ray Train RunConfig with the configured worker-group restarts and kept checkpoints.

    `storage_path` must be visible to every node (the shared artifacts directory on a cluster). Ray Train restores
    a run with the same `name` and `storage_path` from its latest checkpoint, so a rebuild whose driver died
    resumes training where it stopped; the training loop reads `ray.train.get_checkpoint()` to continue.
    """
    from ray.train import CheckpointConfig, FailureConfig, RunConfig

    return RunConfig(
        name=name,
        storage_path=str(storage_path.resolve()),
        failure_config=FailureConfig(max_failures=ft.train_max_failures),
        checkpoint_config=CheckpointConfig(num_to_keep=ft.train_checkpoints_to_keep),
    )


def train_on_ray(
    kind: str, data: dict[str, np.ndarray], settings: dict[str, Any], *, seed: int, scaling: ScalingSettings,
    storage_path: Path, name: str, fault_tolerance: FaultToleranceConfig | None = None, keep_storage: bool = False,
) -> dict[str, Any]:  # fmt: skip
    """Train on Ray Train; returns the final state (its `history` holds the metrics of every epoch). Worker-group
    restarts and kept checkpoints come from `ray.fault_tolerance` (train_max_failures, train_checkpoints_to_keep)."""
    import ray
    from ray.train import ScalingConfig
    from ray.train.torch import TorchTrainer

    if kind not in LOOPS:
        raise ValueError(f"unknown training {kind!r}; valid: {', '.join(LOOPS)}")
    ft = fault_tolerance or FaultToleranceConfig()
    storage_path = Path(storage_path).resolve()
    storage_path.mkdir(parents=True, exist_ok=True)
    resumable = (storage_path / name).exists()
    log.info("%s: Ray Train run %r in %s%s", kind, name, storage_path, " (resuming)" if resumable else "")
    trainer = TorchTrainer(
        _worker_loop,
        train_loop_config={
            "kind": kind,
            "data": ray.put(data),
            "settings": settings,
            "seed": seed,
            "threads": max(1, int(scaling.cpus_per_worker)),
        },
        scaling_config=ScalingConfig(
            num_workers=scaling.num_workers,
            use_gpu=scaling.use_gpu,
            resources_per_worker=scaling.resources_per_worker(),
        ),
        run_config=train_run_config(ft, storage_path, name),
    )
    with train_poll_interval(ft.train_poll_interval_s):
        result = trainer.fit()
    if result.error is not None:
        raise result.error
    if result.checkpoint is None:
        raise RuntimeError(f"Ray Train run {name!r} finished without a checkpoint")
    state = load_checkpoint_state(result.checkpoint)
    if not keep_storage:
        shutil.rmtree(storage_path / name, ignore_errors=True)
    return state
