"""`math`: MATH answer equivalence: extract the final answer, normalise the LaTeX, then compare as strings,
numbers, tuples / intervals / sets, and finally symbolically with sympy (under a time limit)."""

from __future__ import annotations

import math as _math
import re
from itertools import permutations
from typing import Any

from finerouter.scoring.base import GradeResult, failed, never_raises
from finerouter.scoring.extract import stated_answer
from finerouter.scoring.math_norm import normalize_math, split_top_level, strip_brackets
from finerouter.scoring.math_sympy import sympy_equal

_FRACTION = re.compile(r"^(-?)\\frac\{(-?\d+(?:\.\d+)?)\}\{(-?\d+(?:\.\d+)?)\}$")
_MAX_ELEMENTS = 6
_BASE = re.compile(r"^(-?\d+)_\{?(?:\d+|[a-z])\}?$")
_WORD = re.compile(r"(?<![\\a-zA-Z])[a-zA-Z]{2,}")


def answer_span(text: str) -> tuple[str, str] | None:
    """The stated final answer: JSON answer field, last \\boxed{}, "final answer is ...", or a one-line response."""
    found = stated_answer(text)
    if found:
        span, how = found
        return (re.sub(r"^\$(.*?)\$.*$", r"\1", span).rstrip(". "), how) if how == "answer phrase" else found
    stripped = text.strip()
    if stripped and len(stripped) <= 200 and "\n" not in stripped:
        return stripped, "whole response"
    return None


def as_number(s: str) -> float | None:
    """'12', '-0.5', '\\frac{3}{4}', '-\\frac{1}{2}' -> float; None for anything else."""
    try:
        return float(s)
    except ValueError:
        pass
    match = _FRACTION.match(s)
    if match:
        sign, num, den = match.groups()
        value = float(num) / float(den) if float(den) else None
        return -value if value is not None and sign else value
    return None


def sentence_answer(span: str) -> str | None:
    """An answer written as a sentence ('The store should charge $20.') -> its only number, if it has one."""
    if len(_WORD.findall(span)) < 3:
        return None
    found = set(re.findall(r"-?\d+(?:\.\d+)?", re.sub(r"(?<=\d),(?=\d{3})", "", span)))
    return found.pop() if len(found) == 1 else None


def equivalent(pred: str, gold: str, timeout: float = 2.0, depth: int = 0) -> bool:
    """Strings, then numbers, then element-wise for tuples / intervals / sets, then sympy."""
    if pred == gold:
        return True
    base_p, base_g = _BASE.match(pred), _BASE.match(gold)
    if base_p or base_g:
        return (base_p.group(1) if base_p else pred) == (base_g.group(1) if base_g else gold)
    a, b = as_number(pred), as_number(gold)
    if a is not None and b is not None:
        return _math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9)
    open_p, body_p, close_p = strip_brackets(pred)
    open_g, body_g, close_g = strip_brackets(gold)
    parts_p, parts_g = split_top_level(body_p), split_top_level(body_g)
    if depth == 0 and (len(parts_p) > 1 or len(parts_g) > 1):
        if len(parts_p) != len(parts_g) or len(parts_p) > _MAX_ELEMENTS or (open_p, close_p) != (open_g, close_g):
            return False
        orders = permutations(parts_p) if open_g in ("", "{") else [parts_p]
        return any(all(equivalent(x, y, timeout, 1) for x, y in zip(o, parts_g, strict=True)) for o in orders)
    if re.search(r"[<>=]|\\le|\\ge|\\neq|\\cup|\\cap", pred + gold):
        return False
    return bool(sympy_equal(pred, gold, timeout))


@never_raises
def math(response: str, reference: Any, timeout: float = 2.0) -> GradeResult:
    """Reference: the gold answer (a full solution works too: its last \\boxed{} is used)."""
    gold = normalize_math(str(reference))
    if not gold:
        return failed("empty reference answer")
    span = answer_span(response)
    if span is None:
        return failed("no final answer found (no JSON answer, \\boxed{} or 'answer is')")
    pred = normalize_math(sentence_answer(span[0]) or span[0])
    if not pred:
        return failed(f"empty answer ({span[1]})")
    if equivalent(pred, gold, timeout):
        return GradeResult(1.0)
    return failed(f"answer {pred[:60]!r} ({span[1]}) is not equivalent to {gold[:60]!r}")
