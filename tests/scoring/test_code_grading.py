"""The `code` grader: a pass needs positive evidence that every test ran and passed, not an exit status."""

from __future__ import annotations

import shutil

import pytest

from finerouter.scoring import GradeResult, grade

needs_bwrap = pytest.mark.skipif(
    shutil.which("bwrap") is None, reason="bubblewrap is not installed (apt-get install -y bubblewrap)"
)
SANDBOXES = [pytest.param("bwrap", marks=needs_bwrap), "guard-only"]

HUMANEVAL = {
    "prompt": 'def add(a: int, b: int) -> int:\n    """Sum of a and b."""\n',
    "entry_point": "add",
    "test": "def check(candidate):\n    assert candidate(2, 3) == 5\n    assert candidate(-1, 1) == 0\n",
}
MBPP = ["assert square(3) == 9", "assert square(0) == 0"]
WRONG_ADD = "def add(a, b):\n    return a - b\n"
RIGHT_ADD = "def add(a, b):\n    return a + b\n"

# Wrong code that exits 0 before (or instead of) the tests failing: every one scored 1.0 before the harness.
TRICKS = {
    "sys.exit(0) under __main__": "import sys\n{code}\nif __name__ == '__main__':\n    sys.exit(0)\n",
    "unittest.main() under __main__": "import unittest\n{code}\nif __name__ == '__main__':\n    unittest.main()\n",
    "unittest.main() unguarded": "import unittest\n{code}\nunittest.main()\n",
    "raise SystemExit(0)": "{code}\nraise SystemExit(0)\n",
    "sys.exit() at import": "import sys\n{code}\nsys.exit()\n",
    "atexit os._exit(0)": "import atexit, os\natexit.register(lambda: os._exit(0))\n{code}\n",
    "os._exit(0) at import": "import os\n{code}\nos._exit(0)\n",
    "exit inside the function": "import os\ndef add(a, b):\n    os._exit(0)\n",
    "SystemExit inside the function": "def add(a, b):\n    raise SystemExit(0)\n",
    "prints a fake marker": "{code}\nprint('0' * 32)\nimport os\nos._exit(0)\n",
}


@pytest.mark.parametrize("sandbox", SANDBOXES)
@pytest.mark.parametrize("trick", TRICKS.values(), ids=TRICKS.keys())
def test_wrong_code_that_exits_zero_scores_zero(trick: str, sandbox: str) -> None:
    result = grade("code", trick.format(code=WRONG_ADD), HUMANEVAL, sandbox=sandbox)
    assert result.score == 0.0, result.reason


@pytest.mark.parametrize("sandbox", SANDBOXES)
@pytest.mark.parametrize(
    "trick", [t for name, t in TRICKS.items() if "{code}" in t and "os._exit" not in t], ids=lambda t: t[:30]
)
def test_correct_code_with_the_same_endings_still_passes(trick: str, sandbox: str) -> None:
    """Exits while loading the answer (e.g. a stray unittest.main()) do not stop the tests from running."""
    assert grade("code", trick.format(code=RIGHT_ADD), HUMANEVAL, sandbox=sandbox).score == 1.0


@pytest.mark.parametrize("sandbox", SANDBOXES)
def test_exit_status_zero_without_completion_is_explained(sandbox: str) -> None:
    result = grade("code", "import os\nos._exit(0)\n", MBPP, sandbox=sandbox)
    assert result.score == 0.0 and "no completion marker" in result.reason


@pytest.mark.parametrize("sandbox", SANDBOXES)
def test_code_grader(sandbox: str) -> None:
    def score(response: str, reference: object, **kw: object) -> GradeResult:
        return grade("code", response, reference, sandbox=sandbox, **kw)

    assert score(f"```python\n{RIGHT_ADD}```\nThat's it.", HUMANEVAL).score == 1.0
    assert score("    return a + b\n", HUMANEVAL).score == 1.0  # a completion of the prompt
    wrong = score(WRONG_ADD, HUMANEVAL)
    assert wrong.score == 0.0 and "AssertionError" in wrong.reason
    assert score("def square(x):\n    return x * x", MBPP).score == 1.0
    assert score("def square(x) return x", MBPP).reason.startswith("failed: SyntaxError")
    slow = score("def square(x):\n    while True:\n        pass", MBPP, timeout=2)
    assert slow.score == 0.0 and slow.reason.startswith("timeout")
    assert score("", MBPP).reason == "empty response"
    main_guarded = "def square(x):\n    return x * x\nif __name__ == '__main__':\n    print(input())\n"
    assert score(main_guarded, MBPP).score == 1.0  # the answer's own demo (waiting for input) does not run
    assert score("def square(x):\n    return x * x\n", "assert square(2) == 4\nassert square(1) == 2").score == 0.0


@needs_bwrap
def test_grade_reason_cannot_carry_host_files() -> None:
    leak = "def square(x):\n    return x * x\nraise AssertionError(open('/etc/passwd').read()[:300])\n"
    result = grade("code", leak, MBPP)
    assert result.score == 0.0 and "root:" not in result.reason and "No such file" in result.reason
