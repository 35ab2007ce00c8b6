"""Time, injected: the `Clock` the engine reads, the real one, and virtual time for tests.

The engine never calls `time.monotonic()`, `time.time()` or `asyncio.sleep()` itself; it is
given a `Clock`. Production uses `SystemClock`. Tests use virtual time, which makes hours of
simulated waiting finish instantly and identically on every run:

    from agentflow.run.clock import run_virtual, virtual_clock

    async def scenario() -> float:
        clock = virtual_clock()            # the Clock of the running virtual loop
        start = clock.monotonic()
        await clock.sleep(3600)            # returns at once in real time
        async with asyncio.timeout(30):    # asyncio timeouts use virtual time too
            ...
        return clock.monotonic() - start

    elapsed = run_virtual(scenario())      # exactly 3600.0 plus whatever the body waited

How it works: `VirtualEventLoop` is an ordinary selector event loop whose `time()` is a
counter. Whenever the loop has nothing ready to run and would block until its next timer,
its selector first polls for real I/O without blocking and, if there is none, moves the
counter forward to that timer instead of sleeping. So `asyncio.sleep`, `asyncio.timeout`,
`loop.call_later` and libraries that read `loop.time()` all see the same virtual time, and
callbacks take no virtual time at all. Real I/O (sockets, `asyncio.to_thread`) still works,
but virtual time does not wait for it: a timer due "later" fires before a thread that needs
a few real milliseconds finishes. Keep virtual-time tests free of real I/O.

When nothing is scheduled at all and no I/O arrives for `stall_timeout` real seconds, the
loop raises `VirtualTimeStalled` instead of hanging: in a test that is a deadlock.
"""

from __future__ import annotations

import asyncio
import selectors
import time
from collections.abc import Coroutine, Mapping
from typing import Any, Protocol, TypeVar

T = TypeVar("T")

DEFAULT_WALL_START = 1_767_225_600.0  # 2026-01-01T00:00:00Z, so virtual runs log fixed dates


class Clock(Protocol):
    """The time source the engine is given.

    `monotonic()` measures intervals (seconds, arbitrary origin); `wall()` is epoch seconds
    for timestamps people read; `sleep()` waits on the same time line as `monotonic()`.
    """

    def monotonic(self) -> float: ...

    def wall(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock: `time.monotonic()`, `time.time()` and `asyncio.sleep()`."""

    __slots__ = ()

    def monotonic(self) -> float:
        return time.monotonic()

    def wall(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class VirtualTimeStalled(RuntimeError):
    """Raised by a `VirtualEventLoop` when nothing is scheduled and no I/O arrives: a deadlock."""


class _VirtualSelector(selectors.BaseSelector):
    """A selector that advances virtual time instead of blocking until the next timer."""

    def __init__(self, loop: VirtualEventLoop, stall_timeout: float | None) -> None:
        self._inner = selectors.DefaultSelector()
        self._loop = loop
        self._stall_timeout = stall_timeout

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._inner.register(fileobj, events, data)

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        return self._inner.unregister(fileobj)

    def modify(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._inner.modify(fileobj, events, data)

    def get_map(self) -> Mapping[Any, selectors.SelectorKey]:
        return self._inner.get_map()

    def close(self) -> None:
        self._inner.close()

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready = self._inner.select(0)
        if ready or (timeout is not None and timeout <= 0):
            return ready
        if timeout is None:
            # No timer at all: only real I/O (a thread finishing, a socket) can wake us.
            ready = self._inner.select(self._stall_timeout)
            if not ready and self._stall_timeout is not None:
                raise VirtualTimeStalled(
                    "virtual time stalled: no task can make progress (nothing scheduled and "
                    f"no I/O for {self._stall_timeout} s); this is a deadlock"
                )
            return ready
        self._loop._advance(timeout)
        return []


class VirtualEventLoop(asyncio.SelectorEventLoop):
    """An event loop whose `time()` is virtual and jumps forward whenever the loop is idle.

    `start` is the initial value of `time()` (and of `clock.monotonic()`); `wall_start` is
    the epoch time `clock.wall()` reports at that instant.
    """

    def __init__(
        self,
        *,
        start: float = 0.0,
        wall_start: float = DEFAULT_WALL_START,
        stall_timeout: float | None = 10.0,
    ) -> None:
        self._virtual_now = float(start)
        super().__init__(_VirtualSelector(self, stall_timeout))
        self.clock = VirtualClock(self, start=start, wall_start=wall_start)

    def time(self) -> float:
        return self._virtual_now

    def _advance(self, seconds: float) -> None:
        # Never let a positive step vanish in rounding: the timer must become due.
        target = self._virtual_now + seconds
        self._virtual_now = max(target, self._virtual_now)


class VirtualClock:
    """The `Clock` of a `VirtualEventLoop`; sleeping on it takes no real time."""

    __slots__ = ("_loop", "_offset")

    def __init__(self, loop: VirtualEventLoop, *, start: float, wall_start: float) -> None:
        self._loop = loop
        self._offset = wall_start - start

    def monotonic(self) -> float:
        return self._loop.time()

    def wall(self) -> float:
        return self._offset + self._loop.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


def virtual_clock() -> VirtualClock:
    """The clock of the running `VirtualEventLoop` (raises `RuntimeError` on any other loop)."""
    loop = asyncio.get_running_loop()
    if not isinstance(loop, VirtualEventLoop):
        raise RuntimeError("virtual_clock() needs a running VirtualEventLoop (see run_virtual)")
    return loop.clock


def run_virtual(
    main: Coroutine[Any, Any, T],
    *,
    start: float = 0.0,
    wall_start: float = DEFAULT_WALL_START,
    stall_timeout: float | None = 10.0,
) -> T:
    """Run `main` to completion on a fresh `VirtualEventLoop`, like `asyncio.run`."""

    def factory() -> asyncio.AbstractEventLoop:
        return VirtualEventLoop(start=start, wall_start=wall_start, stall_timeout=stall_timeout)

    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main)
