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

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

from agentflow.model.types import Limit
from agentflow.run.clock import Clock
from agentflow.run.limits import Limiter, RateLimiter
from agentflow.run.standing import SqliteStanding, StandingStore
from agentflow.state.redis_conn import RedisConnection, RedisTarget
from agentflow.state.store import StateStore

if TYPE_CHECKING:
    from agentflow.run.redis_limits import RedisLimiter


class Backends(Protocol):
    """What the engine needs to know about where shared state lives."""

    def limiter(self, limits: Sequence[Limit], clock: Clock) -> Limiter: ...

    def standing(self, clock: Clock) -> StandingStore | None: ...

    async def aclose(self) -> None: ...


class LocalBackends:
    """One process's limits; standing budgets in the local state db (when there is one)."""

    def __init__(self, store: StateStore | None = None) -> None:
        self._store = store

    def limiter(self, limits: Sequence[Limit], clock: Clock) -> Limiter:
        return RateLimiter(limits, clock)

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
        if self._redis is None:
            self._redis = RedisConnection(self._target)
        return self._redis

    def limiter(self, limits: Sequence[Limit], clock: Clock) -> Limiter:
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
