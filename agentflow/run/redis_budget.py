"""Standing budgets in a shared Redis: reserve-then-settle across processes and hosts.

The `StandingStore` of `agentflow.run.standing` for `--state redis://...`. Every account
(one standing budget in one UTC period) is a hash of integer nano-dollars (`spent`,
`reserved`, and what each holder holds) plus a sorted set of holders by lease end. Two Lua
scripts (lua/budget_reserve.lua, lua/budget_settle.lua) do each step atomically on the
server with its clock, so four processes under `{max_usd: 0.05, per: day}` together spend
at most $0.05, and a crashed process's reservations come back when their lease ends.

When Redis cannot be reached, reserving raises `SharedStateUnreachable` (the ledger turns it
into a refusal: budgets fail closed); settling keeps the money in the run's own totals.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

from agentflow.run.standing import StandingAccount, Taken
from agentflow.state.redis_conn import RedisConnection

_LUA = Path(__file__).with_name("lua")
# Longer than any call may take (agents' timeouts are minutes): a live holder keeps its
# reservation; a dead one's comes back after this.
DEFAULT_LEASE_S = 900.0
# Accounts outlive their period by this much, so `plan` can still show yesterday's.
_GRACE = dt.timedelta(days=2)


def account_keys(account: StandingAccount) -> tuple[str, str]:
    base = RedisConnection.key("standing", account.key, account.period)
    return base, base + ":holders"


class RedisStanding:
    """Standing accounts in Redis; see the module docstring."""

    def __init__(self, redis: RedisConnection, *, lease_s: float = DEFAULT_LEASE_S) -> None:
        self._redis = redis
        self._lease_s = lease_s
        self._reserve = redis.script(_LUA / "budget_reserve.lua")
        self._settle = redis.script(_LUA / "budget_settle.lua")

    @staticmethod
    def _keys(accounts: Sequence[StandingAccount]) -> list[str]:
        return [key for account in accounts for key in account_keys(account)]

    @staticmethod
    def _expiry(accounts: Sequence[StandingAccount]) -> int:
        return int(max(a.ends_at for a in accounts).timestamp() + _GRACE.total_seconds())

    async def reserve(self, accounts: Sequence[StandingAccount], nanos: int, holder: str) -> Taken:
        reply = await self._redis.run(
            self._reserve,
            keys=self._keys(accounts),
            args=[
                nanos,
                holder,
                self._lease_s,
                self._expiry(accounts),
                *(a.limit_nanos for a in accounts),
            ],
        )
        status = {1: "taken", 0: "refused", 2: "wait"}[int(reply[0])]
        return Taken(status, tuple(int(v) for v in reply[2:]), int(reply[1]) - 1)

    async def settle(
        self, accounts: Sequence[StandingAccount], holder: str, reserved: int, actual: int
    ) -> tuple[int, ...]:
        reply = await self._redis.run(
            self._settle,
            keys=self._keys(accounts),
            args=[holder, actual, self._expiry(accounts)],
        )
        return tuple(int(v) for v in reply)

    async def spent(self, account: StandingAccount) -> tuple[int, int]:
        spent, reserved = await self._redis.command(
            "HMGET", account_keys(account)[0], "spent", "reserved"
        )
        return int(spent or 0), int(reserved or 0)
