"""Fine-tuning the sentence encoder for stage 2 (`stage2.encoder: finetune`).

The encoder is trained end to end under the estimator's first phase: mean-pooled, L2-normalised embedding ->
adapter, model-id embeddings and one general head per model -> every model's quality (masked MSE), with its own,
smaller learning rate. Only the encoder is kept: stage 2 then trains the classifier and the estimator on its
embeddings as it does on the frozen encoder's, and the bundle ships it. Early stopping on dev loss keeps the
best epoch. Batches group prompts of similar length (shuffled within and across groups), so little of a batch
is padding.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional

from finerouter.embed.encoder import local_model_dir
from finerouter.stage2.models import MoEQualityEstimator
from finerouter.stage2.training import masked_mse, new_state, run_phase

BUCKET_BATCHES = 32  # batches per group of shuffled rows sorted by length

ENCODER_PREFIX = "encoder."
WEIGHT_FILES = ("*.safetensors", "*.bin", "*.onnx", "*.h5", "*.msgpack", "onnx", "openvino")


class EncoderRegressor(nn.Module):
    """A Hugging Face encoder, mean-pooled and normalised as the embed stage does, under a general-heads-only
    `MoEQualityEstimator`: (input_ids, attention_mask) -> (B, M) predicted quality."""

    def __init__(self, encoder: nn.Module, n_models: int, head: dict[str, Any]) -> None:
        super().__init__()
        self.encoder = encoder
        dim = int(encoder.config.hidden_size)
        no_tasks = np.full((0, n_models), -1, dtype=np.int64)
        self.head = MoEQualityEstimator(
            dim, n_models, no_tasks, head["adapter_dim"], head["model_dim"], head["hidden"], head["dropout"]
        )
        # Parameters the loss never reaches (BERT's CLS pooler, the empty task heads) stay frozen: DDP requires
        # every trainable parameter to get a gradient.
        for unused in (getattr(encoder, "pooler", None), self.head.task_heads):
            if unused is not None:
                unused.requires_grad_(False)

    def embed(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state.float()
        mask = attention_mask.unsqueeze(-1).float()
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return functional.normalize(pooled, dim=-1)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(input_ids, attention_mask))[0]

    def optimizer_groups(self, settings: dict[str, Any]) -> list[dict[str, Any]]:
        return [
            {"params": [p for p in self.encoder.parameters() if p.requires_grad], "lr": settings["encoder_lr"]},
            {"params": [p for p in self.head.parameters() if p.requires_grad], "lr": settings["lr"]},
        ]


class _Batches:
    """Token ids tokenised once; `batch(rows)` pads the chosen rows to their longest."""

    def __init__(self, ids: list[list[int]], pad_id: int, device: torch.device) -> None:
        self.ids, self.pad_id, self.device = ids, pad_id, device

    def __len__(self) -> int:
        return len(self.ids)

    def by_length(self, order: torch.Tensor, generator: torch.Generator, batch_size: int) -> list[torch.Tensor]:
        """`order` (shuffled rows) cut into batches of similar lengths, in a shuffled order."""
        lengths = torch.tensor([len(self.ids[int(r)]) for r in order])
        batches = []
        for group in torch.arange(len(order)).split(batch_size * BUCKET_BATCHES):
            ranked = group[torch.argsort(lengths[group], stable=True)]
            batches.extend(order[ranked].split(batch_size))
        return [batches[int(i)] for i in torch.randperm(len(batches), generator=generator)]

    def batch(self, rows: torch.Tensor | range) -> tuple[torch.Tensor, torch.Tensor]:
        chosen = [self.ids[int(r)] for r in rows]
        width = max(len(ids) for ids in chosen)
        input_ids = torch.full((len(chosen), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(chosen), width), dtype=torch.long)
        for i, ids in enumerate(chosen):
            input_ids[i, : len(ids)] = torch.tensor(ids)
            mask[i, : len(ids)] = 1
        return input_ids.to(self.device), mask.to(self.device)


def train_encoder(data: dict[str, Any], settings: dict[str, Any], session: Any, seed: int = 0) -> dict:
    """data: encoder (name or directory, as `embed.encoder`), texts (N,) and quality (N, M; NaN = no outcome) of
    the train prompts, texts_dev and quality_dev. settings: the finetune settings plus `head` (the estimator's
    adapter_dim, model_dim, hidden, dropout). Returns the run state; state['model'] holds `encoder.*` weights."""
    from transformers import AutoModel, AutoTokenizer

    torch.manual_seed(seed)
    device = session.device
    path = local_model_dir(data["encoder"])
    quality = torch.as_tensor(np.asarray(data["quality"], dtype=np.float32)).to(device)
    quality_dev = torch.as_tensor(np.asarray(data["quality_dev"], dtype=np.float32)).to(device)
    model = EncoderRegressor(AutoModel.from_pretrained(path), quality.shape[1], settings["head"]).to(device)
    state = new_state(session)
    if state["model"] is not None:
        model.load_state_dict(state["model"])
    tokenizer = AutoTokenizer.from_pretrained(path)

    def tokens(texts: Any) -> _Batches:
        ids = tokenizer([str(t).strip() for t in texts], truncation=True, max_length=settings["max_length"])
        return _Batches(ids["input_ids"], tokenizer.pad_token_id or 0, device)

    train, dev = tokens(data["texts"]), tokens(data["texts_dev"])
    seen, seen_dev = ~torch.isnan(quality), ~torch.isnan(quality_dev)

    def batch_loss(module: nn.Module, idx: torch.Tensor) -> torch.Tensor:
        return masked_mse(module(*train.batch(idx)), quality[idx], seen[idx])

    def dev_loss(module: nn.Module) -> float:
        total, count, step = 0.0, 0.0, settings["batch_size"] * 2
        for start in range(0, len(dev), step):
            rows = range(start, min(start + step, len(dev)))
            pred, target, mask = module(*dev.batch(rows)), quality_dev[start : rows.stop], seen_dev[start : rows.stop]
            total += float(((pred - torch.nan_to_num(target)) ** 2 * mask).sum())
            count += float(mask.sum())
        return total / max(count, 1.0)

    run_phase(
        "encoder", model, session, len(train), batch_loss, dev_loss, settings, seed, state,
        groups=model.optimizer_groups(settings),
        batching=lambda order, generator: train.by_length(order, generator, settings["batch_size"]),
    )  # fmt: skip
    return state


def encoder_weights(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The encoder's own weights (Hugging Face names) out of an `EncoderRegressor` state dict."""
    return {k[len(ENCODER_PREFIX) :]: v for k, v in state_dict.items() if k.startswith(ENCODER_PREFIX)}


def save_finetuned_encoder(base_dir: Path, weights: dict[str, torch.Tensor], out_dir: Path) -> Path:
    """A sentence-transformers directory like `base_dir` (tokenizer, pooling, normalisation) with the fine-tuned
    weights: it loads wherever an encoder directory does (the embed stage, the Router, ONNX Runtime)."""
    from transformers import AutoModel

    shutil.copytree(base_dir, out_dir, ignore=shutil.ignore_patterns(*WEIGHT_FILES, "README.md"))
    model = AutoModel.from_pretrained(base_dir)
    model.load_state_dict(weights)
    model.save_pretrained(out_dir, safe_serialization=True)
    return out_dir
