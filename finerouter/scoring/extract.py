"""Finding the final answer in free text: JSON `answer` fields, \\boxed{...}, "the answer is ...", numbers."""

from __future__ import annotations

import json
import re
from typing import Any

NUMBER = re.compile(r"(?<![\w.])-?(?:(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|\.\d+)(?:/\d+(?:\.\d+)?)?")
_ANSWER_KEY = re.compile(r'"answer"\s*:\s*')
_JSON_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"', re.DOTALL)
_BARE_VALUE = re.compile(r"([^,\s}\]]+)")
_LATEX_ESCAPE = re.compile(r'\\(?:[bfnrt][a-zA-Z]|u(?![0-9a-fA-F]{4})|[^"\\/bfnrtu])')
_PHRASE = re.compile(
    r"(?:final answer|the answer|answer)\s*(?:is|:|=|would be|will be)\s*:?\s*(?P<rest>[^\n]+)", re.IGNORECASE
)


def braced(text: str, start: int) -> tuple[str, int] | None:
    """The contents of the {...} group opening at text[start] (nested braces allowed) and the index after it."""
    if start >= len(text) or text[start] != "{":
        return None
    depth = 0
    for i in range(start, len(text)):
        if text[i] == "{" and (i == 0 or text[i - 1] != "\\"):
            depth += 1
        elif text[i] == "}" and (i == 0 or text[i - 1] != "\\"):
            depth -= 1
            if depth == 0:
                return text[start + 1 : i], i + 1
    return None


def boxed(text: str) -> list[str]:
    """Contents of every \\boxed{...} / \\fbox{...} (and `\\boxed 5`), in order."""
    found: list[str] = []
    for match in re.finditer(r"\\(?:boxed|fbox)\s*", text):
        end = match.end()
        group = braced(text, end)
        if group is not None:
            found.append(group[0])
        elif match.group().endswith(" ") or text[end : end + 1].isalnum():
            bare = re.match(r"[^\s$]+", text[end:])
            if bare:
                found.append(bare.group())
    return found


def _repair_latex(value: str) -> str:
    """JSON decoding turns LaTeX \\frac, \\times, \\boxed, \\right into control characters: undo that."""
    value = value.replace("\x0c", "\\f").replace("\x08", "\\b")
    return re.sub(r"[\t\r](?=[a-zA-Z])", lambda m: {"\t": "\\t", "\r": "\\r"}[m.group()], value)


def _escape_latex(text: str) -> str:
    """Double the backslash of escapes that are LaTeX, not JSON (\\frac, \\sqrt, \\times); keep \\\\ and \\n."""
    out, i = [], 0
    while i < len(text):
        if text[i] != "\\":
            out.append(text[i])
            i += 1
        elif _LATEX_ESCAPE.match(text, i):
            out.append("\\\\")
            i += 1
        else:
            out.append(text[i : i + 2])
            i += 2
    return "".join(out)


def _loads(candidate: str) -> Any:
    fixed = _escape_latex(candidate)
    for text in (fixed, candidate):
        try:
            return json.loads(text, strict=False)
        except (json.JSONDecodeError, RecursionError):
            continue
    return None


def json_objects(text: str, limit: int = 20) -> list[str]:
    """Balanced top-level {...} spans of text (string-aware), the first `limit` of them."""
    spans: list[str] = []
    depth, start, in_str, escaped = 0, -1, False, False
    for i, ch in enumerate(text):
        if in_str:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_str = False
        elif ch == '"' and depth:
            in_str = True
        elif ch == "{":
            start = i if depth == 0 else start
            depth += 1
        elif ch == "}" and depth:
            depth -= 1
            if depth == 0:
                spans.append(text[start : i + 1])
                if len(spans) >= limit:
                    break
    return spans


def json_answer(text: str, key: str = "answer") -> str | None:
    """The `answer` field of the first JSON object holding one; falls back to a lenient `"answer": ...` match."""
    for span in json_objects(text):
        data = _loads(span)
        if isinstance(data, dict) and key in data and data[key] is not None:
            value = data[key]
            value = value if isinstance(value, str) else json.dumps(value)
            return _repair_latex(value).strip()
    match = re.search(f'"{re.escape(key)}"' + r"\s*:\s*", text)
    if not match:
        return None
    rest = text[match.end() :]
    quoted = _JSON_STRING.match(rest)
    if quoted:
        decoded = _loads(f'"{quoted.group(1)}"')
        return _repair_latex(decoded if isinstance(decoded, str) else quoted.group(1)).strip()
    bare = _BARE_VALUE.match(rest)
    return bare.group(1).strip().strip('"') if bare else None


def answer_phrase(text: str) -> str | None:
    """What follows the last "answer is" / "Answer:" in text, up to the end of its line."""
    matches = list(_PHRASE.finditer(text))
    return matches[-1].group("rest").strip() if matches else None


def stated_answer(text: str) -> tuple[str, str] | None:
    """The answer a response states, by the first rule that finds one: JSON `answer`, last \\boxed{}, "answer is"."""
    field = json_answer(text)
    if field:
        return field, "json answer"
    boxes = boxed(text)
    if boxes:
        return boxes[-1], "boxed"
    phrase = answer_phrase(text)
    return (phrase, "answer phrase") if phrase else None


def numbers(text: str) -> list[str]:
    return [m.group() for m in NUMBER.finditer(text)]


def to_float(token: str) -> float | None:
    """'1,234.5' -> 1234.5; '3/4' -> 0.75; None when not a plain number."""
    token = token.replace(",", "").strip()
    try:
        if "/" in token:
            num, den = token.split("/", 1)
            return float(num) / float(den)
        return float(token)
    except (ValueError, ZeroDivisionError):
        return None
