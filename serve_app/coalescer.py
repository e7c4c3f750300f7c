"""Client-side batching: concurrent calls coalesced into list calls, with a bounded number in flight."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class Coalescer(Generic[Item, Result]):
    """`await submit(item)` -> its result from `send(items)`, which takes a list and returns one result per item.

    With no call out, an item is sent at once, so a lone request waits for nothing. The items that arrive while all
    `max_in_flight` calls are out are sent together (up to `max_batch`) as soon as one returns. With some but not all
    calls out, items wait, up to `linger_s`, until as many wait as the calls out carry on average: under load the
    answers of a returned call come back as a burst of new requests, and without the wait the first of them would
    go alone and take a whole callee slot (balanced calls routed ~35% more per second, docs/benchmarks.md). Unlike
    `serve.batch` with no wait, this forms real batches in a caller that only awaits (it does not block its loop),
    so the callee gets one call per batch instead of one per item. An exception from `send` is raised to every
    item of its call.
    """

    def __init__(
        self, send: Callable[[list[Item]], Awaitable[list[Result]]], max_batch: int, max_in_flight: int,
        linger_s: float = 0.0,
    ) -> None:  # fmt: skip
        if max_batch < 1 or max_in_flight < 1:
            raise ValueError(f"max_batch ({max_batch}) and max_in_flight ({max_in_flight}) must be >= 1")
        if not 0 <= linger_s <= 1:
            raise ValueError(f"linger_s ({linger_s}) must lie in [0, 1] seconds")
        self._send = send
        self.max_batch = max_batch
        self.max_in_flight = max_in_flight
        self.linger_s = linger_s
        self._pending: list[tuple[Item, asyncio.Future[Result]]] = []
        self._in_flight = 0
        self._in_flight_items = 0
        self._tasks: set[asyncio.Task] = set()
        self._linger: asyncio.TimerHandle | None = None
        self._lingered = False

    async def submit(self, item: Item) -> Result:
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        self._dispatch()
        return await future

    def _dispatch(self) -> None:
        while self._pending and self._in_flight < self.max_in_flight:
            if self._should_linger():
                return
            self._stop_lingering()
            batch = [entry for entry in self._pending[: self.max_batch] if not entry[1].done()]  # drop cancelled
            del self._pending[: self.max_batch]
            if not batch:
                continue
            self._in_flight += 1
            self._in_flight_items += len(batch)
            task = asyncio.create_task(self._call(batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _should_linger(self) -> bool:
        """Wait (up to linger_s) while a call is out and fewer items wait than the calls out carry on average."""
        if self.linger_s <= 0 or self._in_flight == 0 or self._lingered:
            return False
        typical = min(self.max_batch, -(-self._in_flight_items // self._in_flight))
        if len(self._pending) >= typical:
            return False
        if self._linger is None:
            self._linger = asyncio.get_running_loop().call_later(self.linger_s, self._linger_over)
        return True

    def _linger_over(self) -> None:
        self._linger, self._lingered = None, True
        self._dispatch()

    def _stop_lingering(self) -> None:
        if self._linger is not None:
            self._linger.cancel()
        self._linger, self._lingered = None, False

    async def _call(self, batch: list[tuple[Item, asyncio.Future[Result]]]) -> None:
        try:
            results = await self._send([item for item, _ in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"a batch of {len(batch)} got {len(results)} results")
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)
        except BaseException as exc:  # every waiter gets the failure, cancellation included
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            if isinstance(exc, asyncio.CancelledError):
                raise
        finally:
            self._in_flight -= 1
            self._in_flight_items -= len(batch)
            self._dispatch()
