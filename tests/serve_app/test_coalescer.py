"""The ingress's Coalescer: a lone call goes at once; calls that arrive while all slots are busy go together."""

from __future__ import annotations

import asyncio

import pytest

from serve_app.coalescer import Coalescer


class Callee:
    def __init__(self, delay: float = 0.05, fail_on: str | None = None) -> None:
        self.calls: list[list[str]] = []
        self.delay = delay
        self.fail_on = fail_on
        self.in_flight = self.max_in_flight = 0

    async def __call__(self, items: list[str]) -> list[str]:
        self.calls.append(list(items))
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.delay)
            if self.fail_on in items:
                raise RuntimeError(f"callee failed on {self.fail_on}")
            return [item.upper() for item in items]
        finally:
            self.in_flight -= 1


def test_concurrent_calls_are_coalesced_behind_the_in_flight_limit() -> None:
    async def scenario() -> tuple[list[str], Callee]:
        callee = Callee()
        coalescer = Coalescer(callee, max_batch=4, max_in_flight=2)
        results = await asyncio.gather(*(coalescer.submit(f"q{i}") for i in range(11)))
        return results, callee

    results, callee = asyncio.run(scenario())
    assert results == [f"Q{i}" for i in range(11)]  # each caller gets its own item's result
    assert [len(call) for call in callee.calls] == [1, 1, 4, 4, 1]  # two go alone, the rest wait and go together
    assert callee.max_in_flight == 2
    assert sorted(item for call in callee.calls for item in call) == sorted(f"q{i}" for i in range(11))


def test_a_lone_call_is_sent_at_once() -> None:
    async def scenario() -> tuple[float, Callee]:
        callee = Callee(delay=0)
        coalescer = Coalescer(callee, max_batch=32, max_in_flight=1)
        loop = asyncio.get_running_loop()
        start = loop.time()
        assert await coalescer.submit("alone") == "ALONE"
        return loop.time() - start, callee

    elapsed, callee = asyncio.run(scenario())
    assert callee.calls == [["alone"]] and elapsed < 1.0


def test_a_failed_call_fails_its_items_only_and_cancelled_callers_are_skipped() -> None:
    async def scenario() -> tuple[list, Callee]:
        callee = Callee(fail_on="bad")
        coalescer = Coalescer(callee, max_batch=8, max_in_flight=1)
        first = asyncio.ensure_future(coalescer.submit("first"))
        await asyncio.sleep(0)  # "first" is out; the next three wait together
        waiting = [asyncio.ensure_future(coalescer.submit(item)) for item in ("bad", "gone", "other")]
        await asyncio.sleep(0)
        waiting[1].cancel()
        later = await asyncio.gather(first, *waiting, return_exceptions=True)
        after = await coalescer.submit("after")  # the coalescer still works
        return [*later, after], callee

    results, callee = asyncio.run(scenario())
    assert results[0] == "FIRST" and results[4] == "AFTER"
    assert isinstance(results[1], RuntimeError) and "callee failed on bad" in str(results[1])
    assert isinstance(results[2], asyncio.CancelledError)
    assert isinstance(results[3], RuntimeError)  # same call as "bad"
    assert callee.calls == [["first"], ["bad", "other"], ["after"]]


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError, match=r"max_batch \(0\) and max_in_flight \(1\) must be >= 1"):
        Coalescer(Callee(), max_batch=0, max_in_flight=1)
    with pytest.raises(ValueError, match=r"linger_s \(2\) must lie in \[0, 1\] seconds"):
        Coalescer(Callee(), max_batch=4, max_in_flight=2, linger_s=2)


class Timed(Callee):
    """A Callee that records when each call started (loop time)."""

    def __init__(self, delay: float) -> None:
        super().__init__(delay)
        self.started: list[float] = []

    async def __call__(self, items: list[str]) -> list[str]:
        self.started.append(asyncio.get_running_loop().time())
        return await super().__call__(items)


def burst_after_a_big_call(linger_s: float, burst: list[str]) -> tuple[Timed, float]:
    """Two slots. "first" and "a" go alone (slots free); b-e wait and go as one call of 4 when they return (0.3 s).
    At 0.4 s, with that call of 4 out and one slot free, `burst` arrives 2 ms apart. Returns the callee and the time
    the burst started."""

    async def scenario() -> tuple[Timed, float]:
        callee = Timed(delay=0.3)
        coalescer = Coalescer(callee, max_batch=8, max_in_flight=2, linger_s=linger_s)
        loop = asyncio.get_running_loop()
        early = [asyncio.ensure_future(coalescer.submit(item)) for item in ("first", "a", "b", "c", "d", "e")]
        await asyncio.sleep(0.4)
        burst_start, late = loop.time(), []
        for item in burst:
            late.append(asyncio.ensure_future(coalescer.submit(item)))
            await asyncio.sleep(0.002)
        await asyncio.gather(*early, *late)
        return callee, burst_start

    return asyncio.run(scenario())


def test_with_a_call_out_a_burst_lingers_into_one_call_instead_of_a_lone_first_one() -> None:
    callee, _ = burst_after_a_big_call(0.0, ["f", "g", "h"])
    assert callee.calls == [["first"], ["a"], ["b", "c", "d", "e"], ["f"], ["g", "h"]]  # "f" takes the slot alone
    callee, burst_start = burst_after_a_big_call(0.05, ["f", "g", "h"])
    assert callee.calls == [["first"], ["a"], ["b", "c", "d", "e"], ["f", "g", "h"]]
    # fewer than the 4 of the call out arrived: they went when linger_s ran out, long before that call returned
    assert 0.04 <= callee.started[-1] - burst_start < 0.15


def test_lingering_stops_once_as_many_wait_as_the_call_out_carries() -> None:
    callee, burst_start = burst_after_a_big_call(0.5, ["f", "g", "h", "i"])
    assert callee.calls == [["first"], ["a"], ["b", "c", "d", "e"], ["f", "g", "h", "i"]]
    assert callee.started[-1] - burst_start < 0.1  # the fourth arrival sent them, not the 0.5 s timer


def test_a_lone_call_beside_a_lone_call_does_not_linger() -> None:
    async def scenario() -> Timed:
        callee = Timed(delay=0.3)
        coalescer = Coalescer(callee, max_batch=8, max_in_flight=2, linger_s=0.5)
        first = asyncio.ensure_future(coalescer.submit("first"))
        await asyncio.sleep(0.01)
        await asyncio.gather(first, coalescer.submit("second"))  # the call out carries 1: no reason to wait
        return callee

    callee = asyncio.run(scenario())
    assert callee.calls == [["first"], ["second"]]
    assert callee.started[1] - callee.started[0] < 0.1
