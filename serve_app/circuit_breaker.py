"""Per-upstream circuit breaker: a dead upstream is skipped for a cool-down instead of tried on every request."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from serve_app.config import CircuitBreakerArgs

logger = logging.getLogger("ray.serve")


class CircuitBreaker:
    """Closed: every request goes through; `allowed_fails` failures in a row open it. Open: requests are refused
    until `cooldown_s` has passed. Then one request (the probe) goes through while the others are still refused:
    its success closes the breaker, its failure opens it for another cool-down. Used from one event loop (an
    ingress replica), so no lock."""

    def __init__(self, name: str, args: CircuitBreakerArgs, clock: Callable[[], float] = time.monotonic) -> None:
        self.name, self._args, self._clock = name, args, clock
        self._fails = 0
        self._open_until: float | None = None  # set while open or half-open
        self._probing = False

    def refusal(self) -> float | None:
        """None: call the upstream (the caller must then report `succeeded`, `failed` or `abandoned`); otherwise the
        seconds until it may be tried again."""
        if self._open_until is None:
            return None
        left = self._open_until - self._clock()
        if left > 0:
            return left
        if self._probing:
            return min(1.0, self._args.cooldown_s)  # the probe's outcome is due soon
        self._probing = True
        return None

    def succeeded(self) -> None:
        if self._open_until is not None:
            logger.info("upstream %s answers again: circuit closed", self.name)
        self._fails, self._open_until, self._probing = 0, None, False

    def failed(self) -> None:
        probe_failed = self._probing
        self._fails += 1
        self._probing = False
        if probe_failed or (self._open_until is None and self._fails >= self._args.allowed_fails):
            self._open_until = self._clock() + self._args.cooldown_s
            logger.warning(
                "upstream %s failed %d time(s) in a row: skipped for %.0f s (circuit_breaker.cooldown_s)",
                self.name, self._fails, self._args.cooldown_s,
            )  # fmt: skip

    def abandoned(self) -> None:
        """The call ended without an outcome (the client went away): a probe may be sent again."""
        self._probing = False
