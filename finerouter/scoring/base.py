"""Grade results and the wrapper that keeps graders from ever raising on model output."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from finerouter.scoring.sandbox_bwrap import SandboxUnavailable


@dataclass(frozen=True)
class GradeResult:
    score: float  # in [0, 1]
    reason: str | None = None  # why the score is not 1 (or how the answer was read), None when plain


class Grader(Protocol):
    def __call__(self, response: Any, reference: Any, **kw: Any) -> GradeResult: ...


def passed(reason: str | None = None) -> GradeResult:
    return GradeResult(1.0, reason)


def failed(reason: str) -> GradeResult:
    return GradeResult(0.0, reason)


def never_raises(func: Callable[..., GradeResult]) -> Grader:
    """Malformed output (wrong type, None, junk) scores 0 with a reason instead of raising.

    `SandboxUnavailable` (the configured sandbox cannot run here) is raised: it is no property of the answer."""

    signature = inspect.signature(func)

    @functools.wraps(func)
    def wrapper(response: Any, reference: Any, **kw: Any) -> GradeResult:
        signature.bind(response, reference, **kw)  # a wrong keyword is the caller's bug: raise TypeError
        if response is None:
            return failed("no response")
        if not isinstance(response, str):
            return failed(f"response is a {type(response).__name__}, not text")
        if reference is None:
            return failed("no reference answer")
        try:
            result = func(response, reference, **kw)
        except SandboxUnavailable:
            raise  # a machine set-up problem, not the answer's fault: scoring it 0 would hide it
        except Exception as exc:  # model output must never crash a grading run
            return failed(f"grader error: {type(exc).__name__}: {str(exc)[:200]}")
        return GradeResult(min(1.0, max(0.0, float(result.score))), result.reason)

    return wrapper
