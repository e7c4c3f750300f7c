"""The per-upstream circuit breaker, on a fake clock, and through the upstream client against a dead upstream."""

from __future__ import annotations

import asyncio

import pytest

from serve_app.circuit_breaker import CircuitBreaker
from serve_app.config import CircuitBreakerArgs, UpstreamArgs
from serve_app.upstream import COOLING_DOWN, UpstreamClient, UpstreamFailure
from tests.serve_app.conftest import UPSTREAM_KEY_ENV
from tests.serve_app.fake_upstream import FakeUpstream


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_opens_after_allowed_fails_in_a_row_and_probes_once_per_cooldown() -> None:
    clock = Clock()
    breaker = CircuitBreaker("m", CircuitBreakerArgs(allowed_fails=2, cooldown_s=30), clock)
    assert breaker.refusal() is None
    breaker.failed()
    breaker.succeeded()  # a success in between: the count starts again
    breaker.failed()
    assert breaker.refusal() is None
    breaker.failed()  # second failure in a row: open
    assert breaker.refusal() == pytest.approx(30)
    clock.now += 29
    assert breaker.refusal() == pytest.approx(1)
    clock.now += 1
    assert breaker.refusal() is None  # the probe
    assert breaker.refusal() is not None  # only one probe at a time
    breaker.failed()  # a failed probe opens it again at once (not after allowed_fails)
    assert breaker.refusal() == pytest.approx(30)
    clock.now += 30
    assert breaker.refusal() is None
    breaker.abandoned()  # the probe's client went away: the next request probes
    assert breaker.refusal() is None
    breaker.succeeded()
    assert breaker.refusal() is None and breaker.refusal() is None  # closed


def test_a_dead_upstream_is_called_once_per_cooldown(fake_upstream: FakeUpstream) -> None:
    clock = Clock()
    upstream = UpstreamArgs(base_url=fake_upstream.base_url("hangup"), api_key_env=UPSTREAM_KEY_ENV)
    client = UpstreamClient({"dead": upstream}, {}, 0, breaker=CircuitBreakerArgs(allowed_fails=1, cooldown_s=60),
                            clock=clock)  # fmt: skip

    async def scenario() -> list[list[str]]:
        codes = []
        for step in range(9):
            if step in (3, 6):
                clock.now += 60  # a cool-down has passed
            try:
                await client.send("dead", {"messages": []}, f"r{step}")
            except UpstreamFailure as exc:
                codes.append([attempt.code for attempt in exc.attempts])
        await client.close()
        return codes

    before = len(fake_upstream.received("hangup"))
    codes = asyncio.run(scenario())
    assert len(fake_upstream.received("hangup")) - before == 3  # steps 0, 3 and 6
    called = ["upstream_unreachable"]
    assert codes == [called, [COOLING_DOWN], [COOLING_DOWN]] * 3
