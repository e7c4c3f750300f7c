"""A sentence-transformers mean-pooling model run with transformers alone: the torch encoder runtime.

sentence-transformers takes ~5 s to import on 2 cores, transformers ~1 s: a Serve replica that starts (or replaces a
dead one) routes that much sooner. Same model directory, same numbers (within float rounding, tested); only the
standard layout is supported (Transformer -> mean Pooling -> optional Normalize), anything else is refused naming it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from finerouter.embed.batching import length_buckets
from finerouter.errors import ConfigError

_TRANSFORMER = "sentence_transformers.models.Transformer"
_POOLING = "sentence_transformers.models.Pooling"
_NORMALIZE = "sentence_transformers.models.Normalize"


def max_seq_length(path: Path) -> int | None:
    """The truncation length of a sentence-transformers directory, if it is Transformer + mean Pooling."""
    modules_file = path / "modules.json"
    if not modules_file.is_file():
        raise ConfigError(f"encoder {path} has no modules.json: not a sentence-transformers model directory")
    modules = json.loads(modules_file.read_text())
    kinds = [m["type"] for m in modules]
    if kinds[:2] != [_TRANSFORMER, _POOLING] or kinds[2:] not in ([], [_NORMALIZE]):
        raise ConfigError(f"encoder {path} is {kinds}; the online encoder supports Transformer, Pooling[, Normalize]")
    pooling = json.loads((path / modules[1]["path"] / "config.json").read_text())
    modes = sorted(k for k, v in pooling.items() if k.startswith("pooling_mode") and v)
    if modes != ["pooling_mode_mean_tokens"]:
        raise ConfigError(f"encoder {path} pools with {modes}; the online encoder supports mean pooling only")
    config = path / "sentence_bert_config.json"
    max_len = json.loads(config.read_text()).get("max_seq_length") if config.is_file() else None
    return max_len


class MeanPoolingEncoder:
    """`encode(texts)` -> L2-normalised float32 (N, dim), equal to SentenceTransformer(path).encode(texts,
    normalize_embeddings=True) up to float rounding (texts stripped and sorted by length for batching, as
    sentence-transformers does). BERT models run packed (finerouter/embed/packed_bert.py), others padded. Pooling
    and normalising are in float32 whatever the model's dtype."""

    def __init__(self, path: str | Path, device: str = "cpu", dtype: str = "float32") -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer

        from finerouter.embed.packed_bert import PackedBert, supports_packing

        self.path = Path(path)
        if not self.path.is_dir():
            raise ConfigError(f"encoder {path} is not a local directory; the online encoder loads from disk only")
        self.max_length = max_seq_length(self.path)
        self.tokenizer = AutoTokenizer.from_pretrained(self.path)
        self.max_length = self.max_length or self.tokenizer.model_max_length
        self.device = device
        self.model: Any = AutoModel.from_pretrained(self.path).to(device).eval()
        if dtype == "bfloat16":
            self.model.to(torch.bfloat16)
        self.packed = PackedBert(self.model) if supports_packing(self.model.config) else None

    def _pool(self, texts: list[str]) -> Any:
        """Mean-pooled float32 (len(texts), hidden): packed sequences for BERT, a padded batch otherwise."""
        if self.packed is not None:
            ids = self.tokenizer(texts, truncation=True, max_length=self.max_length)["input_ids"]
            return self.packed.pool(ids)
        batch = self.tokenizer(
            texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
        ).to(self.device)
        hidden = self.model(**batch).last_hidden_state.float()
        mask = batch["attention_mask"].unsqueeze(-1).float()
        return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        import torch

        out = np.empty((len(texts), self.model.config.hidden_size), dtype=np.float32)
        with torch.inference_mode():
            for rows in length_buckets(texts, batch_size, pads=self.packed is None):
                pooled = self._pool([texts[i].strip() for i in rows])
                pooled = torch.nn.functional.normalize(pooled, dim=-1)  # finerouter always uses unit vectors
                out[rows] = pooled.cpu().numpy()
        return out
