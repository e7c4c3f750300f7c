"""Where a training loop runs: in-process (tests, the CLI, small jobs) or as a Ray Train worker.

The loops in `training.py` only talk to a `Session`: its rank and world size for sharding, `prepare` to wrap the
model for data parallelism, `restore` for the last checkpointed state and `report` for per-epoch metrics and
checkpoints. So the same loop is tested without Ray and runs unchanged under `TorchTrainer`.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

STATE_FILE = "state.pt"
log = logging.getLogger("finerouter.stage2.train")


class LocalSession:
    """One process, no Ray; metrics go to the log and to `history`, the last state stays in memory."""

    world_rank = 0
    world_size = 1
    device = torch.device("cpu")

    def __init__(self, resume_state: dict[str, Any] | None = None) -> None:
        self.resume_state = resume_state
        self.history: list[dict[str, Any]] = []
        self.last_state: dict[str, Any] | None = None

    def prepare(self, model: nn.Module) -> nn.Module:
        return model

    def restore(self) -> dict[str, Any] | None:
        return self.resume_state

    def report(self, metrics: dict[str, Any], state: dict[str, Any] | None = None) -> None:
        self.history.append(metrics)
        log.info("%s", {k: round(v, 5) if isinstance(v, float) else v for k, v in metrics.items()})
        if state is not None:
            self.last_state = state


class RayTrainSession:
    """Inside `TorchTrainer`: DDP across workers, checkpoints persisted by Ray Train to the run's storage."""

    def __init__(self) -> None:
        import ray.train
        import ray.train.torch

        context = ray.train.get_context()
        self.world_rank = context.get_world_rank()
        self.world_size = context.get_world_size()
        self.device = ray.train.torch.get_device()

    def prepare(self, model: nn.Module) -> nn.Module:
        import ray.train.torch

        if self.world_size == 1:
            return model.to(self.device)
        return ray.train.torch.prepare_model(model)

    def restore(self) -> dict[str, Any] | None:
        import ray.train

        checkpoint = ray.train.get_checkpoint()
        if checkpoint is None:
            return None
        with checkpoint.as_directory() as directory:
            return torch.load(Path(directory) / STATE_FILE, map_location="cpu", weights_only=True)

    def report(self, metrics: dict[str, Any], state: dict[str, Any] | None = None) -> None:
        import ray.train

        # Every worker reports (it is a barrier); only rank 0 writes the checkpoint: the weights are identical.
        if state is None or self.world_rank != 0:
            ray.train.report(metrics)
            return
        with tempfile.TemporaryDirectory() as directory:
            torch.save(state, Path(directory) / STATE_FILE)
            ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(directory))


def load_checkpoint_state(checkpoint: Any) -> dict[str, Any]:
    """The state a loop saved, from a `ray.train.Checkpoint` (e.g. `Result.checkpoint`)."""
    with checkpoint.as_directory() as directory:
        return torch.load(Path(directory) / STATE_FILE, map_location="cpu", weights_only=True)


class MemberSession:
    """One ensemble member's view of the run's session: the member trains with the single-estimator loop, and
    its state is kept in `ensemble["members"][index]`, so every checkpoint holds the whole ensemble and a restart
    resumes inside the member that was interrupted."""

    def __init__(self, session: Any, ensemble: dict[str, Any], index: int) -> None:
        self.session, self.ensemble, self.index = session, ensemble, index
        self.world_rank, self.world_size, self.device = session.world_rank, session.world_size, session.device

    def prepare(self, model: nn.Module) -> nn.Module:
        return self.session.prepare(model)

    def restore(self) -> dict[str, Any] | None:
        members = self.ensemble["members"]
        return members[self.index] if self.index < len(members) else None

    def report(self, metrics: dict[str, Any], state: dict[str, Any] | None = None) -> None:
        if state is not None:
            members = self.ensemble["members"]
            if self.index < len(members):
                members[self.index] = state
            else:
                members.append(state)
        self.session.report({**metrics, "member": self.index}, self.ensemble if state is not None else None)
