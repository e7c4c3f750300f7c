"""Graders: score a model response against a reference, in [0, 1], never raising on malformed output.

`grade(name, response, reference, **kw)` looks a grader up in `GRADERS`:
exact_match, f1 (SQuAD normalisation; list references take the best), multiple_choice (letter from free text),
gsm8k (final number), math (MATH answer equivalence), code (candidate + tests run in `sandbox`).
"""

from __future__ import annotations

from typing import Any

from finerouter.scoring.base import Grader, GradeResult
from finerouter.scoring.choice import multiple_choice
from finerouter.scoring.code import code
from finerouter.scoring.gsm8k import gsm8k
from finerouter.scoring.math_answer import math
from finerouter.scoring.text import exact_match, f1

GRADERS: dict[str, Grader] = {
    "exact_match": exact_match,
    "f1": f1,
    "multiple_choice": multiple_choice,
    "gsm8k": gsm8k,
    "math": math,
    "code": code,
}


def grade(grader_name: str, response: Any, reference: Any, **kw: Any) -> GradeResult:
    if grader_name not in GRADERS:
        raise KeyError(f"unknown grader {grader_name!r}; valid graders: {', '.join(sorted(GRADERS))}")
    return GRADERS[grader_name](response, reference, **kw)


__all__ = ["GRADERS", "GradeResult", "Grader", "grade"]
