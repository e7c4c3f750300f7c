"""Forwarding a chat request to the chosen model's OpenAI-compatible upstream, with fallback on failure."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from serve_app.config import UpstreamArgs

logger = logging.getLogger("ray.serve")
_ERROR_TEXT_CHARS = 500


@dataclass
class UpstreamFailure(Exception):
    """No model in the fallback chain answered with a 2xx; `attempts` lists (model, status, message) in order."""

    attempts: list[tuple[str, int | None, str]] = field(default_factory=list)

    @property
    def status(self) -> int | None:
        return self.attempts[-1][1] if self.attempts else None

    def __str__(self) -> str:
        parts = [
            f"{model}: {'no answer' if status is None else status} ({msg})" for model, status, msg in self.attempts
        ]
        return "upstream failed: " + "; ".join(parts)


def retryable(status: int | None) -> bool:
    """Connection errors, timeouts, 429 and 5xx move on to the fallback; other 4xx are about the request itself."""
    return status is None or status == 429 or status >= 500


@dataclass
class UpstreamAnswer:
    model: str  # the pool model that answered
    response: aiohttp.ClientResponse
    attempts: list[tuple[str, int | None, str]]

    async def body(self) -> bytes:
        try:
            return await self.response.read()
        finally:
            self.response.release()

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self.response.content.iter_any():
                yield chunk
        finally:
            self.response.release()


class UpstreamClient:
    def __init__(self, upstreams: dict[str, UpstreamArgs], fallbacks: dict[str, str], retries: int) -> None:
        self._upstreams = upstreams
        self._fallbacks = fallbacks
        self._retries = retries
        self._session: aiohttp.ClientSession | None = None

    def chain(self, model: str) -> list[str]:
        """The model, then its fallbacks (at most `retries` hops, no model twice)."""
        chain = [model]
        while len(chain) <= self._retries and (nxt := self._fallbacks.get(chain[-1])) and nxt not in chain:
            chain.append(nxt)
        return chain

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256))
        return self._session

    async def send(self, model: str, body: dict[str, Any], request_id: str, on_error: Any = None) -> UpstreamAnswer:
        """POST `body` to the upstream of `model`, falling back along the chain; raises UpstreamFailure."""
        attempts: list[tuple[str, int | None, str]] = []
        for candidate in self.chain(model):
            upstream = self._upstreams[candidate]
            headers = {"Content-Type": "application/json", "X-Request-Id": request_id}
            key = upstream.api_key()
            if key:
                headers["Authorization"] = f"Bearer {key}"
            payload = {**body, "model": upstream.model or candidate}
            timeout = aiohttp.ClientTimeout(
                total=None, connect=min(10.0, upstream.timeout_s), sock_read=upstream.timeout_s
            )
            status: int | None
            try:
                response = await self._client().post(
                    upstream.chat_url(), json=payload, headers=headers, timeout=timeout
                )
            except (aiohttp.ClientError, TimeoutError) as exc:
                status, message = None, f"{type(exc).__name__}: {exc}"[:_ERROR_TEXT_CHARS]
            else:
                if response.status < 300:
                    return UpstreamAnswer(candidate, response, attempts)
                status = response.status
                try:
                    message = (await response.text(errors="replace"))[:_ERROR_TEXT_CHARS]
                finally:
                    response.release()
            attempts.append((candidate, status, message))
            logger.warning("upstream %s failed with %s: %s", candidate, status or "no answer", message)
            if on_error is not None:
                on_error(candidate, status)
            if not retryable(status):
                break
        raise UpstreamFailure(attempts)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
