"""The FastAPI application: routes, OpenAI-style errors, the body-size limit. Logic lives in serve_app/service.py.

No `from __future__ import annotations` here: FastAPI reads the route signatures, which name closure variables.
"""

import asyncio
import logging
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from finerouter.errors import InvalidRequestError
from serve_app.api_errors import ApiError, error_response
from serve_app.readiness import Readiness
from serve_app.schemas import (
    ChatCompletionRequest,
    ErrorResponse,
    Health,
    ModelCard,
    ModelList,
    RouteRequest,
    RouteResponse,
)
from serve_app.text import TEXT_ERROR

if TYPE_CHECKING:
    from serve_app.service import RoutingService

logger = logging.getLogger("ray.serve")
_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse, "description": text}
    for code, text in [
        (
            400,
            "invalid request (unknown model, empty prompt, unmet cost bound, both tolerance and willingness, text "
            "that is not valid Unicode)",
        ),
        (401, "missing or wrong API key"),
        (408, "the body did not arrive within limits.body_read_timeout_s"),
        (413, "body or prompt too large"),
        (422, "body does not match the schema"),
        (502, "the upstream failed"),
        (503, "no upstream configured / overloaded"),
    ]
}


class BodyLimit:
    """ASGI middleware: 413 for a body over `max_bytes`, declared (Content-Length) or streamed (chunked); 408 for a
    body that has not arrived in full within `read_timeout_s` (e.g. shorter than its Content-Length)."""

    def __init__(self, app: Any, max_bytes: int, read_timeout_s: float) -> None:
        self.app, self.max_bytes, self.read_timeout_s = app, max_bytes, read_timeout_s

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        too_big = declared is not None and declared.isdigit() and int(declared) > self.max_bytes
        messages: list[dict] = []
        received, more = 0, not too_big
        deadline = asyncio.get_running_loop().time() + self.read_timeout_s
        while more:
            try:
                message = await asyncio.wait_for(receive(), deadline - asyncio.get_running_loop().time())
            except TimeoutError:
                declared_text = f" of the {declared.decode()} declared" if declared is not None else ""
                text = (
                    f"the request body did not arrive within {self.read_timeout_s:g} s (limits.body_read_timeout_s): "
                    f"{received} bytes{declared_text} received"
                )
                response = error_response(408, text, "invalid_request_error", None, code="body_timeout",
                                          headers={"Connection": "close"})  # fmt: skip
                return await response(scope, receive, send)
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


class KeyGate:
    """ASGI middleware: a request to a route that depends on `guard` (the API-key check) without a valid key gets
    its 401 here, before its body is read, size-checked or validated. The routes are looked up per request, so a
    route added later with `dependencies=[Depends(guard)]` is covered too."""

    def __init__(self, app: Any, api: FastAPI, guard: Any, service: "RoutingService") -> None:
        self.app, self.api, self.guard, self.service = app, api, guard, service

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and self._needs_key(scope) and not self.service.check_key(_bearer(scope)):
            response = error_response(
                401, UNAUTHORIZED, "authentication_error", self.service.request_id(),
                headers={"WWW-Authenticate": "Bearer"},
            )  # fmt: skip
            return await response(scope, receive, send)
        await self.app(scope, receive, send)

    def _needs_key(self, scope: dict) -> bool:
        for route in self.api.router.routes:
            if route.matches(scope)[0] is Match.FULL:
                return isinstance(route, APIRoute) and any(d.call is self.guard for d in route.dependant.dependencies)
        return False


def _bearer(scope: dict) -> str | None:
    header = dict(scope.get("headers") or []).get(b"authorization")
    scheme, credentials = get_authorization_scheme_param(header.decode("latin-1") if header else None)
    return credentials if scheme.lower() == "bearer" and credentials else None


UNAUTHORIZED = "missing or invalid API key: send 'Authorization: Bearer <key>'"
HEALTH_WAIT_S = 1.0  # how long /healthz waits for the router before answering 503 (it is loading, or overloaded)


def build_api(service: "RoutingService") -> FastAPI:
    app = FastAPI(
        title="FineRouter",
        version="1",
        description="Routes a prompt to the model to call (prompt routing via fine-grained latent task discovery), "
        "or answers it through that model's OpenAI-compatible upstream. See docs/serving.md.",
    )
    limits = service.args.limits
    app.add_middleware(BodyLimit, max_bytes=limits.max_body_bytes, read_timeout_s=limits.body_read_timeout_s)
    bearer = HTTPBearer(auto_error=False, description="a key from auth.api_keys_env / auth.api_keys_file")

    async def authorized(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> None:
        # KeyGate answers first (before the body is read); this keeps the check on the route and in the OpenAPI spec.
        # async: a plain `def` dependency costs every request a hop through the thread pool (no I/O here)
        if not service.check_key(credentials.credentials if credentials else None):
            raise ApiError(401, UNAUTHORIZED, kind="authentication_error", headers={"WWW-Authenticate": "Bearer"})

    app.add_middleware(KeyGate, api=app, guard=authorized, service=service)  # added last: runs before BodyLimit
    readiness = Readiness(service.health, HEALTH_WAIT_S)

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(
            exc.status,
            exc.message,
            exc.kind,
            service.request_id(),
            param=exc.param,
            code=exc.code,
            upstream_status=exc.upstream_status,
            headers=exc.headers,
        )

    @app.exception_handler(InvalidRequestError)
    async def _invalid(request: Request, exc: InvalidRequestError) -> JSONResponse:
        return error_response(400, str(exc), "invalid_request_error", service.request_id())

    @app.exception_handler(RequestValidationError)
    async def _schema(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        problems = [f"{_field(error)}: {error.get('msg', 'invalid')}" for error in errors[:10]]
        if errors and all(error.get("type") == TEXT_ERROR for error in errors):  # text the router cannot take: 400
            message = "invalid text in the request: " + "; ".join(problems)
            request_id = service.request_id()
            return error_response(400, message, "invalid_request_error", request_id, param=_field(errors[0]),
                                  code=TEXT_ERROR)  # fmt: skip
        message = "request does not match the schema: " + "; ".join(problems)
        return error_response(422, message, "invalid_request_error", service.request_id(), code="schema")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error_response(
            exc.status_code, str(exc.detail), "invalid_request_error", service.request_id(), headers=exc.headers
        )  # exc.headers: e.g. `Allow` of a 405

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

    @app.get(
        "/v1/models/{model_id:path}",
        response_model=ModelCard,
        responses={**_ERRORS, 404: {"model": ErrorResponse, "description": "no such model"}},
        dependencies=[Depends(authorized)],
    )
    async def model(model_id: str) -> ModelCard:
        """One card of /v1/models (OpenAI's retrieve-model; ids may contain '/'); 404 for a model not served."""
        return await service.model(model_id)

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        """Prometheus text format: this ingress replica's routing metrics (docs/operations.md, no key needed)."""
        body, content_type = service.metrics.exposition()
        return Response(body, media_type=content_type)

    @app.get("/healthz", response_model=Health, responses={503: _ERRORS[503]})
    async def healthz() -> Health:
        """The bundle version being served (no key needed); 503 at once while the router is still loading."""
        health = await readiness.check()
        if health is None:
            raise ApiError(
                503, f"the router is not ready: no answer within {HEALTH_WAIT_S:g} s (its bundle is still loading, "
                "or it is overloaded); retry shortly", kind="service_unavailable", headers={"Retry-After": "1"},
            )  # fmt: skip
        return health

    return app


def _field(error: dict[str, Any]) -> str:
    """The dotted field of a validation error: its location, then the part a model validator names in `ctx`."""
    parts = [str(p) for p in error.get("loc", ()) if p != "body"]
    inner = (error.get("ctx") or {}).get("field")
    return ".".join([*parts, str(inner)] if inner else parts) or "body"
