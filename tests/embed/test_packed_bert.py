"""The packed BERT forward gives the padded forward's mean-pooled vectors, for any mix of lengths."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional
from transformers import AutoModel, AutoTokenizer, BertConfig, DistilBertConfig

from finerouter.embed import packed_bert
from finerouter.embed.encoder import encoder_path
from finerouter.embed.packed_bert import PackedBert, supports_packing
from tests.embed.markers import bf16_cpu

TEXTS = [
    "hi",
    "",
    "What is the derivative of x^3 + 2x?",
    "Write a python function that parses ISO 8601 dates and returns a datetime object, with tests.",
    "Ünïcödé and emoji 🙂",
    "word " * 400,  # truncated at 256 tokens
    "Translate 'good morning' into French.",
    "Which of the following best describes the role of mitochondria? A) energy B) storage C) transport D) none",
    "a b c d e f g",
    "Summarise the plot of Hamlet in two sentences.",
    "x",
]


@pytest.fixture(scope="module")
def minilm():
    path = encoder_path("minilm")
    return AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path).eval()


def padded_mean(model, tokenizer, texts: list[str]) -> torch.Tensor:
    batch = tokenizer(texts, padding=True, truncation=True, max_length=256, return_tensors="pt")
    hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    return (hidden * mask).sum(1) / mask.sum(1)


@pytest.mark.parametrize("group", [1, 3, 8, 64])
def test_packed_equals_padded_forward(minilm, monkeypatch: pytest.MonkeyPatch, group: int) -> None:
    tokenizer, model = minilm
    monkeypatch.setattr(packed_bert, "ATTENTION_GROUP", group)  # groups of one, ragged groups, one group
    ids = tokenizer(TEXTS, truncation=True, max_length=256)["input_ids"]
    assert len(ids[5]) == 256 and len(ids[1]) == 2
    with torch.inference_mode():
        packed = PackedBert(model).pool(ids)
        expected = padded_mean(model, tokenizer, TEXTS)
    assert packed.dtype == torch.float32 and packed.shape == (len(TEXTS), 384)
    torch.testing.assert_close(packed, expected, atol=2e-5, rtol=1e-4)


def test_a_text_alone_equals_the_text_in_a_batch(minilm) -> None:
    tokenizer, model = minilm
    ids = tokenizer(TEXTS, truncation=True, max_length=256)["input_ids"]
    encoder = PackedBert(model)
    with torch.inference_mode():
        batch = encoder.pool(ids)
        alone = torch.cat([encoder.pool([one]) for one in ids])
    torch.testing.assert_close(batch, alone, atol=1e-5, rtol=1e-4)


def test_only_absolute_position_bert_is_packed() -> None:
    assert supports_packing(BertConfig())
    assert not supports_packing(BertConfig(position_embedding_type="relative_key"))
    assert not supports_packing(DistilBertConfig())
    with pytest.raises(ValueError, match="BERT with absolute positions, not distilbert"):
        PackedBert(type("Model", (), {"config": DistilBertConfig()})())


@bf16_cpu
@pytest.mark.skipif(
    not packed_bert.onednn_prepacks_bfloat16(), reason="this torch build has no oneDNN prepacked linear"
)
def test_prepacked_bfloat16_linear_equals_the_plain_one() -> None:
    generator = torch.Generator().manual_seed(0)
    weight = torch.randn(96, 48, generator=generator).to(torch.bfloat16)
    bias = torch.randn(96, generator=generator).to(torch.bfloat16)
    x = torch.randn(7, 48, generator=generator).to(torch.bfloat16)
    expected = functional.linear(x.float(), weight.float(), bias.float())
    torch.testing.assert_close(packed_bert.make_linear(weight, bias)(x).float(), expected, atol=0.1, rtol=0.02)


@bf16_cpu
def test_bfloat16_packed_stays_close_to_float32(minilm) -> None:
    import copy

    tokenizer, model = minilm
    ids = tokenizer(TEXTS, truncation=True, max_length=256)["input_ids"]
    with torch.inference_mode():
        full = functional.normalize(PackedBert(model).pool(ids), dim=-1)
        half = functional.normalize(PackedBert(copy.deepcopy(model).to(torch.bfloat16)).pool(ids), dim=-1)
    assert half.dtype == torch.float32 and (full * half).sum(-1).min() > 0.999
