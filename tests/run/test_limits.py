from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable, Sequence

import pytest

from agentflow.model.types import Limit
from agentflow.run.clock import VirtualClock
from agentflow.run.limits import Limiter, RateLimiter, WaitInfo

from .virtual_time import virtual, virtual_clock


def make(*limits: Limit) -> tuple[RateLimiter, VirtualClock]:
    clock = virtual_clock()
    return RateLimiter(limits, clock), clock


async def call(
    limiter: Limiter,
    clock: VirtualClock,
    log: list[tuple[str, float]],
    name: str,
    model: str = "openai/gpt-4o",
    tokens: int = 1,
    hold: float = 0.0,
) -> None:
    async with await limiter.acquire(model, tokens):
        log.append((name, clock.monotonic()))
        await clock.sleep(hold)


def max_in_window(events: Sequence[tuple[float, float]], window: float) -> float:
    """The largest total amount admitted in any half-open interval [t, t + window)."""
    events = sorted(events)
    best = total = 0.0
    start = 0
    for end_time, amount in events:
        total += amount
        while events[start][0] <= end_time - window:
            total -= events[start][1]
            start += 1
        best = max(best, total)
    return best


# -- buckets ---------------------------------------------------------------------------------


@virtual
async def test_first_call_goes_at_once_without_reporting_a_wait() -> None:
    limiter, clock = make(Limit("*", rpm=60))
    waits: list[WaitInfo] = []
    permit = await limiter.acquire("openai/gpt-4o", 100, on_wait=waits.append)
    assert clock.monotonic() == 0.0
    assert waits == []
    permit.release()


@virtual
async def test_wait_estimates_of_a_long_queue_count_every_call_ahead() -> None:
    # 1,500 calls queue at once under 600 rpm, burst 1, 10 tokens each: the k-th waits k/10 s.
    # Past 512 waiters the estimate stops scanning the queue and counts all of the key's
    # waiters, which for calls queued in arrival order are exactly those ahead.
    limiter, clock = make(Limit("*", rpm=600, tpm=6_000_000, burst=1))
    estimates: dict[int, float | None] = {}

    async def one(n: int) -> None:
        def seen(info: WaitInfo) -> None:
            estimates[n] = info.expected_wait_s

        async with await limiter.acquire("openai/gpt-4o", 10, on_wait=seen):
            pass

    async with asyncio.TaskGroup() as tg:
        for n in range(1500):
            tg.create_task(one(n))
    assert 0 not in estimates  # the first call goes at once
    for n in (1, 2, 100, 511, 512, 513, 1000, 1499):
        assert estimates[n] == pytest.approx(n / 10, abs=1e-6), n
    assert clock.monotonic() == pytest.approx(149.9)


@virtual
async def test_rpm_spaces_calls_evenly_after_the_default_one_second_burst() -> None:
    limiter, clock = make(Limit("*", rpm=120))  # 2 per second, holds 2
    log: list[tuple[str, float]] = []
    async with asyncio.TaskGroup() as tg:
        for n in range(6):
            tg.create_task(call(limiter, clock, log, f"c{n}"))
    assert [t for _, t in log] == pytest.approx([0.0, 0.0, 0.5, 1.0, 1.5, 2.0])


@virtual
async def test_an_hourly_allowance_never_goes_out_at_once() -> None:
    limiter, clock = make(Limit("*", rph=3600))  # one per second, holds 1
    log: list[tuple[str, float]] = []
    async with asyncio.TaskGroup() as tg:
        for n in range(5):
            tg.create_task(call(limiter, clock, log, f"c{n}"))
    assert [t for _, t in log] == pytest.approx([0.0, 1.0, 2.0, 3.0, 4.0])


@virtual
async def test_explicit_burst_sizes_every_request_bucket() -> None:
    limiter, clock = make(Limit("*", rpd=86_400, burst=3))  # one per second, holds 3
    log: list[tuple[str, float]] = []
    async with asyncio.TaskGroup() as tg:
        for n in range(5):
            tg.create_task(call(limiter, clock, log, f"c{n}"))
    assert [t for _, t in log] == pytest.approx([0.0, 0.0, 0.0, 1.0, 2.0])


@virtual
async def test_tpm_admits_tokens_at_the_per_second_rate() -> None:
    limiter, clock = make(Limit("*", tpm=6000))  # 100 tokens per second, holds 100
    log: list[tuple[str, float]] = []
    async with asyncio.TaskGroup() as tg:
        for n in range(4):
            tg.create_task(call(limiter, clock, log, f"c{n}", tokens=50))
    assert [t for _, t in log] == pytest.approx([0.0, 0.0, 0.5, 1.0])


@virtual
async def test_every_window_sees_at_most_n_plus_burst_under_saturation() -> None:
    rpm, burst = 600, 5
    limiter, clock = make(Limit("*", rpm=rpm, burst=burst))
    admitted: list[tuple[float, float]] = []

    async def worker() -> None:
        while clock.monotonic() < 600:
            async with await limiter.acquire("m", 1):
                admitted.append((clock.monotonic(), 1.0))
            await clock.sleep(0.01)

    async with asyncio.TaskGroup() as tg:
        for _ in range(40):
            tg.create_task(worker())
    assert max_in_window(admitted, 60.0) <= rpm + burst
    # and the limit is used: ten minutes at 10/s
    assert len(admitted) >= 0.95 * 10 * 600


class LateClock:
    """The virtual clock, but every sleep ends late, as a busy event loop's timers do."""

    def __init__(self, clock: VirtualClock, lateness: Callable[[], float]) -> None:
        self._clock = clock
        self._lateness = lateness

    def monotonic(self) -> float:
        return self._clock.monotonic()

    def wall(self) -> float:
        return self._clock.wall()

    async def sleep(self, seconds: float) -> None:
        await self._clock.sleep(seconds + self._lateness())


async def saturate(limiter: Limiter, clock: LateClock, until: float) -> list[tuple[float, float]]:
    """Forty callers asking again as soon as they are let through, until `until`."""
    admitted: list[tuple[float, float]] = []

    async def worker() -> None:
        while clock.monotonic() < until:
            async with await limiter.acquire("m", 1):
                admitted.append((clock.monotonic(), 1.0))
            await asyncio.sleep(0)

    async with asyncio.TaskGroup() as tg:
        for _ in range(40):
            tg.create_task(worker())
    return admitted


@virtual
async def test_late_wake_ups_do_not_cost_a_burst_of_one_its_rate() -> None:
    clock = LateClock(virtual_clock(), lambda: 0.01)  # every wake-up 10 ms late
    limiter = RateLimiter([Limit("*", rpm=600, burst=1)], clock)
    log: list[float] = []

    async def one() -> None:
        async with await limiter.acquire("m", 1):
            log.append(clock.monotonic())

    async with asyncio.TaskGroup() as tg:
        for _ in range(100):
            tg.create_task(one())
    # Each call after the first is 10 ms late, but on the bucket's schedule: one every
    # 100 ms, not one every 110 ms.
    assert log == pytest.approx([0.0] + [0.1 * n + 0.01 for n in range(1, 100)])


@virtual
@pytest.mark.parametrize(
    ("rpm", "burst", "late_s"),
    [
        (600, 1, 0.025),  # a quarter of a request at 10 per second
        (1200, 1, 0.0125),
        (600, 5, 0.1),  # a larger burst absorbs lateness by itself
        (100, None, 0.03),  # rpm 100 holds 1.67 by default
    ],
)
async def test_lateness_keeps_the_rate_and_every_window_holds(
    rpm: int, burst: int | None, late_s: float
) -> None:
    rng = random.Random(rpm + (burst or 0))
    clock = LateClock(virtual_clock(), lambda: rng.uniform(0.0, late_s))
    limiter = RateLimiter([Limit("*", rpm=rpm, burst=burst)], clock)
    admitted = await saturate(limiter, clock, 600.0)
    rate = rpm / 60.0
    capacity = max(1.0, float(burst)) if burst is not None else max(1.0, rate)
    # The bound of a bucket that never fills past its capacity, to the call:
    assert max_in_window(admitted, 60.0) <= rpm + int(capacity)
    assert max_in_window(admitted, 1.0) <= int(rate + capacity)
    # Late at every wake-up by up to the allowance, the rate is still used (a bucket of
    # one capped at its capacity would lose half of `late_s` a call: 12% at 10 per second).
    assert len(admitted) >= 0.99 * rate * 600


@virtual
async def test_an_idle_bucket_holds_no_more_than_its_capacity() -> None:
    limiter, clock = make(Limit("*", rpm=600, burst=1))
    log: list[tuple[str, float]] = []
    await call(limiter, clock, log, "first")
    await clock.sleep(10.0)  # idle: nobody waits, the bucket stops at one request
    async with asyncio.TaskGroup() as tg:
        for n in range(3):
            tg.create_task(call(limiter, clock, log, f"c{n}"))
    assert [t for _, t in log] == pytest.approx([0.0, 10.0, 10.1, 10.2])


@virtual
async def test_a_call_cancelled_while_late_leaves_no_extra_allowance() -> None:
    clock = LateClock(virtual_clock(), lambda: 0.02)
    limiter = RateLimiter([Limit("*", rpm=600, burst=1)], clock)
    first = await limiter.acquire("m", 1)
    first.release()
    waiting = asyncio.create_task(limiter.acquire("m", 1))
    await asyncio.sleep(0.115)  # it is due at 0.1, late, and given up before it looks
    waiting.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        (await waiting).release()
    await clock.sleep(5.0)
    started = clock.monotonic()
    times: list[float] = []

    async def one() -> None:
        async with await limiter.acquire("m", 1):
            times.append(clock.monotonic() - started)

    async with asyncio.TaskGroup() as tg:
        for _ in range(2):
            tg.create_task(one())
    # the second waits a full interval (plus its own lateness): no credit was kept
    assert times == pytest.approx([0.0, 0.12])


@virtual
async def test_token_windows_hold_with_random_sizes_refunds_and_cancellations() -> None:
    tpm = 30_000  # 500 tokens per second, holds 500
    limiter, clock = make(Limit("*", tpm=tpm, rpm=1200, max_concurrent=8))
    rng = random.Random(42)
    charged: list[tuple[float, float]] = []  # (admitted at, tokens finally charged)
    largest = 0

    async def one(estimate: int, actual: int, hold: float) -> None:
        nonlocal largest
        permit = await limiter.acquire("m", estimate)
        admitted = clock.monotonic()
        largest = max(largest, estimate)
        try:
            await clock.sleep(hold)
            permit.settle(actual)
        finally:
            permit.release()
            charged.append((admitted, float(permit.tokens)))

    async with asyncio.TaskGroup() as tg:
        tasks = []
        for _ in range(400):
            estimate = rng.randint(1, 1500)
            tasks.append(tg.create_task(one(estimate, rng.randint(0, estimate), rng.uniform(0, 3))))
            await clock.sleep(rng.uniform(0, 0.5))
            if rng.random() < 0.1:
                rng.choice(tasks).cancel()
    assert max_in_window(charged, 60.0) <= tpm + max(500, largest)
    stats = limiter.statistics().key("*")
    assert (stats.in_flight, stats.waiting) == (0, 0)
    assert stats.requests == len(charged) < 400  # some were cancelled while waiting
    assert stats.tokens == sum(tokens for _, tokens in charged)


# -- first come, first served ------------------------------------------------------------------


@virtual
async def test_a_large_request_is_not_overtaken_by_small_ones() -> None:
    limiter, clock = make(Limit("*", tpm=6000))  # 100 per second, holds 100
    log: list[tuple[str, float]] = []
    async with asyncio.TaskGroup() as tg:
        tg.create_task(call(limiter, clock, log, "drain", tokens=100))
        await asyncio.sleep(0)
        tg.create_task(call(limiter, clock, log, "big", tokens=90))
        await asyncio.sleep(0)
        for n in range(5):
            tg.create_task(call(limiter, clock, log, f"small{n}", tokens=5))
    assert [name for name, _ in log][:2] == ["drain", "big"]
    assert dict(log)["big"] == pytest.approx(0.9)
    assert all(t >= 0.9 for name, t in log if name.startswith("small"))


@virtual
async def test_calls_of_other_models_do_not_overtake_a_large_call_in_star() -> None:
    limiter, clock = make(Limit("*", tpm=6000))
    log: list[tuple[str, float]] = []
    async with asyncio.TaskGroup() as tg:
        tg.create_task(call(limiter, clock, log, "drain", model="openai/a", tokens=100))
        await asyncio.sleep(0)
        tg.create_task(call(limiter, clock, log, "big", model="openai/a", tokens=90))
        await asyncio.sleep(0)
        for n in range(5):
            tg.create_task(call(limiter, clock, log, f"small{n}", model="anthropic/b", tokens=5))
    assert [name for name, _ in log][:2] == ["drain", "big"]


@virtual
async def test_a_call_held_up_by_its_own_key_does_not_hold_up_star_for_others() -> None:
    limiter, clock = make(Limit("*", rpm=6000), Limit("openai/*", rpm=60))
    log: list[tuple[str, float]] = []
    async with asyncio.TaskGroup() as tg:
        for n in range(3):
            tg.create_task(call(limiter, clock, log, f"openai{n}", model="openai/a"))
        await asyncio.sleep(0)
        tg.create_task(call(limiter, clock, log, "other", model="anthropic/b"))
    assert dict(log) == {"openai0": 0.0, "openai1": 1.0, "openai2": 2.0, "other": 0.0}


@virtual
async def test_aiolimiter_would_let_small_requests_overtake_the_large_one() -> None:
    # Why limits.py has its own buckets: aiolimiter wakes the smallest request first.
    from aiolimiter import AsyncLimiter

    limiter = AsyncLimiter(100, 1)
    order: list[str] = []

    async def take(name: str, amount: float) -> None:
        await limiter.acquire(amount)
        order.append(name)

    await limiter.acquire(100)
    async with asyncio.TaskGroup() as tg:
        tg.create_task(take("big", 90))
        await asyncio.sleep(0)
        for n in range(3):
            tg.create_task(take(f"small{n}", 5))
    assert order[0] != "big"


@virtual
async def test_oversized_request_waits_for_a_full_bucket_then_leaves_a_debt() -> None:
    limiter, clock = make(Limit("*", tpm=6000))  # holds 100
    log: list[tuple[str, float]] = []
    async with asyncio.timeout(3600):  # a deadlock fails fast instead of hanging
        async with asyncio.TaskGroup() as tg:
            tg.create_task(call(limiter, clock, log, "first", tokens=60))
            await asyncio.sleep(0)
            tg.create_task(call(limiter, clock, log, "huge", tokens=500))
            await asyncio.sleep(0)
            tg.create_task(call(limiter, clock, log, "after", tokens=50))
    times = dict(log)
    assert times["first"] == 0.0
    assert times["huge"] == pytest.approx(0.6)  # bucket full again: 40 + 0.6 s * 100
    # debt of 400 repaid, then 50 more: 4.5 s later
    assert times["after"] == pytest.approx(0.6 + 4.5)


@virtual
async def test_max_concurrent_is_a_fifo_semaphore() -> None:
    limiter, clock = make(Limit("openai/*", max_concurrent=2))
    log: list[tuple[str, float]] = []
    peak = 0

    async def job(name: str, hold: float) -> None:
        nonlocal peak
        async with await limiter.acquire("openai/gpt-4o", 10):
            log.append((name, clock.monotonic()))
            peak = max(peak, limiter.statistics().key("openai/*").in_flight)
            await clock.sleep(hold)

    async with asyncio.TaskGroup() as tg:
        for n, hold in enumerate([5, 1, 1, 1, 1]):
            tg.create_task(job(f"j{n}", hold))
            await asyncio.sleep(0)
    assert [name for name, _ in log] == ["j0", "j1", "j2", "j3", "j4"]
    assert [t for _, t in log] == [0.0, 0.0, 1.0, 2.0, 3.0]
    assert peak == 2


@virtual
async def test_waiting_reports_reason_and_expected_wait_once() -> None:
    limiter, _ = make(Limit("*", rpm=60), Limit("openai/*", max_concurrent=1))
    first = await limiter.acquire("openai/gpt-4o", 1)
    waits: list[WaitInfo] = []
    async with asyncio.TaskGroup() as tg:
        tg.create_task(limiter.acquire("anthropic/claude", 1, on_wait=waits.append))
        await asyncio.sleep(0)
        second = tg.create_task(limiter.acquire("openai/gpt-4o", 1, on_wait=waits.append))
        await asyncio.sleep(5)
        first.release()
    assert waits[0] == WaitInfo("*", "rpm", pytest.approx(1.0))
    # behind the anthropic call in "*" (2 s) and behind the slot held by `first`
    assert waits[1].key in {"*", "openai/*"}
    assert len(waits) == 2
    (await second).release()


@virtual
async def test_concurrency_wait_has_no_time_estimate() -> None:
    limiter, _ = make(Limit("*", max_concurrent=1))
    held = await limiter.acquire("m", 1)
    waits: list[WaitInfo] = []
    task = asyncio.create_task(limiter.acquire("m", 1, on_wait=waits.append))
    await asyncio.sleep(1)
    assert waits == [WaitInfo("*", "concurrency", None)]
    held.release()
    (await task).release()


# -- which limits apply ------------------------------------------------------------------------


@virtual
async def test_specific_entry_and_star_both_apply() -> None:
    limiter, clock = make(Limit("*", rpm=60), Limit("openai/*", rpm=6000))
    log: list[tuple[str, float]] = []
    async with asyncio.TaskGroup() as tg:
        for n in range(3):
            tg.create_task(call(limiter, clock, log, f"c{n}"))
    assert [t for _, t in log] == [0.0, 1.0, 2.0]  # the stricter "*" governs
    stats = limiter.statistics()
    assert stats.key("*").requests == 3
    assert stats.key("openai/*").requests == 3


@virtual
async def test_most_specific_entry_wins() -> None:
    limiter, _ = make(
        Limit("openai/*", rpm=10),
        Limit("openai/gpt-4o*", rpm=20),
        Limit("openai/gpt-4o-mini", rpm=30),
        Limit("*", rpm=1000),
    )
    for model in ["openai/gpt-4o-mini", "openai/gpt-4o", "openai/o3"]:
        (await limiter.acquire(model, 1)).release()
    stats = limiter.statistics()
    assert stats.key("openai/gpt-4o-mini").requests == 1
    assert stats.key("openai/gpt-4o*").requests == 1
    assert stats.key("openai/*").requests == 1
    assert stats.key("*").requests == 3


@virtual
async def test_models_matching_one_glob_share_its_bucket() -> None:
    limiter, clock = make(Limit("openai/*", rpm=60))
    log: list[tuple[str, float]] = []
    async with asyncio.TaskGroup() as tg:
        tg.create_task(call(limiter, clock, log, "a", model="openai/gpt-4o"))
        tg.create_task(call(limiter, clock, log, "b", model="openai/o3"))
        tg.create_task(call(limiter, clock, log, "c", model="anthropic/claude"))
    assert dict(log) == {"a": 0.0, "b": 1.0, "c": 0.0}


@virtual
async def test_a_model_without_an_entry_is_unlimited_but_counted() -> None:
    limiter, clock = make(Limit("openai/*", rpm=1))
    for _ in range(50):
        (await limiter.acquire("local/llama", 10)).release()
    assert clock.monotonic() == 0.0
    assert limiter.statistics().key("local/llama").requests == 50


# -- pause, settle, release ----------------------------------------------------------------------


@virtual
async def test_pause_stops_the_models_key_for_everybody() -> None:
    limiter, clock = make(Limit("*", rpm=6000), Limit("openai/*", rpm=6000))
    limiter.pause("openai/gpt-4o", 30)
    waits: list[WaitInfo] = []
    log: list[tuple[str, float]] = []

    async def job(name: str, model: str) -> None:
        async with await limiter.acquire(model, 1, on_wait=waits.append):
            log.append((name, clock.monotonic()))

    assert limiter.statistics().key("openai/*").paused_until == 30.0
    async with asyncio.TaskGroup() as tg:
        tg.create_task(job("same-model", "openai/gpt-4o"))
        tg.create_task(job("same-key", "openai/o3"))
        tg.create_task(job("other", "anthropic/claude"))
    assert dict(log) == {"same-model": 30.0, "same-key": 30.0, "other": 0.0}
    assert waits[0] == WaitInfo("openai/*", "paused", 30.0)
    assert limiter.statistics().key("openai/*").paused_until is None


@virtual
async def test_a_longer_pause_extends_and_a_shorter_one_does_not_shorten() -> None:
    limiter, clock = make()
    limiter.pause("m", 10)
    limiter.pause("m", 5)
    (await limiter.acquire("m", 1)).release()
    assert clock.monotonic() == 10.0


@virtual
async def test_settling_below_the_estimate_lets_the_next_call_go_sooner() -> None:
    limiter, clock = make(Limit("*", tpm=6000))  # 100 per second
    permit = await limiter.acquire("m", 100)
    waiting = asyncio.create_task(limiter.acquire("m", 100))
    await clock.sleep(0.2)
    permit.settle(30)  # 70 back: 20 refilled + 70 = 90, 10 missing
    second = await waiting
    assert clock.monotonic() == pytest.approx(0.3)
    assert limiter.statistics().key("*").tokens == 130
    permit.release()
    second.release()


@virtual
async def test_settling_above_the_estimate_delays_the_next_call() -> None:
    limiter, clock = make(Limit("*", tpm=6000))
    permit = await limiter.acquire("m", 50)
    permit.settle(250)  # 200 over what the bucket held
    permit.release()
    (await limiter.acquire("m", 50)).release()
    assert clock.monotonic() == pytest.approx(2.0)  # debt 150 + 50 needed, at 100/s
    assert permit.tokens == 250


@virtual
async def test_release_is_idempotent() -> None:
    limiter, _ = make(Limit("*", max_concurrent=1))
    permit = await limiter.acquire("m", 1)
    permit.release()
    permit.release()
    async with await limiter.acquire("m", 1) as again:
        assert limiter.statistics().key("*").in_flight == 1
        assert again.tokens == 1
    assert limiter.statistics().key("*").in_flight == 0


@virtual
async def test_cancelled_waiter_takes_nothing_and_does_not_hold_up_the_queue() -> None:
    limiter, clock = make(Limit("*", rpm=60, tpm=600_000))
    first = await limiter.acquire("m", 10)
    doomed = asyncio.create_task(limiter.acquire("m", 10))
    await asyncio.sleep(0)
    after = asyncio.create_task(limiter.acquire("m", 10))
    await clock.sleep(0.5)
    assert limiter.statistics().key("*").waiting == 2
    doomed.cancel()
    second = await after
    assert clock.monotonic() == 1.0  # the slot `doomed` would have had
    stats = limiter.statistics().key("*")
    assert (stats.requests, stats.tokens, stats.waiting, stats.in_flight) == (2, 20, 0, 2)
    assert doomed.cancelled()
    first.release()
    second.release()


@virtual
async def test_cancelled_waiter_for_a_slot_does_not_leak_it() -> None:
    limiter, clock = make(Limit("*", max_concurrent=1))
    held = await limiter.acquire("m", 1)
    doomed = asyncio.create_task(limiter.acquire("m", 1))
    behind = asyncio.create_task(limiter.acquire("m", 1))
    await clock.sleep(1)
    doomed.cancel()
    await asyncio.sleep(0)
    held.release()
    (await behind).release()
    assert limiter.statistics().key("*").in_flight == 0
    with pytest.raises(asyncio.CancelledError):
        await doomed


@virtual
async def test_timeout_while_waiting_leaves_the_limiter_clean() -> None:
    limiter, clock = make(Limit("*", rph=60))  # one a minute
    (await limiter.acquire("m", 1)).release()
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(10):
            await limiter.acquire("m", 1)
    (await limiter.acquire("m", 1)).release()
    assert clock.monotonic() == pytest.approx(60.0)
    assert limiter.statistics().key("*").requests == 2


@virtual
async def test_statistics_count_wait_time_and_waiters() -> None:
    limiter, clock = make(Limit("*", rpm=60))
    async with asyncio.TaskGroup() as tg:
        for _ in range(3):
            tg.create_task(call(limiter, clock, [], "x"))
        await asyncio.sleep(0)
        assert limiter.statistics().key("*").waiting == 2
    stats = limiter.statistics().key("*")
    assert stats.wait_s == pytest.approx(0 + 1 + 2)
    assert stats.waiting == 0
    assert stats.requests == 3


@pytest.mark.parametrize(
    ("limits", "message"),
    [
        ([Limit("*", rpm=0)], "rpm must be positive"),
        ([Limit("*", tpd=-5)], "tpd must be positive"),
        ([Limit("*", max_concurrent=0)], "max_concurrent"),
        ([Limit("a/*", rpm=1), Limit("a/*", rpm=2)], "twice"),
    ],
)
def test_impossible_limits_are_refused(limits: list[Limit], message: str) -> None:
    async def main() -> None:
        RateLimiter(limits, virtual_clock())

    with pytest.raises(ValueError, match=message):
        from agentflow.run.clock import run_virtual

        run_virtual(main())


@virtual
async def test_negative_token_counts_are_refused() -> None:
    limiter, _ = make()
    with pytest.raises(ValueError):
        await limiter.acquire("m", -1)
    permit = await limiter.acquire("m", 1)
    with pytest.raises(ValueError):
        permit.settle(-1)
