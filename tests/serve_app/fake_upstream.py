"""A local OpenAI-compatible chat server for the proxy tests: started by the test on 127.0.0.1, in a thread.

The mode is the first path segment. Every request is recorded (`received(mode)` counts the calls of a mode).
- ok: an answer (streamed when asked);  failNNN: status NNN;  badrequest: a 400 without a code
- context400: OpenAI's 400 `context_length_exceeded`;  ratelimit429: OpenAI's 429 `rate_limit_exceeded` with
  `Retry-After` and an `x-ratelimit-*` header
- cutstream: a stream whose connection is dropped after the first chunk (an incomplete chunked body)
- nodone: a stream that ends cleanly after the first chunk, without a finish_reason or `data: [DONE]`
- hangup: reads the request, then closes the connection without answering (a dead upstream that can count calls)
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

from aiohttp import web

STREAM_WORDS = ["Hello", " from", " the", " fake", " upstream"]
RETRY_AFTER_S = 7
# mode -> (status, OpenAI error object, headers), as api.openai.com answers them
_OPENAI_ERRORS: dict[str, tuple[int, dict[str, Any], dict[str, str]]] = {
    "context400": (
        400,
        {"message": "This model's maximum context length is 8192 tokens.", "type": "invalid_request_error",
         "param": "messages", "code": "context_length_exceeded"},
        {},
    ),
    "ratelimit429": (
        429,
        {"message": "Rate limit reached for requests.", "type": "requests", "param": None,
         "code": "rate_limit_exceeded"},
        {"Retry-After": str(RETRY_AFTER_S), "x-ratelimit-remaining-requests": "0"},
    ),
}  # fmt: skip


class FakeUpstream:
    def __init__(self, api_key: str | None = None) -> None:
        self.api_key = api_key
        self.requests: list[dict[str, Any]] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None
        self.port = 0

    def base_url(self, mode: str) -> str:
        return f"http://127.0.0.1:{self.port}/{mode}/v1"

    def start(self) -> FakeUpstream:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=10)
        return self

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_post("/{mode}/v1/chat/completions", self._chat)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    def received(self, mode: str | None = None) -> list[dict[str, Any]]:
        return [r for r in self.requests if mode is None or r["mode"] == mode]

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        mode = request.match_info["mode"]
        body = await request.json()
        self.requests.append({"mode": mode, "body": body, "headers": dict(request.headers)})
        if self.api_key is not None and request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return web.json_response({"error": {"message": "bad upstream key"}}, status=401)
        if mode.startswith("fail"):
            status = int(mode.removeprefix("fail"))
            return web.json_response({"error": {"message": f"fake upstream says {status}"}}, status=status)
        if mode == "badrequest":
            return web.json_response({"error": {"message": "temperature must be <= 2"}}, status=400)
        if mode in _OPENAI_ERRORS:
            status, error, headers = _OPENAI_ERRORS[mode]
            return web.json_response({"error": error}, status=status, headers=headers)
        if mode == "hangup":
            assert request.transport is not None
            request.transport.abort()
            raise asyncio.CancelledError  # nothing more to write on the dropped connection
        created = int(time.time())
        if not body.get("stream"):
            text = "".join(STREAM_WORDS)
            return web.json_response({
                "id": "chatcmpl-fake", "object": "chat.completion", "created": created, "model": body["model"],
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8},
            })  # fmt: skip
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for word in STREAM_WORDS:
            chunk = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": created,
                     "model": body["model"], "choices": [{"index": 0, "delta": {"content": word}}]}  # fmt: skip
            await response.write(f"data: {json.dumps(chunk)}\n\n".encode())
            if mode == "cutstream":
                assert request.transport is not None
                request.transport.abort()  # no terminating chunk: the body is incomplete
                raise asyncio.CancelledError
            if mode == "nodone":
                await response.write_eof()
                return response
            await asyncio.sleep(0.01)
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response
