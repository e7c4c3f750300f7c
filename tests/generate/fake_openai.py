"""A small OpenAI-compatible chat server on 127.0.0.1 for generation tests.

Answers come from `ANSWERS` (prompt -> reply). Per model: `strong` always answers; `flaky` answers prompts
marked RATE after two 429s and prompts marked OOPS after one 500; `dead` answers 500 (a JSON error body)
while `dead_down` is set. Every request is counted per (model, prompt) in `calls`.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import ThreadingHTTPServer
from typing import ClassVar

from tests.json_handler import JsonHandler


class FakeChat(JsonHandler):
    answers: ClassVar[dict[str, str]] = {}
    calls: ClassVar[Counter] = Counter()
    dead_down: ClassVar[bool] = True
    lock = threading.Lock()

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"{}")
        if "messages" not in body:
            return self._send(400, {"error": "bad request"})
        model, prompt = body.get("model"), body["messages"][-1]["content"]
        with FakeChat.lock:
            FakeChat.calls[(model, prompt)] += 1
            n = FakeChat.calls[(model, prompt)]
        if model == "dead" and FakeChat.dead_down:
            return self._send(500, {"error": {"message": "internal error", "type": "server_error"}})
        if model == "flaky" and "RATE" in prompt and n <= 2:
            return self._send(429, {"error": "rate limited"})
        if model == "flaky" and "OOPS" in prompt and n <= 1:
            return self._send(500, {"error": "transient"})
        reply = FakeChat.answers.get(prompt, "I do not know.")
        usage = {"prompt_tokens": len(prompt.split()) + 3, "completion_tokens": len(reply.split())}
        self._send(200, {"choices": [{"message": {"role": "assistant", "content": reply}}], "usage": usage})


@contextmanager
def serve(answers: dict[str, str]) -> Iterator[str]:
    FakeChat.answers = answers
    FakeChat.calls.clear()
    FakeChat.dead_down = True
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeChat)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()
