"""`code`: HumanEval / MBPP style: the candidate program and the tests run in the sandbox; exit 0 scores 1."""

from __future__ import annotations

import re
from typing import Any

from finerouter.scoring.base import GradeResult, failed, never_raises
from finerouter.scoring.sandbox import SandboxLimits, run_python

_FENCE = re.compile(r"```[ \t]*([\w+-]*)[^\n]*\n(.*?)(?:```|$)", re.DOTALL)


def extract_code(response: str, entry_point: str | None = None) -> str:
    """The fenced Python block defining `entry_point` (else the longest Python block), or the whole response."""
    blocks = [body for lang, body in _FENCE.findall(response) if lang.lower() in ("", "python", "py", "python3")]
    if not blocks:
        return response
    if entry_point:
        defining = [b for b in blocks if re.search(rf"\bdef\s+{re.escape(entry_point)}\s*\(", b)]
        if defining:
            return defining[0]
    return max(blocks, key=len)


def build_program(response: str, reference: Any, entry_point: str | None, prompt: str | None) -> str:
    """Candidate + tests. Reference: test code, a list of asserts (MBPP), or {'test', 'entry_point'} (HumanEval)."""
    if isinstance(reference, dict):
        entry_point = entry_point or reference.get("entry_point")
        prompt = prompt or reference.get("prompt")
        tests = str(reference.get("test", ""))
    elif isinstance(reference, (list, tuple)):
        tests = "\n".join(str(t) for t in reference)
    else:
        tests = str(reference)
    candidate = extract_code(response, entry_point)
    if prompt and entry_point and not re.search(rf"\bdef\s+{re.escape(entry_point)}\s*\(", candidate):
        candidate = prompt + candidate  # a HumanEval completion: the body of the prompt's function
    check = f"\n\ncheck({entry_point})\n" if entry_point and re.search(r"\bdef\s+check\s*\(", tests) else "\n"
    return f"{candidate}\n\n{tests}{check}"


@never_raises
def code(
    response: str,
    reference: Any,
    entry_point: str | None = None,
    prompt: str | None = None,
    timeout: float = 10.0,
    memory_mb: int = 1024,
) -> GradeResult:
    if not response.strip():
        return failed("empty response")
    program = build_program(response, reference, entry_point, prompt)
    result = run_python(program, SandboxLimits(timeout=timeout, memory_mb=memory_mb))
    if result.status == "passed":
        return GradeResult(1.0)
    return failed(f"{result.status}: {result.reason or 'tests did not pass'}")
