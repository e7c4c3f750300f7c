"""Training loops of stage 2, plain functions of (data, settings, session): no Ray needed to run or test them.

- `train_classifier`: the bilinear task classifier, multi-label BCE (Others prompts negative for every task).
- `train_estimator`: phase 1 trains adapter, model embeddings and general heads on all train outcomes (MSE);
  phase 2 freezes them and trains the task heads on the prompts the classifier assigns to each task.
- `train_estimators`: `members` estimators one after another, each with its own seed (a deep ensemble).
Each epoch reports train and dev loss and checkpoints the state, so a restarted run resumes where it stopped;
each phase stops early when the dev loss has not improved for `patience` epochs and keeps its best weights.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from finerouter.stage2.models import MoEQualityEstimator, TaskClassifier, member_seed
from finerouter.stage2.session import MemberSession

LossFn = Callable[[nn.Module, torch.Tensor], torch.Tensor]
Batching = Callable[[torch.Tensor, torch.Generator], list[torch.Tensor]]


def masked_mse(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return ((pred - torch.nan_to_num(target)) ** 2 * mask).sum() / mask.sum().clamp(min=1)


def run_phase(
    phase: str, model: nn.Module, session: Any, n: int, batch_loss: LossFn, dev_loss: Callable[[nn.Module], float],
    settings: dict[str, Any], seed: int, state: dict[str, Any], groups: list[dict[str, Any]] | None = None,
    batching: Batching | None = None,
) -> None:  # fmt: skip
    """Epochs of one phase over the trainable parameters of `model` (or over optimizer parameter `groups` with
    their own learning rates); `state` is the checkpointed run state. `batching` cuts an epoch's shuffled rows
    into batches (default: consecutive runs of `batch_size`)."""
    if phase in state["completed"]:
        return
    trainable = [p for p in model.parameters() if p.requires_grad]
    wrapped = session.prepare(model)
    optimizer = torch.optim.AdamW(groups or trainable, lr=settings["lr"], weight_decay=settings["weight_decay"])
    progress = state.get("progress") if state.get("phase") == phase else None
    start, best, best_state, bad = 0, float("inf"), None, 0
    if progress is not None:
        optimizer.load_state_dict(progress["optimizer"])
        start, best, bad = progress["epoch"] + 1, progress["best"], progress["bad_epochs"]
        best_state = progress["best_state"]
    else:  # the starting weights compete too: a phase never ends worse on dev than it began
        model.eval()
        with torch.no_grad():
            best, best_state = dev_loss(model), copy.deepcopy(model.state_dict())
    for epoch in range(start, settings["epochs"]):
        if bad >= settings["patience"]:
            break
        generator = torch.Generator().manual_seed(seed * 1000 + epoch)
        # Equal shards (a remainder of < world_size prompts waits for the next epoch's shuffle): DDP needs every
        # worker to run the same number of batches.
        usable = n - n % session.world_size if n >= session.world_size else n
        order = torch.randperm(n, generator=generator)[:usable][session.world_rank :: session.world_size]
        wrapped.train()
        total, batches = 0.0, 0
        chunks = batching(order, generator) if batching else order.split(settings["batch_size"])
        for batch in chunks:
            loss = batch_loss(wrapped, batch)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total, batches = total + loss.item(), batches + 1
        wrapped.eval()
        with torch.no_grad():
            dev = dev_loss(wrapped)
        if dev < best - 1e-6:
            best, bad = dev, 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            bad += 1
        progress = {
            "epoch": epoch, "best": best, "bad_epochs": bad, "best_state": best_state,
            "optimizer": optimizer.state_dict(),
        }  # fmt: skip
        state.update(phase=phase, progress=progress, model=model.state_dict())
        metrics = {"phase": phase, "epoch": epoch, "train_loss": total / max(batches, 1), "dev_loss": dev, "best": best}
        state["history"] = [*state.get("history", []), metrics]
        checkpoint = (epoch + 1) % settings.get("checkpoint_every", 1) == 0
        session.report(metrics, state if checkpoint else None)
    if best_state is not None:
        model.load_state_dict(best_state)
    state["completed"] = [*state["completed"], phase]
    state.update(phase=None, progress=None, model=model.state_dict())
    state["best_dev_loss"] = {**state.get("best_dev_loss", {}), phase: best}
    session.report({"phase": phase, "epoch": -1, "train_loss": float("nan"), "dev_loss": best, "best": best}, state)


def _tensor(array: np.ndarray, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return torch.as_tensor(np.asarray(array)).to(dtype)


def new_state(session: Any) -> dict[str, Any]:
    restored = session.restore()
    return restored if restored is not None else {"completed": [], "phase": None, "progress": None, "model": None}


def train_classifier(data: dict[str, np.ndarray], settings: dict[str, Any], session: Any, seed: int = 0) -> dict:
    """data: x (N, d), labels (N,) task index or -1 (Others), x_dev, labels_dev, task_vectors (T, d)."""
    torch.manual_seed(seed)
    device = session.device
    model = TaskClassifier(data["task_vectors"], input_dim=data["x"].shape[1]).to(device)
    state = new_state(session)
    if state["model"] is not None:
        model.load_state_dict(state["model"])
    x, x_dev = _tensor(data["x"]).to(device), _tensor(data["x_dev"]).to(device)
    target = _one_hot(data["labels"], model.n_tasks).to(device)
    target_dev = _one_hot(data["labels_dev"], model.n_tasks).to(device)
    bce = nn.BCEWithLogitsLoss()

    def batch_loss(module: nn.Module, idx: torch.Tensor) -> torch.Tensor:
        return bce(module(x[idx]), target[idx])

    def dev_loss(module: nn.Module) -> float:
        return float(bce(module(x_dev), target_dev))

    run_phase("classifier", model, session, len(x), batch_loss, dev_loss, settings, seed, state)
    return state


def _one_hot(labels: np.ndarray, n_tasks: int) -> torch.Tensor:
    labels = np.asarray(labels, dtype=np.int64)
    out = torch.zeros(len(labels), n_tasks)
    rows = np.flatnonzero(labels >= 0)
    out[rows, labels[rows]] = 1.0
    return out


def build_estimator(dims: dict[str, Any], slot_table: np.ndarray) -> MoEQualityEstimator:
    return MoEQualityEstimator(
        dims["input_dim"], dims["n_models"], slot_table, dims["adapter_dim"], dims["model_dim"], dims["hidden"],
        dims["dropout"],
    )  # fmt: skip


def train_estimator(
    data: dict[str, np.ndarray], settings: dict[str, Any], session: Any, seed: int = 0,
    frozen_adapter: dict[str, torch.Tensor] | None = None,
) -> dict:  # fmt: skip
    """data: x, quality (N, M; NaN = no outcome), task (N,) classifier-assigned task index or -1, the same for dev
    (x_dev, quality_dev, task_dev), and slot_table (T, M). settings: the estimator settings.
    frozen_adapter: an existing adapter's weights, loaded and kept fixed (adding a model to a trained router)."""
    torch.manual_seed(seed)
    device = session.device
    dims = {
        "input_dim": data["x"].shape[1], "n_models": data["quality"].shape[1], "adapter_dim": settings["adapter_dim"],
        "model_dim": settings["model_dim"], "hidden": settings["hidden"], "dropout": settings["dropout"],
    }  # fmt: skip
    model = build_estimator(dims, data["slot_table"]).to(device)
    state = new_state(session)
    state["dims"] = dims
    if state["model"] is not None:
        model.load_state_dict(state["model"])
    if frozen_adapter is not None:
        model.adapter.load_state_dict(frozen_adapter)
        for p in model.adapter.parameters():
            p.requires_grad_(False)
    x, x_dev = _tensor(data["x"]).to(device), _tensor(data["x_dev"]).to(device)
    y, y_dev = _tensor(data["quality"]).to(device), _tensor(data["quality_dev"]).to(device)
    task, task_dev = _tensor(data["task"], torch.long).to(device), _tensor(data["task_dev"], torch.long).to(device)
    seen, seen_dev = ~torch.isnan(y), ~torch.isnan(y_dev)

    def general_loss(module: nn.Module, idx: torch.Tensor) -> torch.Tensor:
        return masked_mse(module(x[idx])[0], y[idx], seen[idx])

    def general_dev(module: nn.Module) -> float:
        return float(masked_mse(module(x_dev)[0], y_dev, seen_dev))

    for p in model.task_heads.parameters():
        p.requires_grad_(False)
    run_phase("general", model, session, len(x), general_loss, general_dev, _phase(settings, "lr"), seed, state)

    # Phase 2: only prompts with a task head to train; shared parts frozen.
    with_heads = torch.nonzero((model.slot_table[task.clamp(min=0)] >= 0).any(dim=1) & (task >= 0)).squeeze(1)
    if model.task_heads.n_heads and len(with_heads):
        if "general" not in state.get("task_init", []):
            model.init_task_heads_from_general()
            state["task_init"] = ["general"]
        for p in model.shared_parameters():
            p.requires_grad_(False)
        for p in model.task_heads.parameters():
            p.requires_grad_(True)

        def task_loss(module: nn.Module, idx: torch.Tensor) -> torch.Tensor:
            rows = with_heads[idx]
            pred, from_task = module(x[rows], task[rows])
            return masked_mse(pred, y[rows], from_task & seen[rows])

        def full_dev(module: nn.Module) -> float:
            return float(masked_mse(module(x_dev, task_dev)[0], y_dev, seen_dev))

        run_phase(
            "tasks", model, session, len(with_heads), task_loss, full_dev, _phase(settings, "task_lr"), seed, state
        )
    return state


def train_estimators(data: dict[str, np.ndarray], settings: dict[str, Any], session: Any, seed: int = 0) -> dict:
    """`settings["members"]` estimators on the same data (`train_estimator`'s), member i with seed
    `member_seed(seed, i)`; returns {"members": [each member's final state]}. Every checkpoint holds all members."""
    restored = session.restore()
    ensemble: dict[str, Any] = restored if restored is not None else {"members": []}
    for index in range(int(settings.get("members", 1))):
        member = MemberSession(session, ensemble, index)
        done = index < len(ensemble["members"]) and ensemble["members"][index].get("finished")
        if not done:
            state = train_estimator(data, settings, member, seed=member_seed(seed, index))
            state["finished"] = True
            best = _last_best(state)
            summary = {"phase": "member", "epoch": -1, "train_loss": float("nan"), "dev_loss": best, "best": best}
            member.report(summary, state)
    return ensemble


def _last_best(state: dict[str, Any]) -> float:
    losses = state.get("best_dev_loss", {})
    return float(losses.get("tasks", losses.get("general", float("nan"))))


def _phase(settings: dict[str, Any], lr_key: str) -> dict[str, Any]:
    return {**settings, "lr": settings[lr_key]}
