"""Forwarding a chat request to the chosen model's OpenAI-compatible upstream: fallbacks, a circuit breaker per
upstream, and failures described without the upstream's address (docs/serving.md, "Proxy semantics")."""

from __future__ import annotations

import logging
import math
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import aiohttp

from serve_app.circuit_breaker import CircuitBreaker
from serve_app.config import CircuitBreakerArgs, UpstreamArgs

logger = logging.getLogger("ray.serve")
_ERROR_TEXT_CHARS = 500
# Headers of an upstream 4xx that tell the client when to come back; passed through with it.
_PASSED_HEADERS = ("retry-after", "retry-after-ms")
_PASSED_PREFIX = "x-ratelimit-"
_STREAM_END = re.compile(rb"data: ?\[DONE\]\s*$")
_TAIL_BYTES = 64
COOLING_DOWN = "upstream_cooling_down"


class Attempt(NamedTuple):
    """One upstream call that gave no answer. `reason` goes to the client: it never holds the upstream's address."""

    model: str
    status: int | None  # the upstream's HTTP status; None = no HTTP answer (or skipped while cooling down)
    reason: str
    code: str  # upstream_unreachable, upstream_timeout, upstream_error, upstream_cooling_down, or the 4xx's own


@dataclass(frozen=True)
class Rejection:
    """An upstream 4xx (429 included): it is about the request or the account, so it goes back as it came."""

    model: str
    status: int
    body: bytes
    content_type: str
    headers: dict[str, str]


@dataclass
class UpstreamFailure(Exception):
    """No model in the fallback chain answered with a 2xx. `rejection`: the last 4xx to pass through, if any;
    `retry_after_s`: the shortest cool-down left, when every model of the chain was skipped."""

    attempts: list[Attempt] = field(default_factory=list)
    rejection: Rejection | None = None
    retry_after_s: float | None = None

    @property
    def status(self) -> int | None:
        return self.attempts[-1].status if self.attempts else None

    def __str__(self) -> str:
        return "; ".join(f"{attempt.model}: {attempt.reason}" for attempt in self.attempts)


class StreamBroken(Exception):
    """The upstream's event stream stopped before `data: [DONE]` (after the status line went out)."""


def describe_no_answer(exc: BaseException) -> tuple[str, str]:
    """(reason, code) for a call that got no HTTP answer; the exception text (host, port) stays in the log."""
    if isinstance(exc, TimeoutError | aiohttp.ServerTimeoutError):
        return "timed out", "upstream_timeout"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return "connection failed", "upstream_unreachable"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "closed the connection without answering", "upstream_unreachable"
    return f"no valid answer ({type(exc).__name__})", "upstream_unreachable"


@dataclass
class UpstreamAnswer:
    model: str  # the pool model that answered
    response: aiohttp.ClientResponse
    attempts: list[Attempt]
    breaker: CircuitBreaker

    async def body(self) -> bytes:
        try:
            return await self.response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            reason, code = describe_no_answer(exc)
            logger.warning("upstream %s broke off its answer: %r", self.model, exc)
            self.breaker.failed()
            attempt = Attempt(self.model, self.response.status, f"broke off its answer ({reason})", code)
            raise UpstreamFailure([*self.attempts, attempt]) from exc
        finally:
            self.response.release()

    async def chunks(self) -> AsyncIterator[bytes]:
        """The upstream's bytes as they come; an event stream is passed on in whole events. Raises StreamBroken when
        an event stream stops before `data: [DONE]` (a partial event left then is not passed on: it is logged)."""
        if not self.response.headers.get("Content-Type", "").startswith("text/event-stream"):
            async for chunk in self._raw():
                yield chunk
            return
        pending, tail = b"", b""
        try:
            async for chunk in self._raw():
                tail = (tail + chunk)[-_TAIL_BYTES:]
                whole, pending = split_events(pending + chunk)
                if whole:
                    yield whole
        except StreamBroken:
            if pending:
                logger.warning("upstream %s: %d bytes of an unfinished event dropped", self.model, len(pending))
            raise
        if not _STREAM_END.search(tail):
            self.breaker.failed()
            raise StreamBroken(f"the upstream of {self.model} broke off the stream (it ended without `data: [DONE]`)")
        if pending:
            yield pending

    async def _raw(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self.response.content.iter_any():
                yield chunk
        except (aiohttp.ClientError, TimeoutError) as exc:
            logger.warning("upstream %s broke off a stream: %r", self.model, exc)
            self.breaker.failed()
            reason = describe_no_answer(exc)[0]
            raise StreamBroken(f"the upstream of {self.model} broke off the stream ({reason})") from exc
        finally:
            self.response.release()


def split_events(buffer: bytes) -> tuple[bytes, bytes]:
    """(the complete server-sent events at the start of `buffer`, the unfinished rest)."""
    ends = [index + len(sep) for sep in (b"\n\n", b"\r\n\r\n") if (index := buffer.rfind(sep)) >= 0]
    cut = max(ends, default=0)
    return buffer[:cut], buffer[cut:]


class UpstreamClient:
    def __init__(
        self, upstreams: dict[str, UpstreamArgs], fallbacks: dict[str, str], retries: int,
        fallback_on_429: bool = True, breaker: CircuitBreakerArgs | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:  # fmt: skip
        self._upstreams = upstreams
        self._fallbacks = fallbacks
        self._retries = retries
        self._fallback_on_429 = fallback_on_429
        breaker_args = breaker or CircuitBreakerArgs()
        extra = {} if clock is None else {"clock": clock}
        self._breakers = {name: CircuitBreaker(name, breaker_args, **extra) for name in upstreams}
        self._session: aiohttp.ClientSession | None = None

    def chain(self, model: str) -> list[str]:
        """The model, then its fallbacks (at most `retries` hops, no model twice)."""
        chain = [model]
        while len(chain) <= self._retries and (nxt := self._fallbacks.get(chain[-1])) and nxt not in chain:
            chain.append(nxt)
        return chain

    def moves_on(self, status: int | None) -> bool:
        """No answer and 5xx go to the fallback, 429 when `fallback_on_429`; other 4xx are about the request."""
        return status is None or status >= 500 or (status == 429 and self._fallback_on_429)

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256))
        return self._session

    async def send(self, model: str, body: dict[str, Any], request_id: str, on_error: Any = None) -> UpstreamAnswer:
        """POST `body` to the upstream of `model`, falling back along the chain; raises UpstreamFailure.
        `on_error(model, status)` is called per failed call: status None = no answer, "cooldown" = skipped."""
        attempts: list[Attempt] = []
        rejection: Rejection | None = None
        waits: list[float] = []
        for candidate in self.chain(model):
            breaker = self._breakers[candidate]
            wait = breaker.refusal()
            if wait is not None:
                attempts.append(
                    Attempt(candidate, None, f"skipped for {math.ceil(wait)} s after failing", COOLING_DOWN)
                )
                waits.append(wait)
                if on_error is not None:
                    on_error(candidate, "cooldown")
                continue
            try:
                outcome = await self._call(candidate, body, request_id, breaker)
            except BaseException:  # cancelled (the client went away) or misconfigured: no outcome to record
                breaker.abandoned()
                raise
            if isinstance(outcome, UpstreamAnswer):
                outcome.attempts = attempts
                return outcome
            attempt, rejected = outcome
            attempts.append(attempt)
            rejection = rejected or rejection
            if on_error is not None:
                on_error(candidate, attempt.status)
            if not self.moves_on(attempt.status):
                break
        all_skipped = all(attempt.code == COOLING_DOWN for attempt in attempts)
        raise UpstreamFailure(attempts, rejection, min(waits) if waits and all_skipped else None)

    async def _call(
        self, candidate: str, body: dict[str, Any], request_id: str, breaker: CircuitBreaker
    ) -> UpstreamAnswer | tuple[Attempt, Rejection | None]:
        upstream = self._upstreams[candidate]
        headers = {"Content-Type": "application/json", "X-Request-Id": request_id}
        key = upstream.api_key()
        if key:
            headers["Authorization"] = f"Bearer {key}"
        payload = {**body, "model": upstream.model or candidate}
        timeout = aiohttp.ClientTimeout(total=None, connect=min(10.0, upstream.timeout_s), sock_read=upstream.timeout_s)
        try:
            response = await self._client().post(upstream.chat_url(), json=payload, headers=headers, timeout=timeout)
        except (aiohttp.ClientError, TimeoutError) as exc:
            breaker.failed()
            logger.warning("upstream %s gave no answer: %r", candidate, exc)
            return Attempt(candidate, None, *describe_no_answer(exc)), None
        if response.status < 300:
            breaker.succeeded()
            return UpstreamAnswer(candidate, response, [], breaker)
        try:
            raw = await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raw = f"(body lost: {type(exc).__name__})".encode()
        finally:
            response.release()
        status = response.status
        text = raw[:_ERROR_TEXT_CHARS].decode(errors="replace")
        logger.warning("upstream %s answered %d: %s", candidate, status, text)
        if status >= 500:
            breaker.failed()
            code = "upstream_unavailable" if status == 503 else "upstream_error"
            return Attempt(candidate, status, f"answered {status}", code), None
        breaker.succeeded()  # it answers: the request (or the account) is the problem
        passed = {
            name: value
            for name, value in response.headers.items()
            if name.lower() in _PASSED_HEADERS or name.lower().startswith(_PASSED_PREFIX)
        }
        content_type = response.headers.get("Content-Type", "application/json")
        rejection = Rejection(candidate, status, raw, content_type, passed)
        return Attempt(candidate, status, f"answered {status}", "upstream_rejected"), rejection

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
