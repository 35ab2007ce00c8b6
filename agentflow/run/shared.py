"""Where a run keeps the state it may share with other runs: limits and standing budgets.

The engine asks its `Backends` for a `Limiter` and a `StandingStore` inside the running
loop, and closes them when the run ends:

    LocalBackends(state_store)        in-process limits; standing budgets in the local state db
    RedisBackends(target, warn=...)   limits and standing budgets in one shared Redis
                                      (`--state redis://HOST:PORT/DB`)

With Redis, limits that cannot reach it fall back to local limiting (one warning line,
through `warn`); standing budgets fail closed (no call is made without the shared ledger).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from agentflow.errors import SharedStateUnreachable
from agentflow.model.types import Limit, Workflow
from agentflow.run.clock import Clock
from agentflow.run.limits import Limiter, RateLimiter
from agentflow.run.standing import SqliteStanding, StandingAccount, StandingStore, standing_account
from agentflow.state.store import StateStore

if TYPE_CHECKING:
    # redis-py is loaded only by a run that names a Redis (`--state redis://`)
    from agentflow.run.redis_limits import RedisLimiter
    from agentflow.state.redis_conn import RedisConnection, RedisTarget


class Backends(Protocol):
    """What the engine needs to know about where shared state lives."""

    def limiter(self, limits: Sequence[Limit], clock: Clock, *, probe: bool = False) -> Limiter:
        """`probe`: hold keys without declared rates back until the provider has answered
        (adaptive limits, agentflow/run/adaptive.py)."""
        ...

    def standing(self, clock: Clock) -> StandingStore | None: ...

    async def aclose(self) -> None: ...


class LocalBackends:
    """One process's limits; standing budgets in the local state db (when there is one)."""

    def __init__(self, store: StateStore | None = None) -> None:
        self._store = store

    def limiter(self, limits: Sequence[Limit], clock: Clock, *, probe: bool = False) -> Limiter:
        return RateLimiter(limits, clock, probe=probe)

    def standing(self, clock: Clock) -> StandingStore | None:
        return SqliteStanding(self._store, clock) if self._store is not None else None

    async def aclose(self) -> None:
        return None


class RedisBackends:
    """Limits and standing budgets in a shared Redis; the connection opens inside the run."""

    def __init__(self, target: RedisTarget, *, warn: Callable[[str], None]) -> None:
        self._target = target
        self._warn = warn
        self._redis: RedisConnection | None = None
        self._limiter: RedisLimiter | None = None

    def _connection(self) -> RedisConnection:
        from agentflow.state.redis_conn import RedisConnection

        if self._redis is None:
            self._redis = RedisConnection(self._target)
        return self._redis

    def limiter(self, limits: Sequence[Limit], clock: Clock, *, probe: bool = False) -> Limiter:
        if not limits:  # nothing declared to share: no round trip per call
            return RateLimiter(limits, clock, probe=probe)
        from agentflow.run.redis_limits import RedisLimiter

        self._limiter = RedisLimiter(self._connection(), limits, clock, warn=self._warn)
        return self._limiter

    def standing(self, clock: Clock) -> StandingStore | None:
        from agentflow.run.redis_budget import RedisStanding

        return RedisStanding(self._connection())

    async def aclose(self) -> None:
        if self._limiter is not None:
            await self._limiter.aclose()
            self._limiter = None
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None


def open_backends(
    shared_url: str | None,
    store: StateStore | None,
    workflows: Sequence[Workflow],
    *,
    warn: Callable[[str], None],
) -> Backends:
    """The backends of a run: Redis when `--state redis://...` names one and it answers.

    Checked before the run starts, so nothing is paid for when it cannot go on: with a
    standing budget an unreachable Redis raises `SharedStateUnreachable` (budgets fail
    closed, exit 2); with limits only, one warning and local limiting.
    """
    if shared_url is None:
        return LocalBackends(store)
    from agentflow.state.redis_conn import parse_redis_url, run_blocking

    target = parse_redis_url(shared_url)
    try:
        run_blocking(lambda: _ping(target))
    except SharedStateUnreachable as exc:
        standing = [w.name for w in workflows if w.budget is not None and w.budget.per]
        if standing:
            raise SharedStateUnreachable(
                f"{exc}; the standing budget of {', '.join(standing)} is kept there, so "
                "nothing was called (budgets fail closed)"
            ) from None
        warn(f"{exc}; rate limits fall back to this process alone")
        return LocalBackends(store)
    return RedisBackends(target, warn=warn)


async def _ping(target: RedisTarget) -> None:
    from agentflow.state.redis_conn import RedisConnection

    async with RedisConnection(target, timeout_s=2.0) as redis:
        await redis.ping()


@dataclass(frozen=True, slots=True)
class StandingLeft:
    """What a standing budget has left in its current period (for `plan`)."""

    key: str
    period: str
    limit_usd: float
    spent_usd: float | None  # None: the store could not be read
    reserved_usd: float
    renews_at: dt.datetime
    where: str

    @property
    def left_usd(self) -> float | None:
        if self.spent_usd is None:
            return None
        return max(0.0, self.limit_usd - self.spent_usd - self.reserved_usd)

    def line(self) -> str:
        head = f"standing budget {self.key!r} ({self.period}, {self.where}): "
        renews = f"renews {self.renews_at:%Y-%m-%d %H:%M} UTC"
        if self.left_usd is None:
            return head + f"${self.limit_usd:g} a period, what is left is unknown ({renews})"
        return (
            head + f"${self.left_usd:.6f} left of ${self.limit_usd:g} "
            f"(${self.spent_usd:.6f} spent, ${self.reserved_usd:.6f} held by runs in flight); "
            + renews
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "period": self.period,
            "limit_usd": self.limit_usd,
            "spent_usd": None if self.spent_usd is None else round(self.spent_usd, 10),
            "reserved_usd": round(self.reserved_usd, 10),
            "left_usd": None if self.left_usd is None else round(self.left_usd, 10),
            "renews_at": self.renews_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "store": self.where,
        }


def standing_left(
    workflow: Workflow, state_file: Path, shared_url: str | None, now: dt.datetime
) -> StandingLeft | None:
    """What the workflow's standing budget has left now (None when it has none)."""
    account = standing_account(workflow, now)
    if account is None:
        return None
    spent: int | None
    reserved = 0
    if shared_url is not None:
        from agentflow.state.redis_conn import parse_redis_url, run_blocking

        target = parse_redis_url(shared_url)
        where = target.display()
        try:
            spent, reserved = run_blocking(lambda: _redis_spent(target, account))
        except SharedStateUnreachable:
            spent = None
    else:
        where = str(state_file)
        spent = 0
        if state_file.exists():
            opened = StateStore.open(state_file)
            try:
                spent = opened.standing_spent(account.key, account.period)
            finally:
                opened.close()
    nano = 1_000_000_000
    return StandingLeft(
        key=account.key,
        period=account.period,
        limit_usd=account.limit_nanos / nano,
        spent_usd=None if spent is None else spent / nano,
        reserved_usd=reserved / nano,
        renews_at=account.ends_at,
        where=where,
    )


async def _redis_spent(target: RedisTarget, account: StandingAccount) -> tuple[int, int]:
    from agentflow.run.redis_budget import RedisStanding
    from agentflow.state.redis_conn import RedisConnection

    async with RedisConnection(target, timeout_s=2.0) as redis:
        return await RedisStanding(redis).spent(account)
