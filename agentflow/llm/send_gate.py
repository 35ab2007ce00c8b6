"""Pace how many requests LiteLLM prepares at once, so that a burst reaches the provider in order.

LiteLLM spends one to two milliseconds of CPU preparing each request (building the provider's
payload, the OpenAI SDK's parameter transforms, the HTTP request), spread over several turns
of the event loop. When hundreds of agents start together, asyncio runs those turns round
robin: every request advances a step at a time, and they all reach the wire together at the
end of the burst, the first no sooner than the last. With agents that depend on each other,
each level of the graph then waits for the whole burst of the level before it, and the waits
add up (B3 in docs/PERFORMANCE.md: 100 instances of a 4-level workflow took 1.22 x their
critical path; paced, 1.15 x).

`SendGate` lets at most `size` requests be in preparation at once, first come first served.
A request leaves the gate when it asks the client's connection pool for a connection: the
pool's connector calls `request_reached_pool()`, which finds the request's ticket in a
context variable. The gate can only see that for providers whose LiteLLM handler uses the
client's own pool, so a target (model and endpoint) is paced from the moment one of its
requests is seen reaching the pool; until then, and for providers that never use the pool,
calls pass straight through. A request leaves the gate at the latest when its call ends.

    gate = SendGate(64)
    async with gate.preparing(("openai/gpt-4o-mini", None)):
        response = await litellm.acompletion(...)   # the connector calls request_reached_pool()
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections.abc import AsyncIterator, Hashable
from dataclasses import dataclass

# Requests in preparation at once. At ~1.5 ms each, the last of a full gate reaches the wire
# ~0.1 s after it entered. Measured with a hundred calls at once against a zero-latency
# server (B6): 64 keep 97-99% of the unpaced throughput, 16 only 83% (too few calls left to
# interleave with LiteLLM's worker-thread hops, so the loop idles); on B3, 48 and 64 gave
# 1.14-1.15 x the critical path, 128 1.17 x, unpaced 1.22 x.
MAX_PREPARING = 64


@dataclass(frozen=True, slots=True)
class SendGateStatistics:
    """How the gate has been used: requests preparing now, waiting to start, the most ever
    preparing at once while paced, and the targets that are paced."""

    preparing: int
    waiting: int
    max_preparing: int
    paced_targets: int


class _Ticket:
    __slots__ = ("_gate", "_target", "held")

    def __init__(self, gate: SendGate, target: Hashable) -> None:
        self._gate = gate
        self._target = target
        self.held = False  # True while it occupies one of the gate's places

    def reached_pool(self) -> None:
        self._gate._paced.add(self._target)
        self.release()

    def release(self) -> None:
        if self.held:
            self.held = False
            self._gate._leave()


_CURRENT: contextvars.ContextVar[_Ticket | None] = contextvars.ContextVar(
    "agentflow_send_ticket", default=None
)


def request_reached_pool() -> None:
    """Called by the client's connector: the current request is prepared and about to be sent."""
    ticket = _CURRENT.get()
    if ticket is not None:
        ticket.reached_pool()


class SendGate:
    """At most `size` requests in preparation at once, per target once it is known to be paced.

    Create it inside the event loop that uses it (it holds an `asyncio.Semaphore`).
    """

    def __init__(self, size: int = MAX_PREPARING) -> None:
        if size < 1:
            raise ValueError("a send gate needs room for at least one request")
        self._slots = asyncio.Semaphore(size)
        self._paced: set[Hashable] = set()
        self._preparing = 0
        self._waiting = 0
        self._max_preparing = 0

    def statistics(self) -> SendGateStatistics:
        return SendGateStatistics(
            self._preparing, self._waiting, self._max_preparing, len(self._paced)
        )

    @contextlib.asynccontextmanager
    async def preparing(self, target: Hashable) -> AsyncIterator[None]:
        """Hold a place while the request for `target` is prepared (see the module docstring)."""
        ticket = _Ticket(self, target)
        if target in self._paced:
            self._waiting += 1
            try:
                await self._slots.acquire()
            finally:
                self._waiting -= 1
            ticket.held = True
            self._preparing += 1
            self._max_preparing = max(self._max_preparing, self._preparing)
        token = _CURRENT.set(ticket)
        try:
            yield
        finally:
            _CURRENT.reset(token)
            ticket.release()

    def _leave(self) -> None:
        self._preparing -= 1
        self._slots.release()
