"""The FastAPI application: routes, OpenAI-style errors, the body-size limit. Logic lives in serve_app/service.py.

No `from __future__ import annotations` here: FastAPI reads the route signatures, which name closure variables.
"""

import logging
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException as StarletteHTTPException

from finerouter.errors import InvalidRequestError
from serve_app.schemas import ChatCompletionRequest, ErrorResponse, Health, ModelList, RouteRequest, RouteResponse

if TYPE_CHECKING:
    from serve_app.service import RoutingService

logger = logging.getLogger("ray.serve")
_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse, "description": text}
    for code, text in [
        (400, "invalid request (unknown model, empty prompt, unmet cost bound)"),
        (401, "missing or wrong API key"),
        (413, "body or prompt too large"),
        (422, "body does not match the schema"),
        (502, "the upstream failed"),
        (503, "no upstream configured / overloaded"),
    ]
}


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        kind: str = "invalid_request_error",
        param: str | None = None,
        upstream_status: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.kind, self.param = status, message, kind, param
        self.upstream_status, self.headers = upstream_status, headers or {}


def error_response(status: int, message: str, kind: str, request_id: str | None, **extra: Any) -> JSONResponse:
    detail = {"message": message, "type": kind, **{k: v for k, v in extra.items() if k != "headers"}}
    body = {"error": detail, "request_id": request_id}
    return JSONResponse(body, status_code=status, headers=extra.get("headers"))


class BodyLimit:
    """ASGI middleware: 413 for a body over `max_bytes`, declared (Content-Length) or streamed (chunked)."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        too_big = declared is not None and declared.isdigit() and int(declared) > self.max_bytes
        messages: list[dict] = []
        received, more = 0, not too_big
        while more:
            message = await receive()
            messages.append(message)
            received += len(message.get("body", b""))
            more = message["type"] == "http.request" and message.get("more_body", False)
            too_big = received > self.max_bytes
            if too_big:
                break
        if too_big:
            text = f"request body is over the limit of {self.max_bytes} bytes (limits.max_body_bytes)"
            response = error_response(413, text, "request_too_large", None, code="body_too_large")
            return await response(scope, receive, send)

        async def replay() -> dict:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)


def build_api(service: "RoutingService") -> FastAPI:
    app = FastAPI(
        title="FineRouter",
        version="1",
        description="Routes a prompt to the model to call (prompt routing via fine-grained latent task discovery), "
        "or answers it through that model's OpenAI-compatible upstream. See docs/serving.md.",
    )
    app.add_middleware(BodyLimit, max_bytes=service.args.limits.max_body_bytes)
    bearer = HTTPBearer(auto_error=False, description="a key from auth.api_keys_env / auth.api_keys_file")

    async def authorized(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> None:
        # async: a plain `def` dependency costs every request a hop through the thread pool (no I/O here)
        if not service.check_key(credentials.credentials if credentials else None):
            raise ApiError(
                401,
                "missing or invalid API key: send 'Authorization: Bearer <key>'",
                kind="authentication_error",
                headers={"WWW-Authenticate": "Bearer"},
            )

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(
            exc.status,
            exc.message,
            exc.kind,
            service.request_id(),
            param=exc.param,
            upstream_status=exc.upstream_status,
            headers=exc.headers,
        )

    @app.exception_handler(InvalidRequestError)
    async def _invalid(request: Request, exc: InvalidRequestError) -> JSONResponse:
        return error_response(400, str(exc), "invalid_request_error", service.request_id())

    @app.exception_handler(RequestValidationError)
    async def _schema(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for error in exc.errors()[:10]:
            where = ".".join(str(p) for p in error.get("loc", ()) if p != "body") or "body"
            problems.append(f"{where}: {error.get('msg', 'invalid')}")
        message = "request does not match the schema: " + "; ".join(problems)
        return error_response(422, message, "invalid_request_error", service.request_id(), code="schema")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error_response(exc.status_code, str(exc.detail), "invalid_request_error", service.request_id())

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> JSONResponse:
        request_id = service.request_id()
        logger.exception("internal error on %s (request %s)", request.url.path, request_id)
        return error_response(
            500, f"internal error ({type(exc).__name__}); request id {request_id}", "server_error", request_id
        )

    @app.post("/v1/route", response_model=RouteResponse, responses=_ERRORS, dependencies=[Depends(authorized)])
    async def route(body: RouteRequest) -> RouteResponse:
        """The model to call for a prompt (or the last user turn of `messages`), with the task and the scores."""
        return await service.route(body)

    @app.post("/v1/chat/completions", responses=_ERRORS, dependencies=[Depends(authorized)])
    async def chat_completions(body: ChatCompletionRequest) -> Response:
        """OpenAI chat completions: route, then forward to the chosen model's upstream (streaming passed through).
        Headers: X-FineRouter-Model (answered), X-FineRouter-Routed-Model, X-FineRouter-Task, X-FineRouter-Bundle."""
        return await service.chat(body)

    @app.get("/v1/models", response_model=ModelList, responses=_ERRORS, dependencies=[Depends(authorized)])
    async def models() -> ModelList:
        """`finerouter` (the router) and the pool models, with expected cost and whether an upstream is configured."""
        return await service.models()

    @app.get("/healthz", response_model=Health)
    async def healthz() -> Health:
        """Liveness and the bundle version being served (no key needed)."""
        return await service.health()

    return app
