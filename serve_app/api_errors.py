"""The API's errors in OpenAI's shape: `ApiError` (raised by the service) and the JSON response every error gets."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

from serve_app.text import printable


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        kind: str = "invalid_request_error",
        param: str | None = None,
        upstream_status: int | None = None,
        headers: dict[str, str] | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.kind, self.param = status, message, kind, param
        self.upstream_status, self.headers, self.code = upstream_status, headers or {}, code


def error_response(status: int, message: str, kind: str, request_id: str | None, **extra: Any) -> JSONResponse:
    # printable: a message may echo request text that UTF-8 cannot encode, and the response must still render
    detail = {"message": printable(message), "type": kind, **{k: v for k, v in extra.items() if k != "headers"}}
    if isinstance(detail.get("param"), str):
        detail["param"] = printable(detail["param"])
    body = {"error": detail, "request_id": request_id}
    return JSONResponse(body, status_code=status, headers=extra.get("headers"))
