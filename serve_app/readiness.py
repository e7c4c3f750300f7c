"""`/healthz` that answers at once while the router is still loading its bundle, instead of hanging."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

Result = TypeVar("Result")


class Readiness(Generic[Result]):
    """`await check()`: the probe's result, or None when it has not answered within `wait_s`.

    While the router deployment loads its bundle, a call to it waits for a replica to come up; a health check must
    not wait with it. One probe is out at a time: concurrent checks share it, and a probe still out when its checks
    gave up stays out and later checks wait on it, so polling a loading router does not pile up calls to it.
    A probe that fails raises its exception to the checks waiting on it.
    """

    def __init__(self, probe: Callable[[], Awaitable[Result]], wait_s: float) -> None:
        if wait_s <= 0:
            raise ValueError(f"wait_s ({wait_s}) must be > 0")
        self._probe = probe
        self.wait_s = wait_s
        self._out: asyncio.Future[Result] | None = None

    async def check(self) -> Result | None:
        if self._out is None:
            self._out = asyncio.ensure_future(self._probe())
            self._out.add_done_callback(self._finished)
        out = self._out
        done, _ = await asyncio.wait({out}, timeout=self.wait_s)
        return out.result() if done else None

    def _finished(self, future: asyncio.Future[Result]) -> None:
        if self._out is future:
            self._out = None
        if not future.cancelled():
            future.exception()  # retrieved here: a probe whose checks all gave up must not log "never retrieved"
