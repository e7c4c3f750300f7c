"""The batch-stage contract and its Ray Data adapter.

A BatchStage declares the columns it reads and writes and the resources one worker needs, loads its model
once in `setup`, and maps a batch (dict of NumPy arrays) to its output columns without side effects.
`map_stage` runs it over a Ray Data dataset with an actor pool, so the model loads once per actor.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from finerouter.ray_config import FaultToleranceConfig


@dataclass(frozen=True)
class Resources:
    num_cpus: float = 1.0
    num_gpus: float = 0.0


class BatchStage(ABC):
    input_columns: ClassVar[tuple[str, ...]]
    output_columns: ClassVar[tuple[str, ...]]

    def __init__(self, resources: Resources | None = None) -> None:
        self.resources = resources or Resources()

    def setup(self) -> None:  # noqa: B027 - optional hook
        """Load models or other heavy state; called once per worker before the first batch."""

    def worker_env(self) -> dict[str, str]:
        """Environment variables the worker process must start with (read by native libraries when they load)."""
        return {}

    @abstractmethod
    def transform(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Return the output columns for the rows of `batch` (same length)."""

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        missing = [c for c in self.input_columns if c not in batch]
        if missing:
            raise KeyError(f"{type(self).__name__} needs column(s) {missing}; the batch has {sorted(batch)}")
        out = self.transform(batch)
        n = len(next(iter(batch.values()))) if batch else 0
        for col in self.output_columns:
            if col not in out or len(out[col]) != n:
                raise ValueError(f"{type(self).__name__} must return column {col!r} with {n} rows")
        return {**batch, **{c: out[c] for c in self.output_columns}}


class _StageActor:
    """Ray Data callable class: builds the stage and runs its setup once per actor."""

    def __init__(self, stage: BatchStage) -> None:
        self.stage = stage
        self.stage.setup()

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return self.stage(batch)


def fault_tolerance_args(ft: FaultToleranceConfig) -> dict[str, Any]:
    """Ray actor options of a batch stage's pool: restart a dead actor and resubmit the batches it held."""
    return {"max_restarts": ft.actor_max_restarts, "max_task_retries": ft.actor_task_retries}


def configure_data_context(context: Any, ft: FaultToleranceConfig) -> None:
    """Ray Data settings of one dataset. No block may be dropped: a failed block fails the stage."""
    context.max_errored_blocks = 0
    context.max_consecutive_actor_init_deaths = ft.actor_init_deaths
    context.wait_for_min_actors_s = ft.actor_start_timeout_s
    context.execution_no_progress_timeout_s = ft.no_progress_timeout_s
    context.actor_task_retry_on_errors = False  # a Python exception is a bug or bad data, not a lost worker


def map_stage(
    dataset: Any,
    stage: BatchStage,
    *,
    batch_size: int,
    workers: int = 1,
    fault_tolerance: FaultToleranceConfig | None = None,
    name: str | None = None,
) -> Any:
    """Run `stage` over a `ray.data.Dataset` with a fixed pool of `workers` actors.

    `name` labels the dataset in the Ray dashboard, so the stage is visible there (e.g. "demo.embed"; no "/":
    Ray Data names log files after it).
    """
    import ray.data

    ft = fault_tolerance or FaultToleranceConfig()
    configure_data_context(dataset.context, ft)
    out = dataset.map_batches(
        _StageActor,
        fn_constructor_kwargs={"stage": stage},
        batch_size=batch_size,
        batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=workers),
        num_cpus=stage.resources.num_cpus,
        num_gpus=stage.resources.num_gpus or None,
        **fault_tolerance_args(ft),
        **({"runtime_env": {"env_vars": env}} if (env := stage.worker_env()) else {}),
    )
    if name:
        out.set_name(name)
    return out
