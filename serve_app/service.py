"""What the endpoints do: auth, routing through the Router deployment, proxying to upstreams, metrics."""

from __future__ import annotations

import hmac
import logging
import os
import time
import uuid
from typing import Any

from fastapi.responses import Response
from ray.exceptions import ActorUnavailableError, RayActorError

from finerouter.errors import InvalidRequestError
from finerouter.routing.decision import RouteDecision
from serve_app.api_errors import ApiError
from serve_app.coalescer import Coalescer
from serve_app.config import IngressBatching, ServiceArgs
from serve_app.messages import ROUTER_MODEL, parse_model_field, routed_text
from serve_app.metrics import IngressMetrics
from serve_app.proxy_errors import RelayResponse, failure_response, stream_error_event
from serve_app.router_deployment import RouteOutcome, RouteQuery
from serve_app.schemas import (
    ChatCompletionRequest,
    Health,
    ModelCard,
    ModelList,
    RouteRequest,
    RouteResponse,
    TaskInfo,
)
from serve_app.upstream import StreamBroken, UpstreamAnswer, UpstreamClient, UpstreamFailure

logger = logging.getLogger("ray.serve")
_INFO_TTL_S = 2.0
_REPLICA_ATTEMPTS = 3


def current_request_id() -> str:
    try:
        from ray.serve.context import _get_serve_request_context

        return _get_serve_request_context().request_id or str(uuid.uuid4())
    except Exception:  # outside a replica (unit tests)
        return str(uuid.uuid4())


class RoutingService:
    def __init__(self, args: ServiceArgs, router_handle: Any, batching: IngressBatching | None = None) -> None:
        self.args = args
        self._router = router_handle
        batching = batching or IngressBatching()
        self._batcher: Coalescer[RouteQuery, RouteOutcome] = Coalescer(
            lambda queries: self._call_router("route_many", queries),
            batching.max_batch_size,
            batching.max_in_flight,
            batching.linger_s,
        )
        self._keys = args.auth.load_keys()
        args.check_deployable(os.environ, "ingress replica")
        self._upstream = UpstreamClient(
            args.upstreams, args.fallbacks, args.upstream_retries, args.fallback_on_429, args.circuit_breaker
        )
        self.metrics = IngressMetrics()
        self._info: dict[str, Any] | None = None
        self._info_at = 0.0

    def request_id(self) -> str:
        return current_request_id()

    def check_key(self, presented: str | None) -> bool:
        if not self._keys:
            return True
        if presented is None:
            return False
        return any(hmac.compare_digest(presented.encode(), key.encode()) for key in self._keys)

    async def info(self, fresh: bool = False) -> dict[str, Any]:
        """Bundle version, pool and costs, cached for a moment (a bundle swap shows within _INFO_TTL_S)."""
        if fresh or self._info is None or time.monotonic() - self._info_at > _INFO_TTL_S:
            self._info = await self._call_router("info")
            self._info_at = time.monotonic()
        return self._info

    # --- routing -----------------------------------------------------------------------------------------------

    def _check_length(self, text: str, where: str) -> None:
        limit = self.args.limits.max_prompt_chars
        if len(text) > limit:
            message = f"{where} has {len(text)} characters, over the limit of {limit} (limits.max_prompt_chars)"
            raise ApiError(413, message, kind="request_too_large", param=where)

    def _check_counts(self, messages: list | None, models: list[str] | None) -> None:
        limits = self.args.limits
        if messages is not None and len(messages) > limits.max_messages:
            message = f"{len(messages)} messages, over the limit of {limits.max_messages} (limits.max_messages)"
            raise ApiError(413, message, kind="request_too_large", param="messages")
        if models is not None and len(models) > limits.max_models:
            raise ApiError(
                413,
                f"{len(models)} models listed, over the limit of {limits.max_models}",
                param="models",
                kind="request_too_large",
            )

    async def _call_router(self, method: str, *args: Any) -> Any:
        for attempt in range(_REPLICA_ATTEMPTS):
            try:
                return await getattr(self._router, method).remote(*args)
            except (RayActorError, ActorUnavailableError) as exc:
                # A router replica died with this request on it (a crash, a lost node): routing is stateless, so
                # another replica can take it.
                logger.warning("router replica lost (attempt %d/%d): %s", attempt + 1, _REPLICA_ATTEMPTS, exc)
        raise ApiError(503, "no router replica could take the request; retry shortly", kind="service_unavailable")

    async def decide(self, query: RouteQuery) -> RouteDecision:
        queued = time.perf_counter()
        decision = (await self._batcher.submit(query)).result()  # this query's own 400 / 500, never its batch's
        self.metrics.record_decision(decision, time.perf_counter() - queued)
        return decision

    async def route(self, body: RouteRequest) -> RouteResponse:
        started = time.perf_counter()
        status = 500
        try:
            self._check_counts(body.messages, body.models)
            if body.prompt is not None:
                text, routed_from = body.prompt, "prompt"
            else:
                text, index = routed_text(body.messages or [])
                routed_from = f"messages[{index}]"
            self._check_length(text, routed_from)
            models = tuple(body.models) if body.models is not None else None
            query = RouteQuery(text, body.tolerance, body.max_cost, models, body.willingness)
            decision = await self.decide(query)
            status = 200
            return RouteResponse(
                model=decision.model,
                task=TaskInfo(id=decision.task_id, summary=decision.task_summary, confidence=decision.confidence),
                scores=decision.scores,
                estimated_cost=decision.estimated_cost,
                cost_unit=decision.cost_unit,
                bundle_version=decision.bundle_version,
                routed_from=routed_from,
                request_id=self.request_id(),
            )
        except ApiError as exc:
            status = exc.status
            raise
        except InvalidRequestError:
            status = 400
            raise
        finally:
            self._observe("route", status, started)

    def _observe(self, endpoint: str, status: int, started: float) -> None:
        self.metrics.requests.inc(tags={"endpoint": endpoint, "status": str(status)})
        self.metrics.latency.observe(time.perf_counter() - started, tags={"endpoint": endpoint})

    # --- chat proxy --------------------------------------------------------------------------------------------

    async def chat(self, body: ChatCompletionRequest) -> Response:
        started = time.perf_counter()
        status = 500
        try:
            response = await self._chat(body, started)
            status = response.status_code
            return response
        except ApiError as exc:
            status = exc.status
            raise
        except InvalidRequestError:
            status = 400
            raise
        finally:
            if status != 200 or not body.stream:  # a stream is observed when its last chunk is sent
                self._observe("chat", status, started)

    async def _chat(self, body: ChatCompletionRequest, started: float) -> Response:
        if not self.args.upstreams:
            raise ApiError(
                503,
                "no upstreams are configured: /v1/chat/completions needs `upstreams` in the app args",
                kind="service_unavailable",
            )
        self._check_counts(body.messages, None)
        info = await self.info()
        with_upstream = [m for m in info["models"] if m in self.args.upstreams]
        spec = parse_model_field(body.model, with_upstream)
        headers = {"X-FineRouter-Bundle": info["version"]}
        if spec.route:
            text, index = routed_text(body.messages)
            self._check_length(text, f"messages[{index}]")
            query = RouteQuery(text, spec.tolerance, spec.max_cost, tuple(with_upstream), spec.willingness)
            decision = await self.decide(query)
            chosen = decision.model
            headers |= {
                "X-FineRouter-Task": "none" if decision.task_id is None else str(decision.task_id),
                "X-FineRouter-Confidence": f"{decision.confidence:.4f}",
                "X-FineRouter-Bundle": decision.bundle_version,
            }
        else:
            chosen = spec.model or ""
        headers["X-FineRouter-Routed-Model"] = chosen
        payload = body.model_dump(exclude_unset=True)
        request_id = self.request_id()
        forwarded = time.perf_counter()
        try:
            answer = await self._upstream.send(chosen, payload, request_id, on_error=self._count_upstream_error)
        except UpstreamFailure as exc:
            skipped = exc.status is None and exc.retry_after_s is not None  # every upstream cooling down
            self.metrics.record_upstream(chosen, "cooldown" if skipped else exc.status, time.perf_counter() - forwarded)
            return failure_response(exc, headers, request_id)
        self.metrics.record_upstream(answer.model, "ok", time.perf_counter() - forwarded)
        headers["X-FineRouter-Model"] = answer.model
        if answer.attempts:
            headers["X-FineRouter-Fallback-From"] = ",".join(attempt.model for attempt in answer.attempts)
            self.metrics.fallbacks.inc(tags={"model": chosen, "fallback": answer.model})
        logger.info("chat %s: routed to %s, answered by %s", request_id, chosen, answer.model)
        media_type = answer.response.headers.get("Content-Type", "application/json")
        if body.stream:
            return RelayResponse(self._relay(answer, started, request_id), media_type=media_type, headers=headers)
        try:
            return Response(await answer.body(), media_type=media_type, headers=headers)
        except UpstreamFailure as exc:  # it broke off after its status line
            self._count_upstream_error(answer.model, "body")
            return failure_response(exc, headers, request_id)

    async def _relay(self, answer: UpstreamAnswer, started: float, request_id: str):
        try:
            async for chunk in answer.chunks():
                yield chunk
        except StreamBroken as exc:
            # The status line is gone: an error event makes the client raise, and RelayResponse ends the response
            # without its last chunk, so the transfer fails as the stream did (it is not a complete answer).
            self._count_upstream_error(answer.model, "stream")
            yield stream_error_event(str(exc), request_id)
            raise
        finally:
            self._observe("chat", 200, started)

    def _count_upstream_error(self, model: str, status: int | str | None) -> None:
        self.metrics.upstream_errors.inc(tags={"model": model, "status": "connect" if status is None else str(status)})

    # --- listings ----------------------------------------------------------------------------------------------

    async def models(self) -> ModelList:
        info = await self.info()
        created = info["created"]
        cards = [
            ModelCard(id=ROUTER_MODEL, created=created, owned_by="finerouter", has_upstream=bool(self.args.upstreams))
        ]
        cards += [
            ModelCard(
                id=name,
                created=created,
                owned_by="upstream",
                expected_cost=info["model_cost"].get(name),
                cost_unit=info["cost_unit"],
                has_upstream=name in self.args.upstreams,
            )
            for name in info["models"]
        ]
        return ModelList(data=cards, bundle_version=info["version"])

    async def model(self, model_id: str) -> ModelCard:
        listing = await self.models()
        for card in listing.data:
            if card.id == model_id:
                return card
        served = ", ".join(card.id for card in listing.data)
        message = f"model {model_id!r} is not served here; served: {served}"
        raise ApiError(404, message, param="model", code="model_not_found")

    async def health(self) -> Health:
        info = await self.info(fresh=True)
        return Health(status="ok", bundle_version=info["version"], models=len(info["models"]))
