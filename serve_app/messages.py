"""What text of a request gets routed, and what the `model` field of a chat request asks for."""

from __future__ import annotations

from dataclasses import dataclass

from finerouter.errors import InvalidRequestError
from serve_app.schemas import ChatMessage

ROUTER_MODEL = "finerouter"
_MODEL_OPTIONS = ("tolerance", "max_cost", "willingness")


def routed_text(messages: list[ChatMessage]) -> tuple[str, int]:
    """The last `user` turn and its index.

    Tasks were learned on single prompts, so one turn is routed: the newest question is what the next answer must
    handle. System prompts and earlier turns are not used for routing (they are still forwarded upstream). A turn given
    as content parts is routed on its text parts joined by newlines.
    """
    for index in range(len(messages) - 1, -1, -1):
        message = messages[index]
        if message.role != "user":
            continue
        content = message.content
        if isinstance(content, str):
            text = content
        elif content is None:
            text = ""
        else:
            text = "\n".join(
                str(part.get("text", "")) for part in content if isinstance(part, dict) and part.get("type") == "text"
            )
        if not text.strip():
            raise InvalidRequestError(f"messages[{index}], the last user turn, has no text to route")
        return text, index
    roles = sorted({m.role for m in messages})
    raise InvalidRequestError(f"messages has no `user` turn to route (roles present: {', '.join(roles)})")


@dataclass(frozen=True)
class ModelSpec:
    """`finerouter[:key=value,...]` (route) or a pool model name (no routing)."""

    route: bool
    model: str | None = None
    tolerance: float | None = None
    max_cost: float | None = None
    willingness: float | None = None


def parse_model_field(value: str, pool: list[str]) -> ModelSpec:
    if value in pool:
        return ModelSpec(route=False, model=value)
    name, _, options = value.partition(":")
    if name != ROUTER_MODEL:
        raise InvalidRequestError(
            f"unknown model {value!r}: use {ROUTER_MODEL!r}, '{ROUTER_MODEL}:tolerance=0.1' or one of {pool}"
        )
    parsed: dict[str, float] = {}
    for item in filter(None, (s.strip() for s in options.split(","))):
        key, sep, raw = item.partition("=")
        if not sep or key not in _MODEL_OPTIONS:
            raise InvalidRequestError(f"bad option {item!r} in model {value!r}: options are {list(_MODEL_OPTIONS)}")
        try:
            number = float(raw)
        except ValueError:
            raise InvalidRequestError(f"option {key} in model {value!r} must be a number, got {raw!r}") from None
        if not number >= 0 or number == float("inf"):
            raise InvalidRequestError(f"option {key} in model {value!r} must be a finite number >= 0, got {raw!r}")
        parsed[key] = number
    return ModelSpec(route=True, **parsed)
