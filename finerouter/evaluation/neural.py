"""Learned baselines on frozen prompt embeddings: MLP, matrix factorisation (RouteLLM-style), IPR-style heads."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from finerouter.evaluation.data import EvalData, Split
from finerouter.evaluation.routers import RoutingPolicy


class MLPHead(nn.Module):
    """Embedding -> hidden -> one quality logit per model."""

    def __init__(self, dim: int, n_models: int, hidden: int = 256) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Dropout(0.1), nn.Linear(hidden, n_models))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class MatrixFactorisation(nn.Module):
    """logit(x, m) = <P x, v_m> + b_m: prompts projected against learned model vectors."""

    def __init__(self, dim: int, n_models: int, rank: int = 32) -> None:
        super().__init__()
        self.proj = nn.Linear(dim, rank, bias=False)
        self.models = nn.Parameter(torch.randn(n_models, rank) * 0.1)
        self.bias = nn.Parameter(torch.zeros(n_models))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x) @ self.models.T + self.bias


class PerModelHeads(nn.Module):
    """IPR-style: an adapter head per model on the frozen encoder, stored stacked for one batched matmul."""

    def __init__(self, dim: int, n_models: int, hidden: int = 64) -> None:
        super().__init__()
        self.w1 = nn.Parameter(torch.randn(n_models, dim, hidden) / dim**0.5)
        self.b1 = nn.Parameter(torch.zeros(n_models, hidden))
        self.w2 = nn.Parameter(torch.randn(n_models, hidden) / hidden**0.5)
        self.b2 = nn.Parameter(torch.zeros(n_models))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(torch.einsum("bd,mdh->bmh", x, self.w1) + self.b1)
        return (h * self.w2).sum(-1) + self.b2


class NeuralRouter(RoutingPolicy):
    def __init__(self, name: str, kind: str, seed: int = 0, epochs: int = 60, lr: float = 1e-3) -> None:
        self.name, self.kind, self.seed, self.epochs, self.lr = name, kind, seed, epochs, lr

    def _module(self, dim: int, n_models: int) -> nn.Module:
        return {"mlp": MLPHead, "mf": MatrixFactorisation, "ipr": PerModelHeads}[self.kind](dim, n_models)

    def fit(self, data: EvalData) -> None:
        torch.manual_seed(self.seed)
        x, y = _tensors(data.train)
        xd, yd = _tensors(data.dev)
        self.model = self._module(x.shape[1], y.shape[1])
        opt = torch.optim.AdamW(self.model.parameters(), lr=self.lr, weight_decay=1e-4)
        best, best_state, patience = np.inf, None, 0
        gen = torch.Generator().manual_seed(self.seed)
        for _ in range(self.epochs):
            self.model.train()
            for batch in torch.randperm(len(x), generator=gen).split(256):
                loss = _masked_mse(torch.sigmoid(self.model(x[batch])), y[batch])
                opt.zero_grad()
                loss.backward()
                opt.step()
            self.model.eval()
            with torch.no_grad():
                dev_loss = float(_masked_mse(torch.sigmoid(self.model(xd)), yd))
            if dev_loss < best - 1e-5:
                best, patience = dev_loss, 0
                best_state = {k: v.clone() for k, v in self.model.state_dict().items()}
            else:
                patience += 1
                if patience >= 5:  # early stop on dev loss
                    break
        if best_state is not None:
            self.model.load_state_dict(best_state)
        self.dev_loss = best

    def scores(self, split: Split) -> np.ndarray:
        self.model.eval()
        with torch.no_grad():
            return torch.sigmoid(self.model(torch.from_numpy(np.asarray(split.emb, np.float32)))).numpy()


def _tensors(split: Split) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.from_numpy(np.asarray(split.emb, np.float32)), torch.from_numpy(split.quality.astype(np.float32))


def _masked_mse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    mask = ~torch.isnan(target)
    return ((pred - torch.nan_to_num(target)) ** 2 * mask).sum() / mask.sum().clamp(min=1)
