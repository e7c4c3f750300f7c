"""Request text the router and the upstreams can take: UTF-8 encodable, and text parts that hold strings.

JSON can carry a lone surrogate (`"\\ud800"`), which Python decodes into a `str` that cannot be UTF-8 encoded: the
tokenizer fails on it, and so would forwarding it upstream. Such bodies are refused at the schema with a 400 that
names the field (the `invalid_text` error type, mapped to 400 in serve_app/api.py).
"""

from __future__ import annotations

from typing import Any

from pydantic_core import PydanticCustomError

TEXT_ERROR = "invalid_text"  # pydantic error type of text the service refuses (answered with 400, not 422)
_JSON_TYPES = {type(None): "null", bool: "a boolean", int: "a number", float: "a number", dict: "an object",
               list: "an array"}  # fmt: skip


def encodable(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def printable(text: str) -> str:
    """`text` with what UTF-8 cannot encode written as escapes (error messages may echo the request)."""
    return text if encodable(text) else text.encode("utf-8", "backslashreplace").decode("utf-8")


def unencodable_path(value: Any) -> str | None:
    """The dotted path (`messages.0.content`) of the first string or key in a decoded JSON value that cannot be
    UTF-8 encoded; None when all can. Iterative: a deeply nested body cannot exhaust the stack."""
    stack: list[tuple[Any, str]] = [(value, "")]
    while stack:
        item, path = stack.pop()
        if isinstance(item, str):
            if not encodable(item):
                return path or "body"
        elif isinstance(item, dict):
            children = []
            for key, child in item.items():
                where = f"{path}.{key}" if path else str(key)
                if isinstance(key, str) and not encodable(key):
                    return where
                children.append((child, where))
            stack.extend(reversed(children))
        elif isinstance(item, list):
            stack.extend(
                (child, f"{path}.{index}" if path else str(index)) for index, child in reversed(list(enumerate(item)))
            )
    return None


def reject_unencodable(data: Any) -> None:
    where = unencodable_path(data)
    if where is not None:
        raise PydanticCustomError(
            TEXT_ERROR,
            "text that cannot be encoded as UTF-8 (a lone surrogate such as \\ud800); send valid Unicode",
            {"field": printable(where)},
        )


def check_text_parts(content: Any) -> None:
    """Each `{"type": "text"}` part of a message's content must hold its text as a string."""
    if not isinstance(content, list):
        return
    for index, part in enumerate(content):
        if isinstance(part, dict) and part.get("type") == "text" and not isinstance(part.get("text"), str):
            got = "nothing" if "text" not in part else _JSON_TYPES.get(type(part["text"]), "a non-string")
            raise PydanticCustomError(
                TEXT_ERROR, "a text part's `text` must be a string, got {got}", {"field": f"{index}.text", "got": got}
            )
