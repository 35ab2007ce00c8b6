"""Rate limits per model key: requests and tokens per minute, hour and day, and concurrency.

The engine asks for a `Permit` before every model call and gives it back afterwards:

    limiter = RateLimiter(workflow.limits, clock)       # inside the running event loop
    permit = await limiter.acquire(agent.model, estimated_tokens, on_wait=emit_wait_event)
    try:
        response = await client.complete(...)
        permit.settle(response.usage.total_tokens)     # refund or extra debit
    except RateLimited as error:
        limiter.pause(agent.model, error.retry_after or 1.0)
        raise
    finally:
        permit.release()                               # frees the concurrency slot

Which limits apply
    `limits:` entries are keyed by "*", a glob ("openai/*") or an exact model name. A model
    is governed by its most specific matching non-"*" entry (an exact name beats any glob;
    among globs, the one with more literal characters; then the one declared first) AND by
    the "*" entry, if any: both must admit the call. State (buckets, queue, slots, pause)
    belongs to the entry, so every model matching "openai/*" shares that entry's limits. A
    model matching no entry gets a key of its own with no limits, which still counts its
    calls and can be paused by a 429.

Buckets
    A limit of N per window W (rpm/tpm: 60 s, rph/tph: 3600 s, rpd/tpd: 86400 s) is a token
    bucket refilling N/W per second, evenly, starting full:
    - request buckets hold `burst` requests (default one second's worth, at least 1), so an
      hourly or daily allowance never goes out at once;
    - token buckets hold one second's worth of tokens (at least 1); `burst` counts requests
      and does not size them.
    Any interval of length W therefore admits at most N + capacity.

Late wake-ups
    A call waiting for a request bucket sleeps until the bucket will hold one request, and
    the event loop wakes it late: by its timer's granularity (about a millisecond), by
    other work in the loop, by a busy machine. A bucket capped at its capacity loses that
    lateness every time; with `burst: 1` under a saturating load every call loses it, and
    a few milliseconds a call is several percent of the rate. So while a call waits on a
    request bucket, the bucket may fill past its capacity by `_lag_allowance` (the
    lateness of `LAG_S` at its rate, at most `LAG_SHARE` of a request and less than half
    the way to the next whole request): a call woken late is admitted on the bucket's
    schedule, not the loop's, and the next one is due as if it had been on time. An
    idle bucket never holds more than its capacity. Two calls can then be admitted up to
    the allowance closer together than 1/rate, but since the allowance is below a whole
    request, the whole number of calls any interval of length W (or any whole number of
    seconds, at a whole rate per second) admits is unchanged: N + capacity at most.

Requests larger than a bucket
    A call needing more tokens than a token bucket holds (4,000 tokens against tpm 60,000,
    which holds 1,000) would never fit. Rule: such a call waits until the bucket is full,
    then is admitted and leaves the bucket in debt (negative); later calls wait while the
    debt is repaid at the bucket's rate. So a big call is never impossible and never
    deadlocks, the long-run rate stays N/W, and any window of length W admits at most
    N + max(capacity, the largest single call): the capacity is in effect "at least the
    largest request". `Permit.settle()` debits or refunds the difference between the
    estimate and the actual usage the same way (a refund never fills a bucket past its
    capacity).

Waiting
    In order of urgency (`agentflow.run.priority`): aged calls first, then the workflow's
    priority, slack to its deadline, remaining critical path, then arrival; with no
    `urgency=` every call ties and the order is first come, first served. Within a model's
    own key, only the most urgent waiter may go. In "*", shared by every key, calls go in
    that order among those their own key would admit now: a call still held up by its own
    key (paused, out of budget in its bucket, queued behind its own key's calls) does not
    hold up other providers' calls in "*", but as soon as its own key admits it, no less
    urgent call takes "*" capacity before it. So a big call is never overtaken by smaller
    ones of the same urgency, more urgent ones overtake it only until it has aged, and one
    paused provider does not stall the rest.
    Nothing is debited until every bucket, the pause and a `max_concurrent` slot admit the
    call at once. A call cancelled while waiting leaves its queue without having taken
    anything and wakes whoever is next. `pause(model, s)` (a 429's Retry-After) stops that
    model's key (not "*") for everybody until then; calls in flight are not affected.

Why not aiolimiter
    aiolimiter's `AsyncLimiter` is the project's usual limiter, but it does not hold these
    properties, so the buckets are written here: (1) its waiters are a heap ordered by
    amount, so small token requests overtake a large one indefinitely; (2) its capacity is
    the whole `max_rate`, so rph 20,000 admits 20,000 calls at once (rescaling max_rate and
    the period would fix only this); (3) it cannot give capacity back, so estimates cannot
    be settled and a call cancelled between two limiters leaks what it took from the first;
    (4) a call must pass several buckets and a semaphore atomically and in one FIFO order,
    which chained limiters cannot do; (5) it reads the event loop's clock rather than the
    injected `Clock`.

The engine depends only on the `Limiter` and `Permit` protocols, small enough for a
Redis-backed implementation shared by many processes to replace `RateLimiter`.
"""

from __future__ import annotations

import asyncio
import fnmatch
import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Literal, Protocol, Self

from agentflow.llm.hints import RateLimitHints
from agentflow.model.types import Limit
from agentflow.run.adaptive import AdaptiveControl, Adjustment
from agentflow.run.clock import Clock
from agentflow.run.priority import (
    DEFAULT_AGING_S,
    NOT_URGENT,
    Entry,
    OrderKey,
    Urgency,
    WaitQueue,
)

WaitReason = Literal["rpm", "rph", "rpd", "tpm", "tph", "tpd", "concurrency", "paused"]

WINDOWS: tuple[tuple[Literal["rpm", "rph", "rpd", "tpm", "tph", "tpd"], float], ...] = (
    ("rpm", 60.0),
    ("rph", 3600.0),
    ("rpd", 86400.0),
    ("tpm", 60.0),
    ("tph", 3600.0),
    ("tpd", 86400.0),
)

# Levels within this many units of the need count as enough, so float rounding can never
# leave a call waiting for a vanishingly small remainder.
# Waiters ahead counted one by one for a wait estimate; past this, all of the key's count.
_EXACT_AHEAD = 512
_EPSILON = 1e-9

LAG_S = 0.05
"""The lateness of a waiting call's wake-up that a request bucket does not lose ("Late
wake-ups" above)..."""
LAG_SHARE = 0.25
"""...as long as it is worth at most this share of one request at the bucket's rate."""


@dataclass(frozen=True, slots=True)
class WaitInfo:
    """Why a call has to wait, reported once before it waits.

    `key` is the limits entry that holds it up, `reason` the limit, `expected_wait_s` the
    estimated wait from the bucket levels and the calls queued ahead, or None when it
    depends on calls finishing (concurrency).
    """

    key: str
    reason: WaitReason
    expected_wait_s: float | None


@dataclass(frozen=True, slots=True)
class KeyStatistics:
    """The state of one limits key."""

    key: str
    waiting: int
    in_flight: int
    max_concurrent: int | None
    requests: int
    tokens: int
    wait_s: float
    paused_until: float | None
    # (priority, calls waiting) for each workflow priority with waiters, highest first
    waiting_by_priority: tuple[tuple[int, int], ...] = ()
    # adaptive limits (agentflow.run.adaptive): the effective rate and concurrency now
    effective_rpm: float | None = None
    effective_tpm: float | None = None
    effective_concurrency: int | None = None


@dataclass(frozen=True, slots=True)
class LimiterStatistics:
    """A snapshot of every key: declared entries first, then models with no entry."""

    keys: tuple[KeyStatistics, ...]

    def key(self, name: str) -> KeyStatistics:
        for stats in self.keys:
            if stats.key == name:
                return stats
        raise KeyError(name)


class Permit(Protocol):
    """Admission for one call: settle its token count, then release its slot."""

    @property
    def tokens(self) -> int: ...

    def settle(self, actual_tokens: int) -> None: ...

    def release(self) -> None: ...

    def report(self, hints: RateLimitHints | None, *, throttled: bool) -> Adjustment | None: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class Limiter(Protocol):
    """What the engine needs from a rate limiter (in-process now, Redis-backed later)."""

    async def acquire(
        self,
        model: str,
        tokens: int,
        on_wait: Callable[[WaitInfo], None] | None = None,
        *,
        urgency: Urgency = NOT_URGENT,
    ) -> Permit: ...

    def pause(self, model: str, seconds: float) -> None: ...

    def statistics(self) -> LimiterStatistics: ...


def _lag_allowance(rate: float, capacity: float) -> float:
    """How far past its capacity a request bucket with a call waiting on it may fill.

    Enough to absorb `LAG_S` of lateness at `rate`, at most `LAG_SHARE` of one request,
    and less than half the way from `capacity` to the next whole request, so that the
    whole number of calls any interval admits is the same as without it.
    """
    return min(LAG_SHARE, LAG_S * rate, (math.floor(capacity) + 1.0 - capacity) / 2.0)


class _Bucket:
    __slots__ = ("awaited", "capacity", "is_tokens", "lag", "level", "name", "rate", "updated")

    def __init__(self, name: WaitReason, rate: float, capacity: float, now: float) -> None:
        self.name: WaitReason = name
        self.is_tokens = name.startswith("t")
        self.rate = rate
        self.capacity = capacity
        self.level = capacity
        self.updated = now
        # the lateness allowance, used only while a call waits on the bucket (see the
        # module docstring, "Late wake-ups"); token buckets absorb lateness in their capacity
        self.lag = 0.0 if self.is_tokens else _lag_allowance(rate, capacity)
        self.awaited = False

    def refill(self, now: float) -> None:
        if now > self.updated:
            top = self.capacity + self.lag if self.awaited else self.capacity
            self.level = min(top, self.level + (now - self.updated) * self.rate)
        self.updated = max(self.updated, now)

    def amount(self, tokens: int) -> float:
        return float(tokens) if self.is_tokens else 1.0

    def delay(self, amount: float, now: float) -> float:
        """Seconds until this bucket admits `amount` (0.0 if it does now)."""
        self.refill(now)
        need = min(amount, self.capacity)  # an oversized call needs a full bucket
        missing = need - self.level
        if missing <= _EPSILON * max(1.0, need):
            return 0.0
        self.awaited = True  # the first call of a queue waits on it from now
        return missing / self.rate


class _Waiter:
    __slots__ = ("entry", "keys", "primary", "priority", "shared", "tokens", "wakeup")

    def __init__(self, primary: _Key, shared: _Key | None, tokens: int, priority: int) -> None:
        self.primary = primary
        self.shared = shared
        self.keys = (primary,) if shared is None else (primary, shared)
        self.tokens = tokens
        self.priority = priority
        self.entry: Entry[_Waiter] | None = None
        self.wakeup: asyncio.Future[None] | None = None

    def wake(self) -> None:
        if self.wakeup is not None and not self.wakeup.done():
            self.wakeup.set_result(None)


class _Key:
    __slots__ = (
        "adaptive",
        "buckets",
        "in_flight",
        "max_concurrent",
        "name",
        "paused_until",
        "queue",
        "requests",
        "tokens",
        "wait_s",
        "waiting",
        "waiting_by_priority",
        "waiting_tokens",
    )

    def __init__(
        self, name: str, limit: Limit | None, now: float, aging_s: float, probe: bool = False
    ) -> None:
        self.name = name
        self.buckets: tuple[_Bucket, ...] = _buckets(limit, now) if limit else ()
        self.max_concurrent = limit.max_concurrent if limit else None
        if self.max_concurrent is not None and self.max_concurrent < 1:
            raise ValueError(f"limits[{name!r}].max_concurrent must be at least 1")
        self.queue: WaitQueue[_Waiter] = WaitQueue(aging_s)  # calls governed by this key
        self.waiting = 0  # calls waiting that need this key (for "*": every waiting call)
        self.waiting_tokens = 0  # their estimated tokens
        self.waiting_by_priority: dict[int, int] = {}
        self.in_flight = 0
        self.paused_until = float("-inf")
        self.requests = 0
        self.tokens = 0
        self.wait_s = 0.0
        self.adaptive: AdaptiveControl | None = None
        if name != "*":
            self.adaptive = _adaptive(limit, probe)


def _adaptive(limit: Limit | None, probe: bool) -> AdaptiveControl:
    """The adaptive control of a model key, below what `limit` declares; `probe`: hold a
    key without declared rates back until its provider has answered (see adaptive.py)."""
    if limit is None:
        return AdaptiveControl(
            declared_rps=None, declared_tps=None, declared_concurrency=None, probe=probe
        )
    rates = {
        name: getattr(limit, name) / window for name, window in WINDOWS if getattr(limit, name)
    }
    rps = min((v for k, v in rates.items() if k.startswith("r")), default=None)
    tps = min((v for k, v in rates.items() if k.startswith("t")), default=None)
    return AdaptiveControl(
        declared_rps=rps,
        declared_tps=tps,
        declared_concurrency=limit.max_concurrent,
        probe=probe and rps is None and tps is None,
    )


def _buckets(limit: Limit, now: float) -> tuple[_Bucket, ...]:
    buckets = []
    for name, window in WINDOWS:
        allowance = getattr(limit, name)
        if allowance is None:
            continue
        if allowance <= 0:
            raise ValueError(f"limits[{limit.key!r}].{name} must be positive, got {allowance}")
        rate = allowance / window
        if name.startswith("r") and limit.burst is not None:
            capacity = max(1.0, float(limit.burst))
        else:
            capacity = max(1.0, rate)
        buckets.append(_Bucket(name, rate, capacity, now))
    return tuple(buckets)


def _specificity(key: str, order: int) -> tuple[int, int, int]:
    is_exact = not any(ch in key for ch in "*?[")
    literal = sum(ch not in "*?[]" for ch in key)
    return (1 if is_exact else 0, literal, -order)


class _LocalPermit:
    __slots__ = ("_admitted", "_charged", "_keys", "_limiter", "_released")

    def __init__(
        self,
        limiter: RateLimiter,
        keys: tuple[_Key, ...],
        tokens: int,
        admitted: tuple[float, tuple[int, int]],
    ) -> None:
        self._limiter = limiter
        self._keys = keys
        self._charged = tokens
        self._released = False
        self._admitted = admitted  # when, and (calls, tokens) admitted on the key before

    @property
    def tokens(self) -> int:
        """The tokens currently charged for this call (the estimate until settled)."""
        return self._charged

    def settle(self, actual_tokens: int) -> None:
        """Charge `actual_tokens` instead of the estimate: refund or debit the difference."""
        if actual_tokens < 0:
            raise ValueError(f"actual_tokens must not be negative, got {actual_tokens}")
        difference = actual_tokens - self._charged
        self._charged = actual_tokens
        if difference:
            self._limiter._adjust(self._keys, difference)

    def release(self) -> None:
        """Free the concurrency slot; calling it again does nothing."""
        if not self._released:
            self._released = True
            self._limiter._release(self._keys)

    def report(self, hints: RateLimitHints | None, *, throttled: bool) -> Adjustment | None:
        """Tell the key's adaptive control how the call went (headers; a 429 or not)."""
        return self._limiter._observe(self._keys[0], hints, throttled, *self._admitted)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


class RateLimiter:
    """In-process limiter for `limits:` entries; create it inside the running loop.

    See the module docstring for the exact semantics.
    """

    def __init__(
        self,
        limits: Sequence[Limit],
        clock: Clock,
        *,
        aging_s: float = DEFAULT_AGING_S,
        probe: bool = False,
    ) -> None:
        self._clock = clock
        self._aging_s = aging_s
        self._probe = probe
        now = clock.monotonic()
        self._declared: list[tuple[Limit, _Key, tuple[int, int, int]]] = []
        self._star: _Key | None = None
        seen: set[str] = set()
        for order, limit in enumerate(limits):
            if limit.key in seen:
                raise ValueError(f"limits has {limit.key!r} twice")
            seen.add(limit.key)
            key = _Key(limit.key, limit, now, aging_s, probe)
            if limit.key == "*":
                self._star = key
            else:
                self._declared.append((limit, key, _specificity(limit.key, order)))
        # every key a model can be governed by (all but "*"): declared, then implicit ones
        self._primaries: list[_Key] = [key for _, key, _ in self._declared]
        self._implicit: dict[str, _Key] = {}
        self._resolved: dict[str, tuple[_Key, _Key | None]] = {}
        self._arrivals = itertools.count()

    def _keys_for(self, model: str) -> tuple[_Key, _Key | None]:
        keys = self._resolved.get(model)
        if keys is None:
            matches = [
                (rank, key)
                for limit, key, rank in self._declared
                if fnmatch.fnmatchcase(model, limit.key)
            ]
            if matches:
                primary = max(matches, key=lambda match: match[0])[1]
            else:
                primary = _Key(model, None, self._clock.monotonic(), self._aging_s, self._probe)
                self._implicit[model] = primary
                self._primaries.append(primary)
            keys = (primary, self._star)
            self._resolved[model] = keys
        return keys

    async def acquire(
        self,
        model: str,
        tokens: int,
        on_wait: Callable[[WaitInfo], None] | None = None,
        *,
        urgency: Urgency = NOT_URGENT,
    ) -> Permit:
        """Wait until every limit for `model` admits one call of `tokens` tokens.

        Returns a `Permit` holding one concurrency slot. `on_wait` is called once, before
        waiting, only if the call has to wait. `urgency` places the call among the waiters
        (the default: arrival order).
        """
        if tokens < 0:
            raise ValueError(f"tokens must not be negative, got {tokens}")
        primary, shared = self._keys_for(model)
        started = self._clock.monotonic()
        waiter = _Waiter(primary, shared, tokens, urgency.priority)
        entry = waiter.entry = primary.queue.push(waiter, urgency, started, next(self._arrivals))
        for key in waiter.keys:
            key.waiting += 1
            key.waiting_tokens += tokens
            counts = key.waiting_by_priority
            counts[waiter.priority] = counts.get(waiter.priority, 0) + 1
        reported = on_wait is None
        try:
            while True:
                now = self._clock.monotonic()
                delay: float | None = None
                head = primary.queue.head(now)
                if head is entry:
                    blocked = self._blocked(waiter, now)
                    if blocked is None and self._claimant(waiter, now) is None:
                        return self._admit(waiter, now - started)
                    if blocked is not None:
                        delay = blocked.expected_wait_s
                elif head is not None:
                    # Aging or a more urgent arrival may have made another call the head
                    # while it slept: let it look.
                    head.item.wake()
                if not reported and on_wait is not None:
                    reported = True
                    on_wait(self._wait_info(waiter, now))
                await self._park(waiter, delay)
        except BaseException:
            self._withdraw(waiter)
            raise

    def pause(self, model: str, seconds: float) -> None:
        """Stop admitting calls on `model`'s key for `seconds` (a 429's Retry-After)."""
        key = self._keys_for(model)[0]
        key.paused_until = max(key.paused_until, self._clock.monotonic() + seconds)
        # calls of other keys it was ahead of in "*" may go now
        self._wake_all_heads()

    def statistics(self) -> LimiterStatistics:
        """A frozen snapshot of every key, with its waiting calls by priority."""
        now = self._clock.monotonic()
        keys = ([self._star] if self._star is not None else []) + self._primaries
        return LimiterStatistics(
            tuple(
                KeyStatistics(
                    key=key.name,
                    waiting=key.waiting,
                    in_flight=key.in_flight,
                    max_concurrent=key.max_concurrent,
                    requests=key.requests,
                    tokens=key.tokens,
                    wait_s=key.wait_s,
                    paused_until=key.paused_until if key.paused_until > now else None,
                    waiting_by_priority=tuple(
                        sorted(
                            ((p, n) for p, n in key.waiting_by_priority.items() if n), reverse=True
                        )
                    ),
                    effective_rpm=key.adaptive.rpm if key.adaptive else None,
                    effective_tpm=key.adaptive.tpm if key.adaptive else None,
                    effective_concurrency=key.adaptive.max_concurrent if key.adaptive else None,
                )
                for key in keys
            )
        )

    # -- waiting -------------------------------------------------------------------------

    @staticmethod
    def _key_block(key: _Key, waiter: _Waiter, now: float) -> WaitInfo | None:
        """What in `key` keeps `waiter` from going now (None: the key admits it)."""
        worst: WaitInfo | None = None
        if key.paused_until > now:
            worst = WaitInfo(key.name, "paused", key.paused_until - now)
        for bucket in key.buckets:
            delay = bucket.delay(bucket.amount(waiter.tokens), now)
            if delay > 0:
                worst = _longer(worst, WaitInfo(key.name, bucket.name, delay))
        if key.max_concurrent is not None and key.in_flight >= key.max_concurrent:
            worst = _longer(worst, WaitInfo(key.name, "concurrency", None))
        if key.adaptive is not None:
            held = key.adaptive.block(waiter.tokens, key.in_flight, now)
            if held is not None:
                worst = _longer(worst, WaitInfo(key.name, held[0], held[1]))
        return worst

    def _blocked(self, waiter: _Waiter, now: float) -> WaitInfo | None:
        """What keeps a call that is first in its own key's queue from going now."""
        worst = self._key_block(waiter.primary, waiter, now)
        if waiter.shared is not None:
            shared = self._key_block(waiter.shared, waiter, now)
            if shared is not None:
                worst = _longer(worst, shared) if worst is not None else shared
        return worst

    def _claimant(self, waiter: _Waiter, now: float) -> _Waiter | None:
        """A more urgent call with first claim on "*": first in its key, which admits it.

        More urgent calls held up by their own key do not hold up "*" for other keys.
        """
        if waiter.shared is None:
            return None
        mine = self._order(waiter, now)
        for key in self._primaries:
            if key is waiter.primary:
                continue
            head = key.queue.head(now)
            if (
                head is not None
                and head.order(now, self._aging_s) < mine
                and self._key_block(key, head.item, now) is None
            ):
                return head.item
        return None

    def _order(self, waiter: _Waiter, now: float) -> OrderKey:
        assert waiter.entry is not None
        return waiter.entry.order(now, self._aging_s)

    def _heads_before(self, waiter: _Waiter, now: float) -> list[_Waiter]:
        """The first calls of other keys that are more urgent than `waiter`."""
        mine = self._order(waiter, now)
        heads = []
        for key in self._primaries:
            if key is not waiter.primary:
                head = key.queue.head(now)
                if head is not None and head.order(now, self._aging_s) < mine:
                    heads.append(head.item)
        return heads

    def _wait_info(self, waiter: _Waiter, now: float) -> WaitInfo:
        """Estimate the wait of a call that cannot go now, counting the calls ahead of it.

        Which calls go first is a scan of the key's queue; past `_EXACT_AHEAD` waiters every
        call waiting on the key counts as ahead (an upper bound kept as a running total), so
        thousands of calls queuing at once cost linear time, not quadratic.
        """
        queue = waiter.primary.queue
        assert waiter.entry is not None
        if len(queue) > _EXACT_AHEAD:
            return self._bounded_wait_info(waiter, now)
        ahead = [entry.item for entry in queue.ahead(waiter.entry, now)]
        tokens = sum(w.tokens for w in ahead)
        worst = self._estimate(waiter.primary, waiter, len(ahead), tokens, now)
        if waiter.shared is not None:
            claimants = self._heads_before(waiter, now)
            shared = self._estimate(
                waiter.shared,
                waiter,
                len(ahead) + len(claimants),
                tokens + sum(w.tokens for w in claimants),
                now,
            )
            if shared is not None:
                worst = _longer(worst, shared) if worst is not None else shared
        if worst is not None:
            return worst
        # Nothing of its own holds it up: it waits behind a call held up elsewhere.
        head = queue.head(now)
        blocker = head.item if head is not None and head.item is not waiter else None
        if blocker is None:
            blocker = self._claimant(waiter, now)
        if blocker is not None and blocker is not waiter:
            return self._wait_info(blocker, now)
        return WaitInfo(waiter.primary.name, "concurrency", None)  # pragma: no cover

    def _bounded_wait_info(self, waiter: _Waiter, now: float) -> WaitInfo:
        """`_wait_info` of a long queue: every other waiter of each key counts as ahead."""
        worst: WaitInfo | None = None
        for key in waiter.keys:
            found = self._estimate(
                key, waiter, key.waiting - 1, key.waiting_tokens - waiter.tokens, now
            )
            if found is not None:
                worst = _longer(worst, found) if worst is not None else found
        return worst if worst is not None else WaitInfo(waiter.primary.name, "concurrency", None)

    @staticmethod
    def _estimate(
        key: _Key, waiter: _Waiter, ahead: int, ahead_tokens: int, now: float
    ) -> WaitInfo | None:
        """The wait `key` imposes on `waiter` behind `ahead` calls of `ahead_tokens` tokens."""
        worst: WaitInfo | None = None
        if key.paused_until > now:
            worst = WaitInfo(key.name, "paused", key.paused_until - now)
        for bucket in key.buckets:
            own = bucket.amount(waiter.tokens)
            # an oversized call only needs a full bucket
            queued = float(ahead_tokens) if bucket.is_tokens else float(ahead)
            amount = queued + min(own, bucket.capacity)
            bucket.refill(now)
            delay = max(0.0, amount - bucket.level) / bucket.rate
            if delay > _EPSILON:
                worst = _longer(worst, WaitInfo(key.name, bucket.name, delay))
        if key.max_concurrent is not None and key.in_flight + ahead >= key.max_concurrent:
            worst = _longer(worst, WaitInfo(key.name, "concurrency", None))
        return worst

    async def _park(self, waiter: _Waiter, delay: float | None) -> None:
        """Sleep until woken (a slot, a refund, a new head of queue) or `delay` passes."""
        wakeup: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiter.wakeup = wakeup
        try:
            if delay is None:
                await wakeup
                return
            sleeper = asyncio.ensure_future(self._clock.sleep(delay))
            try:
                await asyncio.wait((sleeper, wakeup), return_when=asyncio.FIRST_COMPLETED)
            finally:
                sleeper.cancel()
        finally:
            waiter.wakeup = None

    def _leave(self, waiter: _Waiter) -> None:
        assert waiter.entry is not None
        waiter.primary.queue.remove(waiter.entry)
        for key in waiter.keys:
            key.waiting -= 1
            key.waiting_tokens -= waiter.tokens
            key.waiting_by_priority[waiter.priority] -= 1

    def _admit(self, waiter: _Waiter, waited: float) -> Permit:
        self._leave(waiter)
        adaptive = waiter.primary.adaptive
        before = (0, 0)
        if adaptive is not None:
            before = (adaptive.admitted, adaptive.tokens_admitted)
            adaptive.admit(waiter.tokens, self._clock.monotonic())
        for key in waiter.keys:
            for bucket in key.buckets:
                bucket.level -= bucket.amount(waiter.tokens)
                bucket.awaited = False  # until the next call finds it short
            key.in_flight += 1
            key.requests += 1
            key.tokens += waiter.tokens
            key.wait_s += waited
        self._changed(waiter.keys)
        admitted = (self._clock.monotonic(), before)
        return _LocalPermit(self, waiter.keys, waiter.tokens, admitted)

    def _withdraw(self, waiter: _Waiter) -> None:
        self._leave(waiter)
        for key in waiter.keys:
            for bucket in key.buckets:
                bucket.refill(self._clock.monotonic())
                bucket.awaited = False  # whoever still waits on it says so when it looks
        self._changed(waiter.keys)

    def _changed(self, keys: tuple[_Key, ...]) -> None:
        """Wake the calls that may be able to go after `keys` changed."""
        if self._star is not None and self._star in keys:
            self._wake_all_heads()
        else:
            now = self._clock.monotonic()
            for key in keys:
                head = key.queue.head(now)
                if head is not None:
                    head.item.wake()

    def _wake_all_heads(self) -> None:
        now = self._clock.monotonic()
        for key in self._primaries:
            head = key.queue.head(now)
            if head is not None:
                head.item.wake()

    # -- permits -------------------------------------------------------------------------

    def _adjust(self, keys: tuple[_Key, ...], difference: int) -> None:
        now = self._clock.monotonic()
        adaptive = keys[0].adaptive
        if adaptive is not None:
            adaptive.settle(difference, now)
        for key in keys:
            key.tokens += difference
            for bucket in key.buckets:
                if bucket.is_tokens:
                    bucket.refill(now)
                    bucket.level = min(bucket.capacity, bucket.level - difference)
        if difference < 0:
            self._changed(keys)

    def _observe(
        self,
        key: _Key,
        hints: RateLimitHints | None,
        throttled: bool,
        admitted_at: float,
        before: tuple[int, int],
    ) -> Adjustment | None:
        if key.adaptive is None:
            return None
        adjustment = key.adaptive.observe(
            hints,
            throttled=throttled,
            admitted_at=admitted_at,
            admitted_before=before,
            in_flight=key.in_flight,
            now=self._clock.monotonic(),
        )
        head = key.queue.head(self._clock.monotonic())
        if head is not None:
            head.item.wake()  # a limit may have opened (or the probe ended)
        return adjustment

    def _release(self, keys: tuple[_Key, ...]) -> None:
        for key in keys:
            key.in_flight -= 1
        self._changed(keys)


def _longer(current: WaitInfo | None, candidate: WaitInfo) -> WaitInfo:
    """The wait that ends later; an open-ended (concurrency) wait only beats nothing."""
    if current is None:
        return candidate
    if candidate.expected_wait_s is None:
        return current
    if current.expected_wait_s is None or candidate.expected_wait_s > current.expected_wait_s:
        return candidate
    return current
