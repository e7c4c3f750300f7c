"""A BERT encoder run on packed (unpadded) token sequences, mean-pooled: the torch runtime's forward for BERT models.

A padded batch of real prompts is mostly padding: LLMRouter prompts of at most 200 characters are 22 tokens on
average and a batch of 32 is padded to its longest, ~60. Here the linear layers (nearly all of the FLOPs) run on
the real tokens only, concatenated into one (tokens, hidden) matrix, and attention runs per group of sequences of
similar length (sorted by length, `ATTENTION_GROUP` at a time, padded only to the group's longest). Same weights,
same numbers as the padded forward up to float rounding (tested); on one CPU thread a batch of 32 short prompts
encodes ~3x faster (docs/benchmarks.md, "Prompt encoder runtimes").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch.nn import functional

ATTENTION_GROUP = 8  # sequences per attention call: fewer calls vs less padding; 8 was fastest for 32 prompts


def supports_packing(config: Any) -> bool:
    """BERT with absolute positions (MiniLM, BGE, E5, ...): the layout `PackedBert` reads its weights from."""
    return config.model_type == "bert" and getattr(config, "position_embedding_type", "absolute") == "absolute"


class _Layout:
    """Where each sequence's tokens sit in the packed matrix, and the padded groups attention runs over."""

    def __init__(self, lengths: torch.Tensor, device: torch.device, dtype: torch.dtype) -> None:
        self.total = int(lengths.sum())
        starts = torch.cumsum(lengths, 0) - lengths
        self.segment = torch.repeat_interleave(torch.arange(len(lengths), device=device), lengths)
        self.positions = torch.arange(self.total, device=device) - starts[self.segment]
        # Per group: packed row of each (sequence, step) (`total`, a zero row, for padding), which of them are real,
        # their packed rows in that order (where the group's output goes), and the attention mask as a bias.
        self.groups: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]] = []
        order = torch.argsort(lengths, descending=True)
        for first in range(0, len(order), ATTENTION_GROUP):
            rows = order[first : first + ATTENTION_GROUP]
            steps = torch.arange(int(lengths[rows].max()), device=device)
            valid = steps[None, :] < lengths[rows][:, None]
            gather = torch.where(valid, starts[rows][:, None] + steps[None, :], self.total)  # total: a zero row
            bias = torch.zeros(valid.shape, dtype=dtype, device=device).masked_fill(~valid, float("-inf"))
            self.groups.append((gather, valid, gather[valid], bias[:, None, None, :]))


Linear = Callable[[torch.Tensor], torch.Tensor]


def onednn_prepacks_bfloat16() -> bool:
    """Whether this torch build has oneDNN's prepacked linear (the op Inductor's CPU freezing uses)."""
    return torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_reorder_linear_weight")


def make_linear(weight: torch.Tensor, bias: torch.Tensor) -> Linear:
    """`x @ weight.T + bias`. A bfloat16 weight on CPU is reordered into oneDNN's blocked layout once, here, instead
    of on every call: ~30% less time for one prompt, ~6-10% for batches (docs/benchmarks.md)."""
    weight, bias = weight.detach(), bias.detach()
    if weight.dtype == torch.bfloat16 and weight.device.type == "cpu" and onednn_prepacks_bfloat16():
        packed = torch.ops.mkldnn._reorder_linear_weight(weight, None)
        return lambda x: torch.ops.mkldnn._linear_pointwise(x, packed, bias, "none", [], "")
    return lambda x: functional.linear(x, weight, bias)


class _Layer:
    """One encoder layer's linear maps (query, key and value fused) and its norms and activation."""

    def __init__(self, layer: Any) -> None:
        attention = layer.attention.self
        parts = (attention.query, attention.key, attention.value)
        self.qkv = make_linear(torch.cat([p.weight for p in parts]), torch.cat([p.bias for p in parts]))
        self.attention_out = make_linear(layer.attention.output.dense.weight, layer.attention.output.dense.bias)
        self.attention_norm = layer.attention.output.LayerNorm
        self.intermediate = make_linear(layer.intermediate.dense.weight, layer.intermediate.dense.bias)
        self.activation = layer.intermediate.intermediate_act_fn
        self.output = make_linear(layer.output.dense.weight, layer.output.dense.bias)
        self.output_norm = layer.output.LayerNorm


class PackedBert:
    """`pool(token_ids)` -> mean-pooled last hidden states, float32 (N, hidden), of a HF `BertModel` in eval mode
    (its weights as they are when this is built: cast the model first)."""

    def __init__(self, model: Any) -> None:
        if not supports_packing(model.config):
            raise ValueError(f"PackedBert runs BERT with absolute positions, not {model.config.model_type}")
        self.model = model
        self.heads = model.config.num_attention_heads
        self.hidden = model.config.hidden_size
        self.layers = [_Layer(layer) for layer in model.encoder.layer]

    def pool(self, token_ids: list[list[int]]) -> torch.Tensor:
        weight = self.model.embeddings.word_embeddings.weight
        lengths = torch.tensor([len(ids) for ids in token_ids], device=weight.device)
        layout = _Layout(lengths, weight.device, weight.dtype)
        flat = torch.tensor([i for ids in token_ids for i in ids], device=weight.device)
        embeddings = self.model.embeddings
        x = embeddings.word_embeddings(flat) + embeddings.position_embeddings(layout.positions)
        x = embeddings.LayerNorm(x + embeddings.token_type_embeddings.weight[0])
        for layer in self.layers:
            context = self._attention(layer.qkv(x), layout)
            x = layer.attention_norm(layer.attention_out(context) + x)
            x = layer.output_norm(layer.output(layer.activation(layer.intermediate(x))) + x)
        sums = torch.zeros(len(token_ids), self.hidden, device=x.device).index_add_(0, layout.segment, x.float())
        return sums / lengths[:, None]

    def _attention(self, qkv: torch.Tensor, layout: _Layout) -> torch.Tensor:
        head_dim = self.hidden // self.heads
        qkv = torch.cat([qkv, qkv.new_zeros(1, qkv.shape[1])])
        context = qkv.new_empty(layout.total, self.hidden)
        for gather, valid, targets, bias in layout.groups:
            rows, steps = gather.shape
            q, k, v = qkv[gather].view(rows, steps, 3, self.heads, head_dim).permute(2, 0, 3, 1, 4)
            scores = torch.matmul(q, k.transpose(-1, -2)) * head_dim**-0.5 + bias
            out = torch.matmul(scores.softmax(-1), v).transpose(1, 2).reshape(rows, steps, self.hidden)
            context[targets] = out[valid]
        return context
