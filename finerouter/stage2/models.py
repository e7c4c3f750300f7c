"""The stage-2 networks: the bilinear task classifier and the mixture-of-experts quality estimator.

Heads are stored as stacked weight tensors (one slice per head) and gathered by index, so a batch that mixes
prompts of many tasks is a few batched matmuls, never a Python loop over modules.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

NO_TASK = -1
GATHER_CHUNK = 4096  # (prompt, model) rows whose task-head weights are gathered at once


class TaskClassifier(nn.Module):
    """score(x, t) = sigmoid(x^T W u_t + b_t); task vectors u_t start from the task summary embeddings."""

    def __init__(self, task_vectors: np.ndarray | torch.Tensor, input_dim: int | None = None, scale: float = 10.0):
        super().__init__()
        vectors = torch.as_tensor(np.asarray(task_vectors, dtype=np.float32))
        n_tasks, task_dim = vectors.shape
        input_dim = input_dim or task_dim
        eye = torch.eye(input_dim, task_dim)
        self.W = nn.Parameter(eye * scale)
        self.u = nn.Parameter(vectors.clone())
        self.b = nn.Parameter(torch.full((n_tasks,), -scale / 2))

    @classmethod
    def from_state_dict(cls, state: Mapping[str, torch.Tensor]) -> TaskClassifier:
        """A trained classifier from its weights (W, u, b): the shapes come from the tensors."""
        model = cls(state["u"], input_dim=state["W"].shape[0])
        model.load_state_dict(state)
        return model

    @property
    def n_tasks(self) -> int:
        return self.u.shape[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T) logits."""
        return (x @ self.W) @ self.u.T + self.b

    @torch.no_grad()
    def assign(self, x: torch.Tensor, threshold: float) -> tuple[torch.Tensor, torch.Tensor]:
        """Top task index per prompt (NO_TASK when its score is under the threshold) and that score."""
        if self.n_tasks == 0:
            return torch.full((len(x),), NO_TASK, dtype=torch.long), torch.zeros(len(x))
        probs = torch.sigmoid(self(x))
        conf, top = probs.max(dim=1)
        return torch.where(conf >= threshold, top, torch.full_like(top, NO_TASK)), conf


class StackedHeads(nn.Module):
    """H small MLPs in -> hidden -> 1, as stacked tensors: w1 (H, in, hidden), b1, w2 (H, hidden), b2."""

    def __init__(self, n_heads: int, in_dim: int, hidden: int) -> None:
        super().__init__()
        self.w1 = nn.Parameter(torch.randn(n_heads, in_dim, hidden) / in_dim**0.5)
        self.b1 = nn.Parameter(torch.zeros(n_heads, hidden))
        self.w2 = nn.Parameter(torch.randn(n_heads, hidden) / hidden**0.5)
        self.b2 = nn.Parameter(torch.zeros(n_heads))

    @property
    def n_heads(self) -> int:
        return self.w1.shape[0]

    def all_heads(self, z: torch.Tensor) -> torch.Tensor:
        """z (B, H, in): input of head h for prompt b -> (B, H) logits, one einsum for every head."""
        hidden = torch.relu(torch.einsum("bhi,hio->bho", z, self.w1) + self.b1)
        return (hidden * self.w2).sum(-1) + self.b2

    def gathered(self, z: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        """z (P, in), index (P,): head index[p] applied to z[p] -> (P,) logits, a batched matmul per
        GATHER_CHUNK rows: each row gathers its head's weights (in x hidden floats, 36 KiB at the default sizes),
        so a whole dev or test split at once would hold gigabytes of copies."""
        if len(z) <= GATHER_CHUNK:
            return self._gathered(z, index)
        starts = range(0, len(z), GATHER_CHUNK)
        return torch.cat([self._gathered(z[i : i + GATHER_CHUNK], index[i : i + GATHER_CHUNK]) for i in starts])

    def _gathered(self, z: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        # index_select, not w1[index]: its backward is an index_add, several times faster on CPU.
        w1, b1, w2, b2 = (t.index_select(0, index) for t in (self.w1, self.b1, self.w2, self.b2))
        hidden = torch.relu(torch.bmm(z.unsqueeze(1), w1).squeeze(1) + b1)
        return (hidden * w2).sum(-1) + b2


class MoEQualityEstimator(nn.Module):
    """Quality of model m on prompt x from [adapter(enc(x)); emb(m)] through a general head per model, or a task
    head per (task, candidate model) for prompts assigned to that task.

    `slot_table[t, m]` is the task-head index of model m in task t, or -1 when m is not a candidate of t (or the
    task has too few prompts to train heads): there the general head answers.
    """

    def __init__(
        self, input_dim: int, n_models: int, slot_table: np.ndarray, adapter_dim: int = 128, model_dim: int = 16,
        hidden: int = 64, dropout: float = 0.1,
    ) -> None:  # fmt: skip
        super().__init__()
        table = torch.as_tensor(np.asarray(slot_table, dtype=np.int64)).reshape(-1, n_models)
        self.register_buffer("slot_table", table)
        slots = int(table.max().item()) + 1 if table.numel() else 0
        self.adapter = nn.Sequential(nn.Linear(input_dim, adapter_dim), nn.ReLU())
        self.model_emb = nn.Parameter(torch.randn(n_models, model_dim) * 0.1)
        self.general = StackedHeads(n_models, adapter_dim + model_dim, hidden)
        self.task_heads = StackedHeads(slots, adapter_dim + model_dim, hidden)
        self.dropout = nn.Dropout(dropout)
        self.dims = {
            "input_dim": input_dim, "n_models": n_models, "adapter_dim": adapter_dim, "model_dim": model_dim,
            "hidden": hidden, "dropout": dropout,
        }  # fmt: skip

    @classmethod
    def from_dims(cls, dims: Mapping[str, Any], slot_table: np.ndarray | torch.Tensor) -> MoEQualityEstimator:
        """An untrained estimator of the sizes `dims` records (input_dim, n_models, adapter_dim, model_dim, hidden,
        dropout: a bundle's `estimator` entry)."""
        return cls(
            dims["input_dim"], dims["n_models"], np.asarray(slot_table), dims["adapter_dim"], dims["model_dim"],
            dims["hidden"], dims["dropout"],
        )  # fmt: skip

    @classmethod
    def from_state_dict(cls, dims: Mapping[str, Any], state: Mapping[str, torch.Tensor]) -> MoEQualityEstimator:
        """A trained estimator from its sizes and weights (the slot table is one of them)."""
        model = cls.from_dims(dims, state["slot_table"])
        model.load_state_dict(state)
        return model

    @property
    def n_models(self) -> int:
        return self.model_emb.shape[0]

    def shared_parameters(self) -> list[nn.Parameter]:
        """Phase 1's parameters: frozen while the task heads train."""
        return [*self.adapter.parameters(), self.model_emb, *self.general.parameters()]

    def init_task_heads_from_general(self) -> None:
        """Each task head starts as its model's general head, then specialises on the task's prompts."""
        slot_model = self.slot_models()
        with torch.no_grad():
            for name in ("w1", "b1", "w2", "b2"):
                getattr(self.task_heads, name).copy_(getattr(self.general, name)[slot_model])

    def slot_models(self) -> torch.Tensor:
        """(S,) the model index of every task-head slot."""
        slot_model = torch.zeros(self.task_heads.n_heads, dtype=torch.long)
        t, m = torch.nonzero(self.slot_table >= 0, as_tuple=True)
        slot_model[self.slot_table[t, m]] = m
        return slot_model

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.adapter(x))

    def forward(self, x: torch.Tensor, task: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, M) predicted quality and a (B, M) mask of the entries a task head produced.

        `task` (B,) holds each prompt's task index (NO_TASK for none); None = general heads only.
        """
        z = self.encode(x)
        batch, n_models = len(x), self.n_models
        inputs = torch.cat([z.unsqueeze(1).expand(-1, n_models, -1), self.model_emb.expand(batch, -1, -1)], dim=-1)
        logits = self.general.all_heads(inputs)
        from_task = torch.zeros_like(logits, dtype=torch.bool)
        if task is not None and self.task_heads.n_heads:
            has_task = task >= 0
            slots = torch.full_like(logits, -1, dtype=torch.long)
            slots[has_task] = self.slot_table[task[has_task]]
            rows, cols = torch.nonzero(slots >= 0, as_tuple=True)
            if len(rows):
                task_logits = self.task_heads.gathered(inputs[rows, cols], slots[rows, cols])
                logits = logits.index_put((rows, cols), task_logits)
                from_task[rows, cols] = True
        return torch.sigmoid(logits), from_task


def member_seed(seed: int, member: int) -> int:
    """Training seed of ensemble member `member`; member 0 keeps the run's seed (a 1-member ensemble is the single
    estimator), the others are spaced so the members of nearby run seeds never coincide."""
    return seed + 1000 * member


def member_name(member: int) -> str:
    """Name of an estimator member, in train_router's file names and the bundle's tensor prefixes: `estimator` for
    member 0 (as single-estimator runs and bundles always had), `estimator_<i>` for the others."""
    return "estimator" if member == 0 else f"estimator_{member}"


def member_prefix(member: int) -> str:
    """Prefix of an estimator member's tensors in a bundle."""
    return f"{member_name(member)}."


def member_tensors(tensors: dict[str, torch.Tensor], member: int) -> dict[str, torch.Tensor]:
    prefix = member_prefix(member)
    return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}


class EstimatorEnsemble(nn.Module):
    """Independently seeded estimators with one slot table (a deep ensemble); the predicted qualities are
    averaged. A single member behaves exactly as that estimator."""

    def __init__(self, members: list[MoEQualityEstimator]) -> None:
        super().__init__()
        if not members:
            raise ValueError("an estimator ensemble needs at least one member")
        self.members = nn.ModuleList(members)

    def forward(self, x: torch.Tensor, task: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        outputs = [member(x, task) for member in self.members]
        if len(outputs) == 1:
            return outputs[0]
        return torch.stack([pred for pred, _ in outputs]).mean(dim=0), outputs[0][1]


def slot_table_for(candidates: list[list[int]], n_models: int, trained: list[bool] | None = None) -> np.ndarray:
    """(T, M) task-head slots, numbered task by task in candidate order; -1 where the general head answers."""
    table = np.full((len(candidates), n_models), -1, dtype=np.int64)
    slot = 0
    for t, models in enumerate(candidates):
        if trained is not None and not trained[t]:
            continue
        for m in models:
            table[t, m] = slot
            slot += 1
    return table
