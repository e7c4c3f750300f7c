"""Client-side batching: concurrent calls coalesced into list calls, with a bounded number in flight."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class Coalescer(Generic[Item, Result]):
    """`await submit(item)` -> its result from `send(items)`, which takes a list and returns one result per item.

    A call is sent at once while fewer than `max_in_flight` are out, so a lone request waits for nothing; the items
    that arrive while all are out are sent together (up to `max_batch`) as soon as one returns. Unlike `serve.batch`
    with no wait, this forms real batches in a caller that only awaits (it does not block its loop), so the callee
    gets one call per batch instead of one per item. An exception from `send` is raised to every item of its call.
    """

    def __init__(
        self, send: Callable[[list[Item]], Awaitable[list[Result]]], max_batch: int, max_in_flight: int
    ) -> None:
        if max_batch < 1 or max_in_flight < 1:
            raise ValueError(f"max_batch ({max_batch}) and max_in_flight ({max_in_flight}) must be >= 1")
        self._send = send
        self.max_batch = max_batch
        self.max_in_flight = max_in_flight
        self._pending: list[tuple[Item, asyncio.Future[Result]]] = []
        self._in_flight = 0
        self._tasks: set[asyncio.Task] = set()

    async def submit(self, item: Item) -> Result:
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        self._dispatch()
        return await future

    def _dispatch(self) -> None:
        while self._pending and self._in_flight < self.max_in_flight:
            batch = [entry for entry in self._pending[: self.max_batch] if not entry[1].done()]  # drop cancelled
            del self._pending[: self.max_batch]
            if not batch:
                continue
            self._in_flight += 1
            task = asyncio.create_task(self._call(batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

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
            self._dispatch()
