"""A small OpenAI-compatible chat client: bounded concurrency, a QPS cap, retries with backoff, per-row errors."""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from finerouter.describe.config import OpenAIBackendConfig
from finerouter.errors import FineRouterError

RETRYABLE = {408, 409, 425, 429, 500, 502, 503, 504}


@dataclass
class Completion:
    text: str | None
    error: str | None
    attempts: int
    input_tokens: int | None = None  # the endpoint's `usage`, where it reports one
    output_tokens: int | None = None


def read_api_key(cfg: OpenAIBackendConfig, where: str = "describe.openai") -> str | None:
    """The key, read where the job is submitted (workers may not share the driver's environment)."""
    if not cfg.api_key_env:
        return None
    key = os.environ.get(cfg.api_key_env)
    if not key:
        raise FineRouterError(f"{where}.api_key_env names {cfg.api_key_env!r}, which is not set")
    return key


class RateLimiter:
    """At most `qps` request starts per second across threads (None = unlimited)."""

    def __init__(self, qps: float | None) -> None:
        self.interval = 1.0 / qps if qps else 0.0
        self.next_start = 0.0
        self.lock = threading.Lock()

    def wait(self) -> None:
        if not self.interval:
            return
        with self.lock:
            now = time.monotonic()
            start = max(now, self.next_start)
            self.next_start = start + self.interval
        time.sleep(max(0.0, start - now))


class ChatClient:
    """`sampling` adds request fields (top_p, seed, stop, ...); `where` names the config section in errors."""

    def __init__(
        self,
        cfg: OpenAIBackendConfig,
        max_tokens: int,
        temperature: float,
        api_key: str | None = None,
        sampling: dict[str, Any] | None = None,
        where: str = "describe.openai",
    ) -> None:
        self.cfg = cfg
        self.url = f"{(cfg.base_url or '').rstrip('/')}/chat/completions"
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.sampling = sampling or {}
        self.where = where
        self.limiter = RateLimiter(cfg.qps)
        key = api_key if api_key is not None else read_api_key(cfg, where)
        self.headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {key}"} if key else {})}

    def probe(self) -> None:
        """Fail fast, naming the URL, when nothing answers there (any HTTP status means something is listening)."""
        request = urllib.request.Request(self.url, data=b"{}", headers=self.headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=min(self.cfg.timeout_s, 10)):
                pass
        except urllib.error.HTTPError as exc:
            if exc.code in (401, 403):
                raise FineRouterError(
                    f"OpenAI-compatible endpoint {self.url} refused the credentials (HTTP {exc.code}); "
                    f"check {self.where}.api_key_env ({self.cfg.api_key_env!r})"
                ) from exc
            return
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise FineRouterError(f"OpenAI-compatible endpoint {self.url} is unreachable: {reason}") from exc

    def complete(self, prompt: str | list[dict[str, str]]) -> Completion:
        """One chat completion of a prompt (a user message) or a full message list."""
        messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else prompt
        body = json.dumps(
            {
                **self.sampling,
                "model": self.cfg.model,
                "messages": messages,
                "max_tokens": self.max_tokens,
                "temperature": self.temperature,
            }
        ).encode()
        error = "not attempted"
        for attempt in range(1, self.cfg.max_retries + 2):
            self.limiter.wait()
            request = urllib.request.Request(self.url, data=body, headers=self.headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=self.cfg.timeout_s) as response:
                    payload = json.loads(response.read())
                usage = payload.get("usage") or {}
                return Completion(
                    str(payload["choices"][0]["message"]["content"]),
                    None,
                    attempt,
                    _count(usage.get("prompt_tokens")),
                    _count(usage.get("completion_tokens")),
                )
            except urllib.error.HTTPError as exc:
                error = f"HTTP {exc.code}: {exc.read()[:200].decode(errors='replace')}"
                if exc.code not in RETRYABLE:
                    return Completion(None, error, attempt)
            except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
                return Completion(None, f"malformed response: {exc!r}", attempt)
            except (urllib.error.URLError, TimeoutError, OSError) as exc:
                error = f"connection error: {getattr(exc, 'reason', exc)}"
            if attempt <= self.cfg.max_retries:
                time.sleep(self.cfg.retry_wait_s * 2 ** (attempt - 1))
        return Completion(None, f"{error} (after {self.cfg.max_retries + 1} attempts)", self.cfg.max_retries + 1)

    def complete_all(self, prompts: list[str] | list[list[dict[str, str]]]) -> list[Completion]:
        with ThreadPoolExecutor(max_workers=self.cfg.concurrency) as pool:
            return list(pool.map(self.complete, prompts))


def _count(value: Any) -> int | None:
    return int(value) if isinstance(value, int) and value >= 0 else None
