"""`code`: HumanEval / MBPP style: the candidate program and the tests run in the sandbox.

A pass needs positive evidence, not an exit status: the harness loads the answer as a module named `candidate`
(so `if __name__ == "__main__": sys.exit(0)` or `unittest.main()` under it never run; a `SystemExit` while
loading is reported and the tests run anyway), runs the tests in its namespace, and only after the last test
prints a per-run nonce that it read (and deleted) before the answer's first line ran. Exit status 0 without
the nonce (`os._exit(0)`, an `atexit` hook, an exit inside the tested function) scores 0.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from finerouter.scoring.base import GradeResult, failed, never_raises
from finerouter.scoring.sandbox import Isolation, SandboxLimits, run_python

NONCE_FILE = ".grading-nonce"
HARNESS = """\
import os as _os
import sys as _sys


def _finerouter_harness(candidate_source, tests_source, entry_point):
    run, build, write, flush = exec, compile, _os.write, _sys.stdout.flush
    with open({nonce_file!r}) as nonce_file:
        nonce = nonce_file.read().strip()
    _os.unlink({nonce_file!r})
    namespace = {{"__name__": "candidate", "__builtins__": __builtins__}}
    try:
        run(build(candidate_source, "candidate.py", "exec"), namespace)
    except SystemExit as exc:
        note = f"harness: the answer raised SystemExit({{exc.code!r}}) while loading; testing it anyway"
        print(note, file=_sys.stderr)
    run(build(tests_source, "tests.py", "exec"), namespace)
    if entry_point is not None:
        namespace["check"](namespace[entry_point])
    flush()
    write(1, ("\\n" + nonce + "\\n").encode())


_finerouter_harness({candidate!r}, {tests!r}, {entry_point!r})
"""

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
    """The harness around candidate + tests (it reads the nonce from `NONCE_FILE`).

    Reference: test code, a list of asserts (MBPP), or {'test', 'entry_point'} (HumanEval)."""
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
    checked = entry_point if entry_point and re.search(r"\bdef\s+check\s*\(", tests) else None
    return HARNESS.format(nonce_file=NONCE_FILE, candidate=candidate, tests=tests, entry_point=checked)


@never_raises
def code(
    response: str,
    reference: Any,
    entry_point: str | None = None,
    prompt: str | None = None,
    timeout: float = 10.0,
    memory_mb: int = 1024,
    sandbox: Isolation = "bwrap",
) -> GradeResult:
    if not response.strip():
        return failed("empty response")
    program = build_program(response, reference, entry_point, prompt)
    nonce = secrets.token_hex(16)
    limits = SandboxLimits(timeout=timeout, memory_mb=memory_mb)
    result = run_python(program, limits, files={NONCE_FILE: nonce}, isolation=sandbox)
    if result.status != "passed":
        return failed(f"{result.status}: {result.reason or 'tests did not pass'}")
    if nonce not in result.stdout.splitlines():
        return failed("failed: exit status 0 but the tests did not finish (no completion marker after the last test)")
    return GradeResult(1.0)
