"""Rate limits shared by every process that names one Redis (`--state redis://...`).

The same `limits:` semantics as `agentflow.run.limits.RateLimiter` (which entries govern a
model, token buckets per tier, `burst`, oversized calls in debt, 429 pauses), with the
buckets, the pauses and the `max_concurrent` slots kept in Redis under the entry's key, so
`"*"` in four processes is one limit:

    lua/limits_acquire.lua   checks every tier of every key and takes them all, or says how
                             long to wait (one atomic call, Redis TIME as the clock)
    lua/limits_settle.lua    refunds or debits tokens after the call, frees its slot,
                             pauses keys after a 429 (for everybody)

Slots are leased (`lease_s`): a crashed process's slots come back after the lease.

Waiting stays local: which of this process's calls asks Redis next is decided by
`_LocalQueue` (first come, first served per limits key), and only the head of each queue
polls Redis, sleeping for the wait the script computed. `Permit.settle()` and `release()`
are synchronous in the `Limiter` protocol, so they go to an outbox that one task of the
limiter sends to Redis in order (`aclose()` drains it).

When Redis cannot be reached, the limiter says so once (`warn`) and limits locally from
then on, with an in-process `RateLimiter` of the same limits: work goes on, each process
within the declared limits on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Self, cast

from agentflow.errors import SharedStateUnreachable, StateError
from agentflow.llm.hints import RateLimitHints
from agentflow.model.types import Limit
from agentflow.run.adaptive import Adjustment
from agentflow.run.clock import Clock
from agentflow.run.limits import (
    KeyStatistics,
    LimiterStatistics,
    Permit,
    RateLimiter,
    WaitInfo,
    WaitReason,
    _Key,
)
from agentflow.run.priority import NOT_URGENT, PrioritySlots, Urgency
from agentflow.state.redis_conn import RedisConnection, ScriptArg

_LUA = Path(__file__).with_name("lua")
DEFAULT_LEASE_S = 600.0
# A call waiting for a slot polls this often (a slot freed elsewhere sends no signal).
_SLOT_POLL_S = 0.05
# A head of queue re-asks at least this often, so a refund elsewhere is noticed.
_MAX_SLEEP_S = 1.0


class _LocalQueue:
    """Which of this process's calls asks Redis next, per limits key: the most urgent
    (see agentflow/run/priority.py; with no urgency given, arrival order).

    The one place that decides local waiting order.
    """

    def __init__(self, now: Callable[[], float]) -> None:
        self._now = now
        self._turns: dict[str, PrioritySlots] = {}

    @contextlib.asynccontextmanager
    async def turn(self, key: str, urgency: Urgency) -> AsyncIterator[None]:
        slots = self._turns.get(key)
        if slots is None:
            slots = self._turns[key] = PrioritySlots(1, self._now)
        await slots.acquire(urgency)
        try:
            yield
        finally:
            slots.release()


class _Counts:
    __slots__ = ("in_flight", "requests", "tokens", "wait_s", "waiting")

    def __init__(self) -> None:
        self.waiting = 0
        self.in_flight = 0
        self.requests = 0
        self.tokens = 0
        self.wait_s = 0.0


class _RedisPermit:
    __slots__ = ("_args", "_charged", "_id", "_keys", "_limiter", "_released")

    def __init__(
        self,
        limiter: RedisLimiter,
        permit_id: str,
        keys: list[str],
        tiers: list[ScriptArg],
        tokens: int,
    ) -> None:
        self._limiter = limiter
        self._id = permit_id
        self._keys = keys
        self._args = tiers
        self._charged = tokens
        self._released = False

    @property
    def tokens(self) -> int:
        return self._charged

    def settle(self, actual_tokens: int) -> None:
        if actual_tokens < 0:
            raise ValueError(f"actual_tokens must not be negative, got {actual_tokens}")
        difference = actual_tokens - self._charged
        self._charged = actual_tokens
        if difference:
            self._limiter._send(self._keys, [self._id, difference, 0, 0, *self._args])

    def report(self, hints: RateLimitHints | None, *, throttled: bool) -> Adjustment | None:
        """Shared limits run at what `limits:` declares: a provider's headers tune the
        in-process limiter of one run (adaptive.py), not a limit shared by many."""
        return None

    def release(self) -> None:
        if not self._released:
            self._released = True
            self._limiter._released(self._keys, [self._id, 0, 1, 0, *self._args])

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


class RedisLimiter:
    """A `Limiter` whose state is in Redis; see the module docstring. Create it in the loop."""

    def __init__(
        self,
        redis: RedisConnection,
        limits: Sequence[Limit],
        clock: Clock,
        *,
        warn: Callable[[str], None],
        lease_s: float = DEFAULT_LEASE_S,
    ) -> None:
        self._redis = redis
        self._clock = clock
        self._warn = warn
        self._lease_s = lease_s
        # The in-process limiter resolves which entries govern a model (the same rules),
        # and is the fallback when Redis cannot be reached.
        self._local = RateLimiter(limits, clock)
        self._fallen_back = False
        self._acquire = redis.script(_LUA / "limits_acquire.lua")
        self._settle = redis.script(_LUA / "limits_settle.lua")
        self._queue = _LocalQueue(clock.monotonic)
        self._counts: dict[str, _Counts] = {}
        self._ids = itertools.count()
        self._prefix = f"{os.getpid()}-{id(self):x}-"
        self._outbox: list[tuple[list[str], list[ScriptArg]]] = []
        self._outbox_ready = asyncio.Event()
        self._sender: asyncio.Task[None] | None = None
        self._closing = False

    # -- the protocol ----------------------------------------------------------------------

    async def acquire(
        self,
        model: str,
        tokens: int,
        on_wait: Callable[[WaitInfo], None] | None = None,
        *,
        urgency: Urgency = NOT_URGENT,
    ) -> Permit:
        """Wait until every limit for `model` admits one call of `tokens` tokens."""
        if tokens < 0:
            raise ValueError(f"tokens must not be negative, got {tokens}")
        if self._fallen_back:
            return await self._local.acquire(model, tokens, on_wait, urgency=urgency)
        governing = self._governing(model)
        names = [key.name for key in governing]
        keys = [k for key in governing for k in _redis_keys(key.name)]
        tiers = _tier_args(governing)
        counts = [self._count(name) for name in names]
        for count in counts:
            count.waiting += 1
        started = self._clock.monotonic()
        reported = on_wait is None
        permit_id = f"{self._prefix}{next(self._ids)}"
        try:
            async with self._queue.turn(names[0], urgency):
                while True:
                    reply = await self._redis.run(
                        self._acquire,
                        keys=keys,
                        args=[permit_id, self._lease_s, tokens, *_acquire_args(governing)],
                    )
                    if int(reply[0]) == 1:
                        break
                    wait = float(reply[1])
                    if not reported and on_wait is not None:
                        reported = True
                        reason = cast(WaitReason, str(reply[3]))
                        key = names[int(reply[2]) - 1]
                        on_wait(WaitInfo(key, reason, wait if wait >= 0 else None))
                    await self._clock.sleep(_SLOT_POLL_S if wait < 0 else min(wait, _MAX_SLEEP_S))
        except SharedStateUnreachable as exc:
            self._fall_back(exc)
            return await self._local.acquire(model, tokens, on_wait, urgency=urgency)
        finally:
            for count in counts:
                count.waiting -= 1
        waited = self._clock.monotonic() - started
        for count in counts:
            count.in_flight += 1
            count.requests += 1
            count.tokens += tokens
            count.wait_s += waited
        self._ensure_sender()
        return _RedisPermit(self, permit_id, keys, tiers, tokens)

    def pause(self, model: str, seconds: float) -> None:
        """Stop admitting calls on `model`'s key for `seconds`, in every process."""
        self._local.pause(model, seconds)
        if self._fallen_back:
            return
        primary = self._governing(model)[0]
        self._send(list(_redis_keys(primary.name)), ["", 0, 0, seconds, 0])

    def statistics(self) -> LimiterStatistics:
        """This process's view: its calls waiting and in flight, per limits key."""
        if self._fallen_back:
            return self._local.statistics()
        return LimiterStatistics(
            tuple(
                KeyStatistics(
                    key=name,
                    waiting=c.waiting,
                    in_flight=c.in_flight,
                    max_concurrent=None,
                    requests=c.requests,
                    tokens=c.tokens,
                    wait_s=c.wait_s,
                    paused_until=None,
                )
                for name, c in self._counts.items()
            )
        )

    async def aclose(self) -> None:
        """Send what the outbox holds (settles, releases, pauses), then stop its task."""
        # Not cancelled: redis-py may swallow a cancel that arrives mid-command, so the task
        # is told to stop and ends after its last send.
        sender, self._sender = self._sender, None
        self._closing = True
        self._outbox_ready.set()
        if sender is not None:
            await sender
        await self._drain()
        self._closing = False

    # -- inside ----------------------------------------------------------------------------

    def _governing(self, model: str) -> list[_Key]:
        primary, shared = self._local._keys_for(model)
        return [primary] if shared is None else [primary, shared]

    def _count(self, name: str) -> _Counts:
        count = self._counts.get(name)
        if count is None:
            count = self._counts[name] = _Counts()
        return count

    def _fall_back(self, exc: SharedStateUnreachable) -> None:
        if not self._fallen_back:
            self._fallen_back = True
            self._warn(f"{exc}; rate limits fall back to this process alone")

    def _released(self, keys: list[str], args: list[ScriptArg]) -> None:
        for index in range(0, len(keys), 2):
            name = keys[index].removeprefix(RedisConnection.key("limit", ""))
            count = self._counts.get(name)
            if count is not None:
                count.in_flight -= 1
        self._send(keys, args)

    def _send(self, keys: list[str], args: list[ScriptArg]) -> None:
        if self._fallen_back:
            return
        self._outbox.append((keys, args))
        self._outbox_ready.set()
        self._ensure_sender()

    def _ensure_sender(self) -> None:
        if not self._closing and (self._sender is None or self._sender.done()):
            self._sender = asyncio.get_running_loop().create_task(self._send_loop())

    async def _send_loop(self) -> None:
        while not self._closing:
            await self._outbox_ready.wait()
            await self._drain()

    async def _drain(self) -> None:
        self._outbox_ready.clear()
        while self._outbox and not self._fallen_back:
            # Everything queued goes out at once: one pipeline, in order (RedisConnection.run).
            sends, self._outbox = _coalesced(self._outbox), []
            replies = await asyncio.gather(
                *(self._redis.run(self._settle, keys=keys, args=args) for keys, args in sends),
                return_exceptions=True,
            )
            for reply in replies:
                if isinstance(reply, SharedStateUnreachable):
                    self._fall_back(reply)  # the leases give the slots back
                elif isinstance(reply, StateError):
                    self._warn(str(reply))
                elif isinstance(reply, BaseException):
                    raise reply


def _coalesced(
    sends: list[tuple[list[str], list[ScriptArg]]],
) -> list[tuple[list[str], list[ScriptArg]]]:
    """The outbox with each permit's settles and release, queued together, as one call (a
    call's answer settles its tokens and frees its slot in the same turn): a script call
    fewer per model call. Pauses (no permit) stay as they are, in their place."""
    out: list[tuple[list[str], list[ScriptArg]]] = []
    at: dict[ScriptArg, int] = {}
    for keys, args in sends:
        permit = args[0]
        index = at.get(permit) if permit else None
        if index is None:
            if permit:
                at[permit] = len(out)
            out.append((keys, list(args)))
            continue
        merged = out[index][1]
        merged[1] = int(merged[1]) + int(args[1])  # token differences add up
        merged[2] = max(int(merged[2]), int(args[2]))  # freed once, by either
    return out


def _redis_keys(name: str) -> tuple[str, str]:
    base = RedisConnection.key("limit", name)
    return base, base + ":slots"


def _tier_list(key: _Key) -> list[ScriptArg]:
    out: list[ScriptArg] = []
    for bucket in key.buckets:
        out += [bucket.name, repr(bucket.rate), repr(bucket.capacity)]
    return out


def _acquire_args(keys: Sequence[_Key]) -> list[ScriptArg]:
    out: list[ScriptArg] = []
    for key in keys:
        out += [key.max_concurrent or 0, len(key.buckets), *_tier_list(key)]
    return out


def _tier_args(keys: Sequence[_Key]) -> list[ScriptArg]:
    out: list[ScriptArg] = []
    for key in keys:
        out += [len(key.buckets), *_tier_list(key)]
    return out
