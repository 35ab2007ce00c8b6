"""Which waiting call goes first: urgency, the order of waiters, and the in-flight cap.

When calls wait (for a rate limit or for one of the run's in-flight slots), the one served
next is the one whose workflow matters most now:

    urgency = Urgency(priority=1, start_by=deadline - 42.0, path_s=40.0)
    permit = await limiter.acquire(model, tokens, on_wait, urgency=urgency)

Order among waiters, most urgent first:
    1. aged calls: one that has waited `aging_s` (default 60 s) or more goes before every
       call that has not, oldest first, so nothing starves whatever arrives after it;
    2. higher `priority` (the workflow's `priority:`, default 0);
    3. less slack to the workflow's deadline: the earlier `start_by`, the latest time the
       rest of the call's path can start and still finish by the deadline (the deadline
       minus the expected seconds still ahead, scaled by the latencies observed so far); a
       call with no deadline has infinite slack;
    4. longer `path_s`, the latency-weighted critical path still ahead of the call (its own
       agent included, in the plan's seconds, so that calls queued at different times
       compare alike), so a long chain is not starved by short independent calls;
    5. longer `through_s`, the longest path through the call's agent, work already done
       included: of two calls with as much ahead of them, the one on the workflow's critical
       path (the last step of a long chain rather than one more independent call);
    6. arrival.
With the default `Urgency()` every call ties on 2-4, so the order is first come, first
served. Only the head of a queue may go: a call behind a larger one that does not fit yet
waits, so a small call never overtakes a big one of the same urgency, and aging bounds how
long more urgent calls can keep a big one waiting.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

from agentflow.model.types import Agent

T = TypeVar("T")

DEFAULT_AGING_S = 60.0
"""A call that has waited this long goes before every call that has not."""


@dataclass(frozen=True, slots=True)
class Urgency:
    """How much one call matters now; see the module docstring for the order.

    `start_by` is on the `Clock.monotonic()` time line (None: no deadline); `path_s` is the
    plan's seconds of work still ahead on the call's longest path, `through_s` those of
    the longest path through its agent.
    """

    priority: int = 0
    start_by: float | None = None
    path_s: float = 0.0
    through_s: float = 0.0

    def rank(self) -> tuple[int, float, float, float]:
        """The sort key of a call that has not aged: smaller goes first."""
        start_by = math.inf if self.start_by is None else self.start_by
        return (-self.priority, start_by, -self.path_s, -self.through_s)


NOT_URGENT = Urgency()

# (0 = aged, ...rank..., arrival): smaller goes first.
OrderKey = tuple[int, int, float, float, float, int]


class Entry(Generic[T]):
    """One waiter in a `WaitQueue`."""

    __slots__ = ("arrived", "item", "live", "priority", "rank", "seq")

    def __init__(self, item: T, urgency: Urgency, arrived: float, seq: int) -> None:
        self.item = item
        self.priority = urgency.priority
        self.rank = urgency.rank()
        self.arrived = arrived
        self.seq = seq
        self.live = True

    def order(self, now: float, aging_s: float) -> OrderKey:
        """Where this waiter stands at `now` (smaller goes first)."""
        if now - self.arrived >= aging_s:
            return (0, 0, 0.0, 0.0, 0.0, self.seq)
        return (1, *self.rank, self.seq)

    def __lt__(self, other: Entry[T]) -> bool:  # the heap's order (without aging)
        return (self.rank, self.seq) < (other.rank, other.seq)


class WaitQueue(Generic[T]):
    """Waiters ordered by urgency, with aging; `head(now)` is the one that goes next.

    A heap by rank and a deque by arrival, both with lazy removal: `head` is the oldest
    waiter once it has aged, else the heap's top.
    """

    def __init__(self, aging_s: float = DEFAULT_AGING_S) -> None:
        self.aging_s = aging_s
        self._heap: list[Entry[T]] = []
        self._arrivals: deque[Entry[T]] = deque()
        self._count = 0
        self._by_priority: dict[int, int] = {}

    def __len__(self) -> int:
        return self._count

    def push(self, item: T, urgency: Urgency, now: float, seq: int) -> Entry[T]:
        entry = Entry(item, urgency, now, seq)
        heapq.heappush(self._heap, entry)
        self._arrivals.append(entry)
        self._count += 1
        self._by_priority[entry.priority] = self._by_priority.get(entry.priority, 0) + 1
        return entry

    def remove(self, entry: Entry[T]) -> None:
        if not entry.live:
            return
        entry.live = False
        self._count -= 1
        left = self._by_priority[entry.priority] - 1
        if left:
            self._by_priority[entry.priority] = left
        else:
            del self._by_priority[entry.priority]
        self._trim()

    def head(self, now: float) -> Entry[T] | None:
        if not self._count:
            return None
        oldest = self._arrivals[0]
        if now - oldest.arrived >= self.aging_s:
            return oldest
        return self._heap[0]

    def entries(self) -> Iterator[Entry[T]]:
        """Every live waiter, in arrival order."""
        return (entry for entry in self._arrivals if entry.live)

    def ahead(self, entry: Entry[T], now: float) -> list[Entry[T]]:
        """The waiters that go before `entry` as things stand at `now`."""
        mine = entry.order(now, self.aging_s)
        return [
            other
            for other in self.entries()
            if other is not entry and other.order(now, self.aging_s) < mine
        ]

    def by_priority(self) -> tuple[tuple[int, int], ...]:
        """(priority, waiters) for every priority with waiters, highest priority first."""
        return tuple(sorted(self._by_priority.items(), reverse=True))

    def _trim(self) -> None:
        while self._heap and not self._heap[0].live:
            heapq.heappop(self._heap)
        while self._arrivals and not self._arrivals[0].live:
            self._arrivals.popleft()


@dataclass(frozen=True, slots=True)
class SlotStatistics:
    """The in-flight cap: slots taken, calls waiting, and the waiting calls by priority."""

    capacity: int
    in_use: int
    waiting: int
    waiting_by_priority: tuple[tuple[int, int], ...]


class PrioritySlots:
    """A counting semaphore whose waiters are served by urgency (with aging), not FIFO.

    slots = PrioritySlots(512, clock.monotonic)
    await slots.acquire(urgency)
    try: ...
    finally: slots.release()
    """

    def __init__(
        self, capacity: int, now: Callable[[], float], aging_s: float = DEFAULT_AGING_S
    ) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self._capacity = capacity
        self._free = capacity
        self._now = now
        self._queue: WaitQueue[asyncio.Future[None]] = WaitQueue(aging_s)
        self._arrivals = itertools.count()

    async def acquire(self, urgency: Urgency = NOT_URGENT) -> None:
        if self._free > 0 and not self._queue:
            self._free -= 1
            return
        granted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = self._queue.push(granted, urgency, self._now(), next(self._arrivals))
        try:
            await granted
        except BaseException:
            if granted.done() and not granted.cancelled():
                self.release()  # handed a slot in the same step it was cancelled: give it on
            else:
                self._queue.remove(entry)
            raise

    def release(self) -> None:
        head = self._queue.head(self._now())
        if head is None:
            self._free = min(self._capacity, self._free + 1)
            return
        self._queue.remove(head)
        head.item.set_result(None)  # the slot passes straight to the most urgent waiter

    def statistics(self) -> SlotStatistics:
        return SlotStatistics(
            capacity=self._capacity,
            in_use=self._capacity - self._free,
            waiting=len(self._queue),
            waiting_by_priority=self._queue.by_priority(),
        )


class RemainingPaths:
    """The latency-weighted critical path still ahead of each agent of one workflow.

    `seconds` is the expected duration of each agent (the plan's per-agent latency).
    `planned(agent_id)` is the agent's own expected time plus the longest chain of its
    successors, `through(agent_id)` the longest path through the agent from the start;
    `expected(agent_id)` is the same with every agent's time scaled by
    `factor(model)`, what the run has observed of its model so far (recomputed when a
    model's factor has moved by a quarter since the last time).
    """

    def __init__(
        self,
        levels: tuple[tuple[str, ...], ...],
        successors: Mapping[str, tuple[str, ...]],
        agents: Mapping[str, Agent],
        seconds: Mapping[str, float],
        factor: Callable[[str], float],
    ) -> None:
        self._levels = levels
        self._successors = successors
        self._agents = agents
        self._seconds = seconds
        self._factor = factor
        self._factors: dict[str, float] = {}
        self._remaining: dict[str, float] = {}
        self._planned = self._paths(lambda _model: 1.0)
        self._through = self._through_paths()

    def planned(self, agent_id: str) -> float:
        return self._planned.get(agent_id, 0.0)

    def through(self, agent_id: str) -> float:
        return self._through.get(agent_id, 0.0)

    def expected(self, agent_id: str) -> float:
        if self._stale():
            models = {agent.model for agent in self._agents.values()}
            self._factors = {model: self._factor(model) for model in models}
            self._remaining = self._paths(self._factors.__getitem__)
        return self._remaining.get(agent_id, 0.0)

    def _stale(self) -> bool:
        if not self._remaining:
            return True
        for model, used in self._factors.items():
            now = self._factor(model)
            if abs(now - used) > 0.25 * used:
                return True
        return False

    def _through_paths(self) -> dict[str, float]:
        before: dict[str, float] = {}  # the longest path up to each agent, itself excluded
        for level in self._levels:
            for node in level:
                done = before.get(node, 0.0) + self._seconds.get(node, 0.0)
                for successor in self._successors.get(node, ()):
                    before[successor] = max(before.get(successor, 0.0), done)
        return {node: before.get(node, 0.0) + after for node, after in self._planned.items()}

    def _paths(self, factor: Callable[[str], float]) -> dict[str, float]:
        remaining: dict[str, float] = {}
        for level in reversed(self._levels):
            for node in level:
                own = self._seconds.get(node, 0.0) * factor(self._agents[node].model)
                after = max((remaining[s] for s in self._successors.get(node, ())), default=0.0)
                remaining[node] = own + after
        return remaining


class LatencyObserver:
    """How much slower or faster each model answers than planned, from the run's calls.

    `observe(model, expected_s, observed_s)` after every answer; `factor(model)` is the
    ratio of observed to expected seconds (1.0 before any answer), a running mean.
    """

    def __init__(self) -> None:
        self._sums: dict[str, tuple[float, float]] = {}

    def observe(self, model: str, expected_s: float, observed_s: float) -> None:
        if expected_s <= 0 or observed_s < 0:
            return
        expected, observed = self._sums.get(model, (0.0, 0.0))
        self._sums[model] = (expected + expected_s, observed + observed_s)

    def factor(self, model: str) -> float:
        sums = self._sums.get(model)
        if sums is None or sums[0] <= 0:
            return 1.0
        return max(sums[1] / sums[0], 1e-3)
