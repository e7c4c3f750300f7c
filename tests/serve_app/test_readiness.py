"""/healthz's wait for the router: an answer when it comes in time, None at once-ish while it is loading."""

from __future__ import annotations

import asyncio

import pytest

from serve_app.readiness import Readiness


def test_a_loading_router_gives_none_and_one_probe_is_out_at_a_time() -> None:
    async def scenario() -> None:
        loaded = asyncio.Event()
        calls = 0

        async def probe() -> str:
            nonlocal calls
            calls += 1
            await loaded.wait()
            return "ok"

        readiness = Readiness(probe, wait_s=0.05)
        assert await readiness.check() is None
        assert await asyncio.gather(readiness.check(), readiness.check()) == [None, None]
        assert calls == 1  # the checks while loading share the probe that is out
        loaded.set()
        assert await readiness.check() == "ok"
        assert await readiness.check() == "ok" and calls == 2  # a fresh probe once the last one answered

    asyncio.run(scenario())


def test_a_failing_probe_raises_to_its_check() -> None:
    async def probe() -> str:
        raise RuntimeError("no router replica")

    async def scenario() -> None:
        readiness = Readiness(probe, wait_s=1)
        with pytest.raises(RuntimeError, match="no router replica"):
            await readiness.check()

    asyncio.run(scenario())
