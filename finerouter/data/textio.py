"""Reading source text files: a clear DataError naming the file (and line) for bytes that are not UTF-8 or JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from finerouter.errors import DataError


def read_text(path: Path) -> str:
    """The file's text; unreadable or non-UTF-8 content is a DataError naming the file, line and byte."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{str(path)!r} cannot be read: {exc.strerror or exc}") from exc
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise DataError(
            f"{str(path)!r} line {line}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
            "save the file as UTF-8"
        ) from exc


def read_json(path: Path) -> Any:
    """The file's JSON value; a syntax error is a DataError naming the file, line and column."""
    try:
        return json.loads(read_text(path))
    except json.JSONDecodeError as exc:
        raise DataError(f"{str(path)!r} line {exc.lineno} column {exc.colno}: not valid JSON: {exc.msg}") from exc


def read_jsonl(path: Path) -> list[tuple[int, Any]]:
    """(line number, JSON value) for each non-blank line; a line that is not JSON is a DataError naming it."""
    rows: list[tuple[int, Any]] = []
    for number, line in enumerate(read_text(path).split("\n"), 1):  # not splitlines: JSON text may hold U+2028
        if not line.strip():
            continue
        try:
            rows.append((number, json.loads(line)))
        except json.JSONDecodeError as exc:
            raise DataError(f"{str(path)!r} line {number}: not valid JSON: {exc.msg} (column {exc.colno})") from exc
    return rows
