"""Helpers for tests that run the engine's async pieces in virtual time.

    @virtual
    async def test_waits_an_hour() -> None:
        clock = virtual_clock()
        await clock.sleep(3600)
        assert clock.monotonic() == 3600.0

The decorated test runs on a fresh `VirtualEventLoop` (see `agentflow.run.clock`), starting
at monotonic time 0.0, so hours of waiting take no real time and every run is identical.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine
from typing import Any

from agentflow.run.clock import run_virtual, virtual_clock

__all__ = ["virtual", "virtual_clock"]


def virtual(test: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Turn an `async def` test into a plain one that runs in virtual time."""

    @functools.wraps(test)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        run_virtual(test(*args, **kwargs))

    return wrapper
