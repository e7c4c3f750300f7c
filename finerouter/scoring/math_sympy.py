"""LaTeX answers to sympy, and numeric / symbolic equivalence under a time limit.

The converter handles what MATH answers use (fractions, roots, pi, powers, products, binomials, logs, trig).
Its output is checked against a whitelist of tokens before sympy parses it, so model text never reaches eval.
"""

from __future__ import annotations

import contextlib
import math
import random
import re
import signal
import threading
from collections.abc import Iterator
from typing import Any

from finerouter.scoring.extract import braced

_FUNCS = {"sqrt", "pi", "oo", "log", "ln", "sin", "cos", "tan", "cot", "sec", "csc", "exp", "binomial", "E", "I"}
_COMMANDS = {
    "\\pi": " pi ", "\\infty": " oo ", "\\cdot": "*", "\\times": "*", "\\div": "/", "\\ln": " log ",
    "\\log": " log ", "\\sin": " sin ", "\\cos": " cos ", "\\tan": " tan ", "\\cot": " cot ", "\\sec": " sec ",
    "\\csc": " csc ", "\\exp": " exp ", "\\theta": " theta ", "\\alpha": " alpha ", "\\beta": " beta ",
}  # fmt: skip
_SAFE = re.compile(r"^[0-9a-zA-Z+\-*/().\s]*$")
_MAX_DIGITS = 40


class ConversionError(ValueError):
    pass


def _replace_group_command(text: str, command: str, arity: int, build: Any) -> str:
    while (at := text.find(command)) >= 0:
        pos, args = at + len(command), []
        option = None
        if command == "\\sqrt" and text[pos : pos + 1] == "[":
            close = text.find("]", pos)
            if close < 0:
                raise ConversionError("unclosed \\sqrt[")
            option, pos = text[pos + 1 : close], close + 1
        for _ in range(arity):
            group = braced(text, pos)
            if group is None:
                raise ConversionError(f"{command} without {{...}} argument")
            args.append(group[0])
            pos = group[1]
        text = text[:at] + build(args, option) + text[pos:]
    return text


def latex_to_expr_text(latex: str) -> str:
    s = latex
    s = _replace_group_command(s, "\\frac", 2, lambda a, _: f"(({a[0]})/({a[1]}))")
    s = _replace_group_command(s, "\\binom", 2, lambda a, _: f"binomial({a[0]},{a[1]})")
    s = _replace_group_command(s, "\\sqrt", 1, lambda a, n: f"sqrt({a[0]})" if n is None else f"(({a[0]})**(1/({n})))")
    for command in sorted(_COMMANDS, key=len, reverse=True):
        s = s.replace(command, _COMMANDS[command])
    s = s.replace("{", "(").replace("}", ")").replace("^", "**")
    if "\\" in s or not _SAFE.match(s) or re.search(r"(?<!\d)\.|\.(?!\d)|__", s):
        raise ConversionError("not a plain arithmetic expression")
    for word in re.findall(r"[a-zA-Z]+", s):
        if len(word) > 1 and word not in _FUNCS and word not in {"theta", "alpha", "beta"}:
            raise ConversionError(f"unknown name {word!r}")
    exponents = [int(e) for e in re.findall(r"\*\*\s*\(*\s*(\d+)", s)]
    towers = re.search(r"\*\*[^+\-*/]*\*\*", s)
    if any(len(d) > _MAX_DIGITS for d in re.findall(r"\d+", s)) or towers or any(e > 10_000 for e in exponents):
        raise ConversionError("numbers too large to compare safely")
    return s


def to_sympy(latex: str) -> Any:
    from sympy.parsing.sympy_parser import (
        convert_xor,
        implicit_multiplication_application,
        parse_expr,
        standard_transformations,
    )

    text = latex_to_expr_text(latex)
    transformations = (*standard_transformations, implicit_multiplication_application, convert_xor)
    import sympy

    names = {n: getattr(sympy, n) for n in ("sqrt", "pi", "oo", "log", "sin", "cos", "tan", "cot", "sec", "csc")}
    names |= {"exp": sympy.exp, "binomial": sympy.binomial, "E": sympy.E, "I": sympy.I, "ln": sympy.log}
    names |= {c: sympy.Symbol(c) for c in "abcdefghijklmnopqrstuvwxyzABCDFGHJKLMNOPQRSTUVWXYZ"}
    names |= {n: sympy.Symbol(n) for n in ("theta", "alpha", "beta")}
    base = {n: getattr(sympy, n) for n in ("Integer", "Float", "Rational", "Symbol", "Function")}
    try:
        return parse_expr(
            text, local_dict=names, global_dict={"__builtins__": {}, **base}, transformations=transformations
        )
    except Exception as exc:
        raise ConversionError(f"sympy could not parse {text!r}: {exc}") from exc


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[bool]:
    """Raise TimeoutError after `seconds` via SIGALRM; yields False (no limit) outside the main thread."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield False
        return

    def _expired(signum: int, frame: Any) -> None:
        raise TimeoutError(f"symbolic comparison took over {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, _expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield True
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _close(a: complex, b: complex) -> bool:
    finite = all(map(math.isfinite, (a.real, a.imag, b.real, b.imag)))
    return finite and abs(a - b) <= 1e-6 * max(1.0, abs(a), abs(b))


def sympy_equal(a: str, b: str, timeout: float = 2.0) -> bool | None:
    """True / False when both sides convert and compare in time; None when undecidable."""
    import sympy

    try:
        with time_limit(timeout) as limited:
            x, y = to_sympy(a), to_sympy(b)
            symbols = sorted(x.free_symbols | y.free_symbols, key=str)
            if x.has(sympy.oo, -sympy.oo, sympy.zoo) or y.has(sympy.oo, -sympy.oo, sympy.zoo):
                return bool(x == y)
            if not symbols:
                vx, vy = complex(x.evalf(30)), complex(y.evalf(30))
                return _close(vx, vy)
            if limited and sympy.simplify(x - y) == 0:  # unbounded in time: only under the alarm
                return True
            rng = random.Random(0)
            for _ in range(3):
                point = {s: rng.uniform(0.5, 2.5) for s in symbols}
                if not _close(complex(x.evalf(subs=point)), complex(y.evalf(subs=point))):
                    return False
            return True
    except (ConversionError, TimeoutError, TypeError, ValueError, ArithmeticError, RecursionError, AttributeError):
        return None
