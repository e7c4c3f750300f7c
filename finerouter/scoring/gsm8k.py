"""`gsm8k`: the final number of a response against the gold number ("#### 18", "# 18", "18" or a full solution)."""

from __future__ import annotations

import math
import re
from typing import Any

from finerouter.scoring.base import GradeResult, failed, never_raises
from finerouter.scoring.extract import numbers, stated_answer, to_float

_HASHES = re.compile(r"####\s*([^\n]*)")


def _clean(text: str) -> str:
    text = re.sub(r"\\text\{[^{}]*\}|\\[,;!]", " ", text).replace("\\$", "").replace("$", "")
    text = re.sub(r"\\(?:d|t)?frac\{(-?[\d.]+)\}\{(-?[\d.]+)\}", r"\1/\2", text)
    return re.sub(r"(?<=\d),(?=\d{3}\b)", "", text)


def answer_span(text: str) -> tuple[str, str] | None:
    """Where the final answer is stated and how it was found: '####', JSON answer, \\boxed, 'answer is'."""
    hashes = _HASHES.findall(text)
    if hashes and hashes[-1].strip():
        return hashes[-1], "####"
    return stated_answer(text)


def final_number(text: str) -> tuple[float, str] | None:
    """The first number of the answer span, else the last number in the text (not when a JSON answer has none)."""
    span = answer_span(text)
    if span is not None:
        found = [v for v in map(to_float, numbers(_clean(span[0]))) if v is not None]
        if found:
            return found[0], span[1]
        if span[1] == "json answer":
            return None
    found = [v for v in map(to_float, numbers(_clean(text))) if v is not None]
    return (found[-1], "last number") if found else None


def gold_number(reference: Any) -> float | None:
    if isinstance(reference, (int, float)) and not isinstance(reference, bool):
        return float(reference)
    text = str(reference)
    hashes = _HASHES.findall(text)
    text = hashes[-1] if hashes else text.replace("#", " ")
    found = [v for v in map(to_float, numbers(_clean(text))) if v is not None]
    return found[0] if found else None


def same_number(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9)


@never_raises
def gsm8k(response: str, reference: Any) -> GradeResult:
    gold = gold_number(reference)
    if gold is None:
        return failed(f"reference {str(reference)[:40]!r} holds no number")
    found = final_number(response)
    if found is None:
        return failed("no number in the response")
    value, how = found
    if same_number(value, gold):
        return GradeResult(1.0)
    return failed(f"answer {value:g} ({how}) != {gold:g}")
