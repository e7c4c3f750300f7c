"""How an upstream failure reaches the client of the chat proxy, as an OpenAI server answers (docs/serving.md,
"Proxy semantics"): a 4xx as the upstream sent it, no answer or a 5xx as a 502/503 with a `code`, a broken stream
as an error event."""

from __future__ import annotations

import json
import math

from fastapi.responses import Response, StreamingResponse
from starlette.types import Send

from serve_app.api_errors import error_response
from serve_app.upstream import COOLING_DOWN, Rejection, StreamBroken, UpstreamFailure

UPSTREAM_ERROR = "upstream_error"
STREAM_BROKEN = "upstream_stream_broken"
_QUOTED_CHARS = 300


def is_openai_error(body: bytes) -> bool:
    try:
        parsed = json.loads(body)
    except ValueError:
        return False
    return isinstance(parsed, dict) and isinstance(parsed.get("error"), dict)


def rejection_response(rejection: Rejection, headers: dict[str, str], request_id: str) -> Response:
    """The upstream's status, body (its `code` included) and back-off headers; a body not in OpenAI's error shape is
    put in it, quoted."""
    headers = headers | rejection.headers | {"X-FineRouter-Upstream-Status": str(rejection.status)}
    if is_openai_error(rejection.body):
        return Response(rejection.body, status_code=rejection.status, media_type="application/json", headers=headers)
    text = rejection.body[:_QUOTED_CHARS].decode(errors="replace")
    message = f"the upstream of {rejection.model} answered {rejection.status}: {text}"
    kind = "rate_limit_error" if rejection.status == 429 else "invalid_request_error"
    return error_response(
        rejection.status, message, kind, request_id, param=None, code=None, upstream_status=rejection.status,
        headers=headers,
    )  # fmt: skip


def failure_response(failure: UpstreamFailure, headers: dict[str, str], request_id: str) -> Response:
    if failure.rejection is not None:
        return rejection_response(failure.rejection, headers, request_id)
    headers = headers | {"X-FineRouter-Upstream-Status": str(failure.status or "none")}
    if failure.retry_after_s is not None:  # every model of the chain is cooling down
        status, code = 503, COOLING_DOWN
        headers["Retry-After"] = str(max(1, math.ceil(failure.retry_after_s)))
        message = f"no upstream can take the request now: {failure}"
    else:
        last = [attempt for attempt in failure.attempts if attempt.code != COOLING_DOWN][-1]
        status = 503 if last.code == "upstream_unavailable" else 502
        code = last.code
        message = f"no upstream answered: {failure}"
    return error_response(
        status, message, UPSTREAM_ERROR, request_id, param=None, code=code, upstream_status=failure.status,
        headers=headers,
    )  # fmt: skip


def stream_error_event(message: str, request_id: str) -> bytes:
    """The last event of a stream that broke: the `openai` client raises APIError on an event with `error`."""
    error = {"message": message, "type": UPSTREAM_ERROR, "param": None, "code": STREAM_BROKEN}
    return b"data: " + json.dumps({"error": error, "request_id": request_id}).encode() + b"\n\n"


class RelayResponse(StreamingResponse):
    """A relayed stream that ends, when the upstream's broke (StreamBroken from the body iterator, after its error
    event), without the response's final chunk: the server closes the connection and the client's transfer fails
    instead of looking complete."""

    async def stream_response(self, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        try:
            async for chunk in self.body_iterator:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        except StreamBroken:
            return
        await send({"type": "http.response.body", "body": b"", "more_body": False})
