"""Normalising MATH answers written in LaTeX, in the spirit of Hendrycks et al.'s `strip_string`."""

from __future__ import annotations

import re

from finerouter.scoring.extract import boxed, braced

_DROP = (
    "\\left", "\\right", "\\displaystyle", "\\!", "\\,", "\\;", "\\:", "\\quad", "\\qquad", "\\limits",
    "\\bigl", "\\bigr", "\\Bigl", "\\Bigr", "\\big", "\\Big",
)  # fmt: skip
_TEXT = re.compile(r"\\(?:text|textbf|textit|mbox|mathrm|mathbf|operatorname)\s*\{([^{}]*)\}")
_UNIT_WORDS = (
    r"(?:square\s+|sq\.?\s+|cubic\s+)?(?:units?|cm|centimeters?|m|meters?|km|kilometers?|mm|inch(?:es)?|in|feet|foot|ft|"
    r"miles?|mph|yards?|seconds?|minutes?|hours?|days?|weeks?|months?|years?|degrees?|dollars?|cents?|"
    r"pounds?|ounces?|grams?|kg|liters?|gallons?|people|students?|ways?|numbers?|integers?|points?|"
    r"cookies?|games?|steps?|times?|percent|digits?|terms?|values?|solutions?|outcomes?|pairs?|sides?)"
)
_TRAILING_UNITS = re.compile(rf"(?<=[\d}}).])\s*(?:{_UNIT_WORDS})(?:\s*\^\s*\{{?\d\}}?|[²³])?\.?\s*$", re.IGNORECASE)
_ASSIGNMENT = re.compile(r"^\s*(?:[a-zA-Z]|\\[a-zA-Z]+|[a-zA-Z]\([a-z]\)|[a-zA-Z]_\{?\w+\}?)\s*=\s*(?=[^=])")
_NUMBER_THEN_WORDS = re.compile(r"^(-?\d[\d,]*(?:\.\d+)?)\s+(?![^a-zA-Z]*\b(?:or|and)\b)[a-zA-Z][a-zA-Z\s'-]*\.?$")
_THOUSANDS = re.compile(r"^-?\d{1,3}(?:,\d{3})+(?:\.\d+)?$")


def final_answer_text(text: str) -> str:
    """The last \\boxed{...} in text if any, else text itself, without surrounding $ or \\( \\)."""
    boxes = boxed(text)
    text = boxes[-1] if boxes else text
    text = text.strip()
    for left, right in (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")):
        if text.startswith(left) and text.endswith(right) and len(text) >= len(left) + len(right):
            text = text[len(left) : len(text) - len(right)].strip()
    return text


def _fix_fracs(text: str) -> str:
    """\\frac12 -> \\frac{1}{2}; \\frac1{x} -> \\frac{1}{x}; \\sqrt3 -> \\sqrt{3}."""
    text = re.sub(r"\\sqrt\s*([0-9a-zA-Z])", r"\\sqrt{\1}", text)
    text = re.sub(r"\\frac\s*([0-9a-zA-Z])\s*([0-9a-zA-Z])", r"\\frac{\1}{\2}", text)
    text = re.sub(r"\\frac\s*([0-9a-zA-Z])\s*\{", r"\\frac{\1}{", text)
    return re.sub(r"\\frac\s*(\{[^{}]*\})\s*([0-9a-zA-Z])(?![0-9a-zA-Z])", r"\\frac\1{\2}", text)


def _text_to_plain(text: str) -> str:
    while True:
        new = _TEXT.sub(lambda m: m.group(1), text)
        if new == text:
            return new
        text = new


def normalize_math(answer: str) -> str:
    """A canonical string for comparing MATH answers ('\\dfrac{1}{2}' and '\\frac12' both give '\\frac{1}{2}')."""
    s = final_answer_text(answer).replace("\n", " ").replace("\\\\", "\\")
    s = s.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac").replace("\\cfrac", "\\frac")
    for token in _DROP:
        s = s.replace(token, "")
    s = re.sub(r"\^\s*\{\s*\\circ\s*\}|\^\s*\\circ|\\circ|°|\\degree", "", s)
    s = s.replace("\\%", "").replace("%", "").replace("\\$", "").replace("$", "")
    s = s.replace("−", "-").replace("–", "-").replace("×", "\\times ").replace("π", "\\pi ")
    s = re.sub(r"√\s*(\d+(?:\.\d+)?|[a-zA-Z])", r"\\sqrt{\1}", s).replace("√", "sqrt")
    s = _TRAILING_UNITS.sub("", _text_to_plain(s)).strip()
    s = re.sub(r"\s*\.$", "", s)
    s = _NUMBER_THEN_WORDS.sub(r"\1", s)
    s = s.strip("_ ") if s.startswith("_") else s
    s = _ASSIGNMENT.sub("", s) if s.count("=") == 1 else s
    s = s.replace("\\{", "{").replace("\\}", "}") if "\\{" in s else s
    s = re.sub(r"\s+", "", s)
    s = _fix_fracs(s)
    if _THOUSANDS.match(s):
        s = s.replace(",", "")
    s = re.sub(r"(?<![\d.])\.(\d)", r"0.\1", s)
    s = re.sub(r"^(-?\d+)\.0+$", r"\1", s)
    s = re.sub(r"^(-?\d+\.\d*?)0+$", r"\1", s)
    s = re.sub(r"_\{(\w+)\}", r"_\1", s)
    if re.fullmatch(r"-?\d+/\d+", s):
        num, den = s.split("/")
        s = f"\\frac{{{num}}}{{{den}}}"
    return s


def split_top_level(text: str) -> list[str]:
    """'(1,\\frac{1}{2}),3' split on commas outside brackets and braces."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


def strip_brackets(text: str) -> tuple[str, str, str]:
    """'(1,2]' -> ('(', '1,2', ']') when the outer brackets enclose everything; else ('', text, '')."""
    if len(text) >= 2 and text[0] in "([{" and text[-1] in ")]}":
        depth = 0
        for i, ch in enumerate(text):
            depth += ch in "([{"
            depth -= ch in ")]}"
            if depth == 0 and i < len(text) - 1:
                return "", text, ""
        return text[0], text[1:-1], text[-1]
    return "", text, ""


__all__ = ["braced", "final_answer_text", "normalize_math", "split_top_level", "strip_brackets"]
