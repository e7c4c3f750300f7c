"""`multiple_choice`: read the chosen letter from free text and compare it with the reference letter."""

from __future__ import annotations

import re
import string
from typing import Any

from finerouter.scoring.base import GradeResult, failed, never_raises
from finerouter.scoring.extract import boxed, json_answer

LETTERS = string.ascii_uppercase


def _patterns(letters: str) -> list[re.Pattern[str]]:
    one = f"[{letters}]"
    return [
        re.compile(
            rf"(?i:answer|choice|option)\s*(?i:is|:|=|would be|will be)?\s*:?\s*(?i:option\s*)?"
            rf"[*_(\[\s]*({one})\b(?![-'])"
        ),
        re.compile(rf"\*\*\s*\(?({one})\)?[.:]?\s*\*\*"),
        re.compile(rf"\(([{letters}{letters.lower()}])\)"),
        re.compile(rf"(?:^|[\s\[*_])({one})(?=[.)\]:*_]|\s*$)"),
    ]


def allowed_letters(options: int) -> str:
    return LETTERS[: max(1, min(options, len(LETTERS)))]


def choice_of(reference: Any) -> str | None:
    """'C', '(C)', 'c' or the 0-based option index 2 -> 'C'."""
    if isinstance(reference, int) and not isinstance(reference, bool) and 0 <= reference < len(LETTERS):
        return LETTERS[reference]
    match = re.fullmatch(r"\s*\(?([A-Za-z])\)?[.:]?\s*", str(reference))
    return match.group(1).upper() if match else None


def extract_choice(text: str, options: int = 10) -> str | None:
    """The letter a response picked: JSON answer, \\boxed{}, "answer is (C)", **C**, (C), last standalone letter."""
    letters = allowed_letters(options)
    field = json_answer(text)
    for part in [field, text] if field else [text]:
        for candidate in [*reversed(boxed(part)), part]:
            picked = choice_of(candidate)
            if picked and picked in letters:
                return picked
        for pattern in _patterns(letters):
            found = pattern.findall(part)
            if found:
                return found[-1].upper()
    return None


@never_raises
def multiple_choice(response: str, reference: Any, options: int = 10) -> GradeResult:
    gold = choice_of(reference)
    if gold is None:
        return failed(f"reference {str(reference)[:40]!r} is not an option letter")
    picked = extract_choice(response, options)
    if picked is None:
        return failed("no option letter found in the response")
    return GradeResult(1.0) if picked == gold else failed(f"picked {picked}, expected {gold}")
