"""Standing budgets: a workflow's `budget: {max_usd: 20, per: day}` that holds across runs.

A standing budget belongs to its key (the workflow's `name`, or `budget.key`) and to the
current UTC calendar period (a day; an ISO week from Monday; a month), not to one run: every
run of the workflow, in every process that shares the store, reserves from and settles into
the same account. Where the account lives is a `StandingStore`:

    SqliteStanding(state_store)      the local state db (table standing_spend): spent is read
                                     at every reservation, so runs one after another (cron)
                                     and processes on one machine see each other's settled
                                     spend; reservations in flight stay per process
    RedisStanding(connection)        (agentflow.run.redis_budget) reservations and spend in one
                                     Redis, atomic across processes and hosts, leased

`StandingLedger` is the engine's `Ledger`: run-private scopes (the run, a workflow instance,
an agent) stay in the in-process `BudgetLedger`, scopes of standing budgets go to the store,
and a reservation is taken in both or in neither:

    ledger = StandingLedger(BudgetLedger(...), SqliteStanding(store), clock)
    scope = ledger.scope(standing_scope_name(workflow, now), workflow.budget)
    held = await ledger.reserve([run_scope, scope], worst_case_usd)   # or BudgetExceeded
    await held.settle(actual_usd)

Amounts are integer nano-dollars, as in the in-process ledger.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from agentflow.errors import BudgetExceeded, SharedStateUnreachable
from agentflow.model.types import Budget, Period, Workflow
from agentflow.run.budget import (
    BudgetLedger,
    BudgetScope,
    BudgetStatistics,
    OnExceeded,
    OnWarning,
    Reservation,
)
from agentflow.run.clock import Clock
from agentflow.state.store import StateStore

STANDING_PREFIX = "standing:"
_NANO = 1_000_000_000
# While only other calls' reservations stand in the way, poll the store this often.
_WAIT_POLL_S = 0.02


def period_of(per: Period, now: dt.datetime) -> tuple[str, dt.datetime]:
    """The UTC calendar period holding `now`: its label and when it ends.

    >>> period_of("week", dt.datetime(2026, 12, 2, 15, tzinfo=dt.UTC))[0]
    '2026-W49'
    """
    now = now.astimezone(dt.UTC)
    day = dt.datetime(now.year, now.month, now.day, tzinfo=dt.UTC)
    if per == "day":
        return day.strftime("%Y-%m-%d"), day + dt.timedelta(days=1)
    if per == "week":
        start = day - dt.timedelta(days=day.weekday())
        year, week, _ = start.isocalendar()
        return f"{year}-W{week:02d}", start + dt.timedelta(days=7)
    start = day.replace(day=1)
    following = (start + dt.timedelta(days=32)).replace(day=1)
    return start.strftime("%Y-%m"), following


@dataclass(frozen=True, slots=True)
class StandingAccount:
    """One standing budget in one period: what the store keys it by."""

    key: str
    period: str
    limit_nanos: int
    ends_at: dt.datetime

    @property
    def scope_name(self) -> str:
        return f"{STANDING_PREFIX}{self.key}@{self.period}"


@dataclass(frozen=True, slots=True)
class RunAccount(StandingAccount):
    """A queued run's `--budget-usd`, kept in the shared store so that every worker of the
    run reserves from it: the run scope of each worker's ledger (its name is "run")."""

    @property
    def scope_name(self) -> str:
        return "run"


def run_account(run_id: str, budget_usd: float, now: dt.datetime) -> RunAccount:
    """The shared account of a queued run's budget (kept a week, as the run's keys are)."""
    return RunAccount(
        key=f"run:{run_id}",
        period="run",
        limit_nanos=round(budget_usd * _NANO),
        ends_at=now + dt.timedelta(days=7),
    )


def standing_account(workflow: Workflow, now: dt.datetime) -> StandingAccount | None:
    """The standing account a workflow's budget names at `now`, or None (not standing)."""
    budget = workflow.budget
    if budget is None or budget.per is None:
        return None
    period, ends = period_of(budget.per, now)
    return StandingAccount(
        key=budget.key or workflow.name,
        period=period,
        limit_nanos=round(budget.max_usd * _NANO),
        ends_at=ends,
    )


@dataclass(frozen=True, slots=True)
class Taken:
    """A store's answer to a reservation: taken, or refused (by which account), or wait."""

    status: str  # "taken" | "refused" | "wait"
    spent_nanos: tuple[int, ...]
    refused_index: int = -1


class StandingStore(Protocol):
    """Where standing accounts live (SQLite locally, Redis when shared)."""

    async def reserve(
        self, accounts: Sequence[StandingAccount], nanos: int, holder: str
    ) -> Taken: ...

    async def settle(
        self, accounts: Sequence[StandingAccount], holder: str, reserved: int, actual: int
    ) -> tuple[int, ...]: ...

    async def spent(self, account: StandingAccount) -> tuple[int, int]:
        """(spent, reserved) nano-dollars of the account now."""
        ...


class SqliteStanding:
    """Standing accounts in the local state db; see the module docstring."""

    def __init__(self, store: StateStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock
        self._held: dict[str, int] = {}  # this process's reservations, per scope name

    async def reserve(self, accounts: Sequence[StandingAccount], nanos: int, holder: str) -> Taken:
        spent = tuple(self._store.standing_spent(a.key, a.period) for a in accounts)
        for index, (account, done) in enumerate(zip(accounts, spent, strict=True)):
            held = self._held.get(account.scope_name, 0)
            if done + held + nanos > account.limit_nanos:
                waiting = held > 0 and done + nanos <= account.limit_nanos
                return Taken("wait" if waiting else "refused", spent, index)
        for account in accounts:
            self._held[account.scope_name] = self._held.get(account.scope_name, 0) + nanos
        return Taken("taken", spent)

    async def settle(
        self, accounts: Sequence[StandingAccount], holder: str, reserved: int, actual: int
    ) -> tuple[int, ...]:
        now = self._clock.wall()
        for account in accounts:
            self._held[account.scope_name] = self._held.get(account.scope_name, 0) - reserved
            if actual:
                self._store.add_standing_spend(account.key, account.period, actual, now)
        return tuple(self._store.standing_spent(a.key, a.period) for a in accounts)

    async def spent(self, account: StandingAccount) -> tuple[int, int]:
        spent = self._store.standing_spent(account.key, account.period)
        return spent, self._held.get(account.scope_name, 0)


class _StandingHeld:
    """A reservation in run-private scopes (in-process) and standing accounts (the store)."""

    __slots__ = ("_accounts", "_done", "_holder", "_ledger", "_local", "_nanos")

    def __init__(
        self,
        ledger: StandingLedger,
        local: Reservation,
        accounts: tuple[StandingAccount, ...],
        holder: str,
        nanos: int,
    ) -> None:
        self._ledger = ledger
        self._local = local
        self._accounts = accounts
        self._holder = holder
        self._nanos = nanos
        self._done = False

    @property
    def amount_usd(self) -> float:
        return self._nanos / _NANO

    @property
    def active(self) -> bool:
        return not self._done

    async def settle(self, actual_usd: float) -> None:
        if actual_usd < 0:
            raise ValueError(f"actual cost must not be negative, got {actual_usd}")
        if self._done:
            return
        self._done = True
        self._local.settle_now(actual_usd)
        await self._ledger._settle(self._accounts, self._holder, self._nanos, actual_usd)

    async def release(self) -> None:
        if self._done:
            return
        self._done = True
        self._local.release_now()
        await self._ledger._settle(self._accounts, self._holder, self._nanos, 0.0)


class StandingLedger:
    """The `Ledger` of a run with standing budgets; see the module docstring."""

    def __init__(
        self,
        local: BudgetLedger,
        store: StandingStore,
        clock: Clock,
        *,
        on_warning: OnWarning | None = None,
        on_exceeded: OnExceeded | None = None,
    ) -> None:
        self._local = local
        self._store = store
        self._clock = clock
        self._on_warning = on_warning
        self._on_exceeded = on_exceeded
        self._accounts: dict[str, StandingAccount] = {}
        self._warned: set[str] = set()
        self._holders = itertools.count()
        self._prefix = f"{os.getpid()}-{id(self):x}-"

    def add_account(self, account: StandingAccount, budget: Budget) -> BudgetScope:
        """Make the scope of a standing account (its name: `account.scope_name`)."""
        self._accounts[account.scope_name] = account
        return self._local.scope(account.scope_name, budget)

    def scope(self, name: str, budget: Budget | None) -> BudgetScope:
        return self._local.scope(name, budget)

    def statistics(self) -> BudgetStatistics:
        return self._local.statistics()

    async def refresh(self) -> None:
        """Load what every standing account has spent so far (for statistics and plan)."""
        for name, account in self._accounts.items():
            spent, _ = await self._store.spent(account)
            self._mirror(name, spent)

    async def reserve(
        self,
        scopes: Sequence[BudgetScope],
        amount_usd: float,
        *,
        on_wait: Callable[[str], None] | None = None,
    ) -> _StandingHeld:
        if amount_usd < 0:
            raise ValueError(f"a reservation must not be negative, got {amount_usd}")
        unique = tuple(dict.fromkeys(scopes))
        standing = tuple(self._accounts[s.name] for s in unique if s.name in self._accounts)
        private = [s for s in unique if s.name not in self._accounts]
        local = self._local.reserve_now(private, amount_usd)
        nanos = round(amount_usd * _NANO)
        holder = f"{self._prefix}{next(self._holders)}"
        if not standing:
            return _StandingHeld(self, local, (), holder, nanos)
        try:
            while True:
                taken = await self._store.reserve(standing, nanos, holder)
                for account, spent in zip(standing, taken.spent_nanos, strict=True):
                    self._mirror(account.scope_name, spent)
                if taken.status != "wait":
                    break
                if on_wait is not None:
                    on_wait(standing[taken.refused_index].scope_name)
                await self._clock.sleep(_WAIT_POLL_S)
        except SharedStateUnreachable as exc:
            local.release_now()
            raise BudgetExceeded(
                f"the standing budget cannot be checked: {exc}; no call is made without it",
                scope=standing[0].scope_name,
            ) from None
        except BaseException:
            local.release_now()
            raise
        if taken.status == "refused":
            local.release_now()
            account = standing[taken.refused_index]
            self._refuse(account, taken.spent_nanos[taken.refused_index], amount_usd)
        for account in standing:
            self._local_scope(account)._reserved += nanos
        return _StandingHeld(self, local, standing, holder, nanos)

    def _refuse(self, account: StandingAccount, spent: int, amount_usd: float) -> None:
        scope = self._local_scope(account)
        scope._exceeded = True
        limit, spent_usd = account.limit_nanos / _NANO, spent / _NANO
        if self._on_exceeded is not None:
            self._on_exceeded(account.scope_name, spent_usd, limit, amount_usd)
        left = max(0.0, limit - spent_usd)
        if isinstance(account, RunAccount):
            raise BudgetExceeded(
                f"the run budget cannot reserve ${amount_usd:.6f} (prompt + max_tokens) for a "
                f"call: ${spent_usd:.6f} spent, ${left:.6f} left of ${limit:.6f} by every worker "
                "of the run (calls in flight may hold some); lower max_tokens or raise the budget",
                scope=account.scope_name,
            )
        raise BudgetExceeded(
            f"the standing budget {account.key!r} for {account.period} cannot reserve "
            f"${amount_usd:.6f} (prompt + max_tokens) for a call: ${spent_usd:.6f} spent, "
            f"${left:.6f} left of ${limit:.6f} (runs in flight may hold some); it renews "
            f"at {account.ends_at:%Y-%m-%d %H:%M} UTC",
            scope=account.scope_name,
        )

    async def _settle(
        self, accounts: tuple[StandingAccount, ...], holder: str, reserved: int, actual_usd: float
    ) -> None:
        if not accounts:
            return
        actual = round(actual_usd * _NANO)
        for account in accounts:
            self._local_scope(account)._reserved -= reserved
        try:
            totals = await self._store.settle(accounts, holder, reserved, actual)
        except SharedStateUnreachable:
            # The money is spent whether or not the store hears of it: keep it here, so
            # the run's own totals and log stay true; the store's lease returns the hold.
            totals = tuple(self._local_scope(a)._spent + actual for a in accounts)
        for account, spent in zip(accounts, totals, strict=True):
            self._mirror(account.scope_name, spent)
            self._maybe_warn(account, spent, actual)

    def _maybe_warn(self, account: StandingAccount, spent: int, actual: int) -> None:
        scope = self._local_scope(account)
        budget = scope.budget
        if budget is None or account.scope_name in self._warned or actual <= 0:
            return
        if spent >= round(budget.max_usd * budget.warn_at * _NANO):
            self._warned.add(account.scope_name)
            scope._warned = True
            if self._on_warning is not None:
                self._on_warning(account.scope_name, spent / _NANO, budget.max_usd)

    def _local_scope(self, account: StandingAccount) -> BudgetScope:
        return self._local._scopes[account.scope_name]

    def _mirror(self, name: str, spent: int) -> None:
        """The scope's statistics show the account's spend across every run and process."""
        self._local._scopes[name]._spent = spent
