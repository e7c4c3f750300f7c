"""SQuAD-style `exact_match` and token `f1`; a reference may be a list of acceptable answers (best one counts)."""

from __future__ import annotations

import re
import string
from collections import Counter
from typing import Any

from finerouter.scoring.base import GradeResult, failed, never_raises

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = str.maketrans("", "", string.punctuation + "‘’“”")


def normalize_answer(text: str) -> str:
    """Lowercase, drop punctuation and articles, collapse whitespace (the SQuAD evaluation script's rules)."""
    text = text.lower().translate(_PUNCT)
    return " ".join(_ARTICLES.sub(" ", text).split())


def references(reference: Any) -> list[str]:
    items = reference if isinstance(reference, (list, tuple, set)) else [reference]
    return [str(r) for r in items if r is not None]


def token_f1(prediction: str, gold: str) -> float:
    pred, ref = normalize_answer(prediction).split(), normalize_answer(gold).split()
    if not pred or not ref:
        return float(pred == ref)
    common = sum((Counter(pred) & Counter(ref)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


@never_raises
def exact_match(response: str, reference: Any) -> GradeResult:
    golds = references(reference)
    if not golds:
        return failed("no reference answer")
    pred = normalize_answer(response)
    if any(pred == normalize_answer(g) for g in golds):
        return GradeResult(1.0)
    return failed(f"{pred[:80]!r} matches none of {len(golds)} reference answer(s)")


@never_raises
def f1(response: str, reference: Any) -> GradeResult:
    golds = references(reference)
    if not golds:
        return failed("no reference answer")
    score = max(token_f1(response, g) for g in golds)
    return GradeResult(score, None if score == 1.0 else f"token F1 {score:.3f}")
