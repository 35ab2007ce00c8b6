"""Limits shared through a real redis-server: one limit across processes, slots, leases,
429 pauses for everybody, and local limiting when Redis goes away.

Each `RedisLimiter` here has its own connection, as a separate process would; the server
(and its TIME clock) is real, so waits are short real ones.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager

from agentflow.model.types import Limit
from agentflow.run.clock import SystemClock
from agentflow.run.limits import Permit, WaitInfo
from agentflow.run.redis_limits import RedisLimiter
from agentflow.state.redis_conn import RedisConnection, parse_redis_url
from tests.redis_server import RedisServer

MODEL = "openai/gpt-4o"


@asynccontextmanager
async def limiters(
    url: str, limits: Sequence[Limit], count: int, *, lease_s: float = 600.0
) -> AsyncIterator[tuple[list[RedisLimiter], list[str]]]:
    warnings: list[str] = []
    async with AsyncExitStack() as stack:
        made = []
        for _ in range(count):
            redis = await stack.enter_async_context(
                RedisConnection(parse_redis_url(url), timeout_s=1.0)
            )
            limiter = RedisLimiter(
                redis, limits, SystemClock(), warn=warnings.append, lease_s=lease_s
            )
            stack.push_async_callback(limiter.aclose)
            made.append(limiter)
        yield made, warnings


def max_in_window(times: Sequence[float], window: float) -> int:
    times = sorted(times)
    best = start = 0
    for end in range(len(times)):
        while times[end] - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


def test_three_processes_share_one_star_limit(redis_server: RedisServer) -> None:
    # 6,000 rpm is 100 calls/s with a burst of 5: 60 calls need at least 0.55 s together,
    # while three limiters each owning the limit would take 0.15 s.
    limits = (Limit(key="*", rpm=6000, burst=5),)

    async def scenario() -> list[float]:
        admitted: list[float] = []
        async with limiters(redis_server.url, limits, 3) as (made, _):

            async def one(limiter: RedisLimiter) -> None:
                permit = await limiter.acquire(MODEL, 10)
                admitted.append(time.monotonic())
                permit.release()

            async with asyncio.TaskGroup() as group:
                for n in range(60):
                    group.create_task(one(made[n % 3]))
        return admitted

    admitted = asyncio.run(scenario())
    assert len(admitted) == 60
    assert max(admitted) - min(admitted) >= 0.5
    # any 0.1 s admits at most 10 + burst 5 (one more for when the admission was noted)
    assert max_in_window(admitted, 0.1) <= 16


def test_max_concurrent_slots_are_shared_and_a_freed_slot_admits_the_next(
    redis_server: RedisServer,
) -> None:
    limits = (Limit(key="openai/*", max_concurrent=2),)

    async def scenario() -> tuple[list[WaitInfo], bool, bool]:
        waits: list[WaitInfo] = []
        async with limiters(redis_server.url, limits, 3) as (made, _):
            first = await made[0].acquire(MODEL, 1)
            await made[1].acquire(MODEL, 1)
            third = asyncio.create_task(made[2].acquire(MODEL, 1, waits.append))
            await asyncio.sleep(0.3)
            done_while_full = third.done()
            first.release()
            permit = await asyncio.wait_for(third, 5)
            permit.release()
            return waits, done_while_full, permit is not None

    waits, done_while_full, admitted = asyncio.run(scenario())
    assert not done_while_full
    assert [(w.key, w.reason, w.expected_wait_s) for w in waits] == [
        ("openai/*", "concurrency", None)
    ]
    assert admitted


def test_a_crashed_process_slots_come_back_after_their_lease(redis_server: RedisServer) -> None:
    limits = (Limit(key="*", max_concurrent=1),)

    async def scenario() -> tuple[bool, Permit]:
        async with limiters(redis_server.url, limits, 1, lease_s=0.4) as (crashed, _):
            await crashed[0].acquire(MODEL, 1)  # never released: the process "dies"
        async with limiters(redis_server.url, limits, 1) as (made, _):
            waiting = asyncio.create_task(made[0].acquire(MODEL, 1))
            await asyncio.sleep(0.1)
            held_back = not waiting.done()
            return held_back, await asyncio.wait_for(waiting, 5)

    held_back, permit = asyncio.run(scenario())
    assert held_back
    assert permit.tokens == 1


def test_a_429_pause_holds_every_process_and_refunds_reach_the_shared_bucket(
    redis_server: RedisServer,
) -> None:
    limits = (Limit(key="openai/gpt-4o", tpm=60_000),)  # a bucket of 1,000 tokens

    async def scenario() -> tuple[list[WaitInfo], list[WaitInfo]]:
        paused: list[WaitInfo] = []
        refilled: list[WaitInfo] = []
        async with limiters(redis_server.url, limits, 2) as (made, _):
            made[0].pause(MODEL, 0.3)
            await made[0].aclose()  # the outbox reaches Redis
            (await made[1].acquire(MODEL, 100, paused.append)).release()
            permit = await made[0].acquire(MODEL, 1000)
            permit.settle(100)  # 900 tokens come back
            permit.release()
            await made[0].aclose()
            (await made[1].acquire(MODEL, 800, refilled.append)).release()
        return paused, refilled

    paused, refilled = asyncio.run(scenario())
    assert [(w.key, w.reason) for w in paused] == [("openai/gpt-4o", "paused")]
    assert refilled == []  # the refund made room: no wait


def test_limits_fall_back_to_this_process_with_one_warning_when_redis_goes_away(
    own_redis_server: RedisServer,
) -> None:
    limits = (Limit(key="*", rpm=6000, burst=5, max_concurrent=4),)

    async def scenario() -> tuple[int, list[str]]:
        async with limiters(own_redis_server.url, limits, 1) as (made, warnings):
            (await made[0].acquire(MODEL, 1)).release()
            own_redis_server.stop()
            admitted = 0
            for _ in range(8):
                (await made[0].acquire(MODEL, 1)).release()
                admitted += 1
            return admitted, list(warnings)

    admitted, warnings = asyncio.run(scenario())
    assert admitted == 8
    assert len(warnings) == 1
    assert "cannot be reached" in warnings[0]
    assert "fall back to this process alone" in warnings[0]


def test_a_calls_settle_and_release_reach_redis_as_one_script_call(
    redis_server: RedisServer,
) -> None:
    limits = (Limit(key="openai/gpt-4o", tpm=60_000, max_concurrent=1),)

    async def scenario() -> tuple[int, list[WaitInfo]]:
        waited: list[WaitInfo] = []
        async with RedisConnection(parse_redis_url(redis_server.url)) as redis:
            limiter = RedisLimiter(redis, limits, SystemClock(), warn=print, lease_s=600.0)
            permits = [await limiter.acquire(MODEL, 1000)]
            before = redis.statistics().script_calls
            permits[0].settle(100)  # 900 tokens come back...
            permits[0].release()  # ...and the one slot is free, in the same turn
            await limiter.aclose()
            sent = redis.statistics().script_calls - before
            permits.append(await limiter.acquire(MODEL, 900, waited.append))  # no wait
            permits[-1].release()
            await limiter.aclose()
        return sent, waited

    sent, waited = asyncio.run(scenario())
    assert sent == 1
    assert waited == []  # both the refund and the freed slot reached Redis
