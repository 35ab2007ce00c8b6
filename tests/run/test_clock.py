from __future__ import annotations

import asyncio
import time

import pytest

from agentflow.run.clock import (
    DEFAULT_WALL_START,
    Clock,
    SystemClock,
    VirtualClock,
    VirtualEventLoop,
    VirtualTimeStalled,
    run_virtual,
    virtual_clock,
)

from .virtual_time import virtual


def test_system_clock_reads_real_time() -> None:
    clock: Clock = SystemClock()
    before_wall, before_mono = time.time(), time.monotonic()
    assert abs(clock.wall() - before_wall) < 5
    assert clock.monotonic() >= before_mono


def test_system_clock_sleep_waits_for_real() -> None:
    clock = SystemClock()

    async def main() -> float:
        start = time.monotonic()
        await clock.sleep(0.02)
        return time.monotonic() - start

    assert asyncio.run(main()) >= 0.015


def test_a_day_of_virtual_sleep_takes_no_real_time() -> None:
    async def main() -> tuple[float, float]:
        clock = virtual_clock()
        await clock.sleep(86_400)
        return clock.monotonic(), clock.wall()

    real_start = time.monotonic()
    mono, wall = run_virtual(main())
    assert time.monotonic() - real_start < 1.0
    assert mono == 86_400.0
    assert wall == DEFAULT_WALL_START + 86_400.0


def test_start_and_wall_start_set_the_origin() -> None:
    async def main() -> tuple[float, float]:
        clock = virtual_clock()
        await clock.sleep(10)
        return clock.monotonic(), clock.wall()

    assert run_virtual(main(), start=500.0, wall_start=1_000.0) == (510.0, 1_010.0)


@virtual
async def test_sleepers_wake_in_deadline_order_at_their_virtual_times() -> None:
    clock = virtual_clock()
    woke: list[tuple[str, float]] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append((name, clock.monotonic()))

    async with asyncio.TaskGroup() as tg:
        tg.create_task(sleeper("slow", 7200))
        tg.create_task(sleeper("fast", 0.5))
        tg.create_task(sleeper("mid", 60))
    assert woke == [("fast", 0.5), ("mid", 60.0), ("slow", 7200.0)]


@virtual
async def test_asyncio_timeout_uses_virtual_time() -> None:
    clock = virtual_clock()
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(30):
            await clock.sleep(3600)
    assert clock.monotonic() == 30.0


@virtual
async def test_callbacks_take_no_virtual_time() -> None:
    clock = virtual_clock()
    before = clock.monotonic()
    sum(range(200_000))  # real work
    await asyncio.sleep(0)
    assert clock.monotonic() == before


@virtual
async def test_negative_sleep_returns_at_once() -> None:
    clock = virtual_clock()
    await clock.sleep(-5)
    assert clock.monotonic() == 0.0


@virtual
async def test_real_io_from_a_thread_still_completes() -> None:
    result = await asyncio.to_thread(lambda: 41 + 1)
    assert result == 42


def test_a_deadlock_raises_instead_of_hanging() -> None:
    async def main() -> None:
        await asyncio.get_running_loop().create_future()  # nobody will ever resolve it

    start = time.monotonic()
    with pytest.raises(VirtualTimeStalled):
        run_virtual(main(), stall_timeout=0.05)
    assert time.monotonic() - start < 5


def test_virtual_clock_refuses_an_ordinary_loop() -> None:
    async def main() -> VirtualClock:
        return virtual_clock()

    with pytest.raises(RuntimeError, match="VirtualEventLoop"):
        asyncio.run(main())


def test_loop_reports_its_virtual_time() -> None:
    loop = VirtualEventLoop(start=12.5)
    try:
        assert loop.time() == 12.5
        assert loop.clock.monotonic() == 12.5
    finally:
        loop.close()
