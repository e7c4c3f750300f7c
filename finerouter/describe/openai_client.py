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

from finerouter.describe.config import OpenAIBackendConfig
from finerouter.errors import FineRouterError

RETRYABLE = {408, 409, 425, 429, 500, 502, 503, 504}


@dataclass
class Completion:
    text: str | None
    error: str | None
    attempts: int


def read_api_key(cfg: OpenAIBackendConfig) -> str | None:
    """The key, read where the job is submitted (workers may not share the driver's environment)."""
    if not cfg.api_key_env:
        return None
    key = os.environ.get(cfg.api_key_env)
    if not key:
        raise FineRouterError(f"describe.openai.api_key_env names {cfg.api_key_env!r}, which is not set")
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
    def __init__(
        self, cfg: OpenAIBackendConfig, max_tokens: int, temperature: float, api_key: str | None = None
    ) -> None:
        self.cfg = cfg
        self.url = f"{(cfg.base_url or '').rstrip('/')}/chat/completions"
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.limiter = RateLimiter(cfg.qps)
        key = api_key if api_key is not None else read_api_key(cfg)
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
                    f"check describe.openai.api_key_env ({self.cfg.api_key_env!r})"
                ) from exc
            return
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise FineRouterError(f"OpenAI-compatible endpoint {self.url} is unreachable: {reason}") from exc

    def complete(self, prompt: str) -> Completion:
        body = json.dumps(
            {
                "model": self.cfg.model,
                "messages": [{"role": "user", "content": prompt}],
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
                return Completion(str(payload["choices"][0]["message"]["content"]), None, attempt)
            except urllib.error.HTTPError as exc:
                error = f"HTTP {exc.code}: {exc.read()[:200].decode(errors='replace')}"
                if exc.code not in RETRYABLE:
                    return Completion(None, error, attempt)
            except (KeyError, IndexError, TypeError, ValueError) as exc:
                return Completion(None, f"malformed response: {exc!r}", attempt)
            except (urllib.error.URLError, TimeoutError, OSError) as exc:
                error = f"connection error: {getattr(exc, 'reason', exc)}"
            if attempt <= self.cfg.max_retries:
                time.sleep(self.cfg.retry_wait_s * 2 ** (attempt - 1))
        return Completion(None, f"{error} (after {self.cfg.max_retries + 1} attempts)", self.cfg.max_retries + 1)

    def complete_all(self, prompts: list[str]) -> list[Completion]:
        with ThreadPoolExecutor(max_workers=self.cfg.concurrency) as pool:
            return list(pool.map(self.complete, prompts))
