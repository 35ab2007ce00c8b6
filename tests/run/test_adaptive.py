"""Adaptive limits on the virtual clock: a simulated provider with an undeclared limit."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from agentflow.llm.hints import RateLimitHints
from agentflow.model.types import Limit
from agentflow.run.adaptive import PROBE_S, PROBE_WINDOW, Adjustment
from agentflow.run.clock import VirtualClock
from agentflow.run.limits import RateLimiter

from .virtual_time import virtual, virtual_clock

MODEL = "openai/team-gpt"


@dataclass
class Provider:
    """A provider enforcing `rpm` with a bucket of `burst` requests, like tests.fakeserver."""

    clock: VirtualClock
    rpm: float
    burst: float
    headers: bool = True
    level: float = -1.0
    updated: float = 0.0
    accepted: list[float] = field(default_factory=list)
    refused: int = 0

    def take(self) -> RateLimitHints | None:
        """One request arrives: the headers it gets back; raises `Refused` when over."""
        rate = self.rpm / 60.0
        now = self.clock.monotonic()
        if self.level < 0:
            self.level = self.burst
        self.level = min(self.burst, self.level + (now - self.updated) * rate)
        self.updated = now
        room = self.level >= 1.0
        if room:
            self.level -= 1.0
            self.accepted.append(now)
        else:
            self.refused += 1
        hints = (
            RateLimitHints(
                limit_requests=self.rpm,
                remaining_requests=float(int(self.level)),
                reset_requests_s=(self.burst - self.level) / rate,
                retry_after_s=None if room else (1.0 - self.level) / rate,
            )
            if self.headers
            else None
        )
        if not room:
            raise Refused(hints, (1.0 - self.level) / rate)
        return hints


class Refused(Exception):
    def __init__(self, hints: RateLimitHints | None, wait: float) -> None:
        self.hints = hints
        self.wait = wait


async def agent(
    limiter: RateLimiter,
    provider: Provider,
    latency: float,
    adjustments: list[Adjustment],
    retry_after: bool = True,
) -> None:
    """One call, retried on 429 the way the engine does (pause the key for the hint)."""
    clock = provider.clock
    for _ in range(200):
        permit = await limiter.acquire(MODEL, 10)
        try:
            try:
                hints = provider.take()
            except Refused as refused:
                found = permit.report(refused.hints, throttled=True)
                limiter.pause(MODEL, refused.wait if retry_after else 1.0)
                if found is not None:
                    adjustments.append(found)
                continue
            await clock.sleep(latency)
            found = permit.report(hints, throttled=False)
            if found is not None:
                adjustments.append(found)
            return
        finally:
            permit.release()
    raise AssertionError("never admitted")


def max_in_window(times: list[float], window: float) -> int:
    times = sorted(times)
    best, start = 0, 0
    for end, moment in enumerate(times):
        while times[start] <= moment - window:
            start += 1
        best = max(best, end - start + 1)
    return best


@virtual
async def test_600_calls_under_an_undeclared_300_rpm_finish_near_the_bound_with_few_429s() -> None:
    clock = virtual_clock()
    limiter = RateLimiter((), clock, probe=True)
    provider = Provider(clock, rpm=300, burst=5)
    adjustments: list[Adjustment] = []
    async with asyncio.TaskGroup() as group:
        for _ in range(600):
            group.create_task(agent(limiter, provider, 0.2, adjustments))
    makespan = clock.monotonic()
    assert len(provider.accepted) == 600
    assert provider.refused <= 0.05 * (600 + provider.refused)
    assert makespan <= 1.15 * 120.0
    assert adjustments and adjustments[0].provider_rpm == 300
    stats = limiter.statistics().key(MODEL)
    assert stats.effective_rpm is not None and stats.effective_rpm <= 300 * 0.95 + 1e-6


@virtual
async def test_without_adaptive_headers_429s_alone_bring_the_rate_down() -> None:
    clock = virtual_clock()
    limiter = RateLimiter((), clock, probe=True)
    provider = Provider(clock, rpm=120, burst=2, headers=False)
    adjustments: list[Adjustment] = []
    async with asyncio.TaskGroup() as group:
        for _ in range(200):
            group.create_task(agent(limiter, provider, 0.1, adjustments, retry_after=False))
    assert len(provider.accepted) == 200
    assert [a.reason for a in adjustments][:1] == ["rate_limited"]
    # far fewer 429s than calls: the key slowed down instead of hammering
    assert provider.refused < 200
    assert clock.monotonic() < 4 * 100.0  # 200 calls / 2 per s = 100 s at best


@virtual
async def test_never_above_the_declared_limit_whatever_the_provider_reports() -> None:
    clock = virtual_clock()
    limiter = RateLimiter((Limit(MODEL, rpm=60, burst=1),), clock, probe=True)
    provider = Provider(clock, rpm=600, burst=10)
    adjustments: list[Adjustment] = []
    async with asyncio.TaskGroup() as group:
        for _ in range(90):
            group.create_task(agent(limiter, provider, 0.05, adjustments))
    assert max_in_window(provider.accepted, 60.0) <= 60 + 1
    assert provider.refused == 0
    stats = limiter.statistics().key(MODEL)
    assert stats.effective_rpm is not None and stats.effective_rpm <= 60.0 + 1e-6


@virtual
async def test_a_key_with_no_limits_probes_then_opens_at_the_first_plain_answer() -> None:
    clock = virtual_clock()
    limiter = RateLimiter((), clock, probe=True)
    admitted: list[float] = []

    async def plain_call() -> None:
        permit = await limiter.acquire(MODEL, 1)
        admitted.append(clock.monotonic())
        await clock.sleep(0.05)
        permit.report(None, throttled=False)
        permit.release()

    async with asyncio.TaskGroup() as group:
        for _ in range(50):
            group.create_task(plain_call())
    assert admitted[:PROBE_WINDOW] == [0.0] * PROBE_WINDOW
    # the rest went together when the first answer came (before the probe's time was up)
    assert set(admitted[PROBE_WINDOW:]) == {0.05}
    assert PROBE_S > 0.05
    assert limiter.statistics().key(MODEL).effective_rpm is None


@virtual
async def test_a_probe_with_no_answer_yet_opens_after_its_time() -> None:
    clock = virtual_clock()
    limiter = RateLimiter((), clock, probe=True)
    admitted: list[float] = []

    async def slow_call() -> None:
        async with await limiter.acquire(MODEL, 1):
            admitted.append(clock.monotonic())
            await clock.sleep(2.0)

    async with asyncio.TaskGroup() as group:
        for _ in range(20):
            group.create_task(slow_call())
    assert admitted.count(0.0) == PROBE_WINDOW
    assert set(admitted[PROBE_WINDOW:]) == {PROBE_S}


@virtual
async def test_without_probing_nothing_is_held_back() -> None:
    clock = virtual_clock()
    limiter = RateLimiter((), clock)
    permits = [await limiter.acquire(MODEL, 1) for _ in range(100)]
    assert clock.monotonic() == 0.0
    for permit in permits:
        permit.release()
