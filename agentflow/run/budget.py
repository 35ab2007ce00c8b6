"""The budget ledger: reserve the worst case before a call, settle the actual cost after.

Scopes nest run → workflow instance → agent; each may carry a `Budget`. Before a model call
the engine reserves the call's worst-case cost (prompt tokens + max_tokens at the model's
prices) in every scope the call belongs to, all or nothing; after the call it settles the
actual cost, and on failure or cancellation it releases the reservation:

    ledger = BudgetLedger(on_warning=emit_warning, on_exceeded=emit_exceeded)
    run = ledger.scope("run", workflow.budget)
    agent_scope = ledger.scope("hr_onboarding#1/screen", agent.budget)
    reservation = await ledger.reserve([run, agent_scope], worst_case_usd)  # or BudgetExceeded
    try:
        response = await client.complete(...)
        await reservation.settle(response.cost_usd)
    finally:
        await reservation.release()                 # no-op after settle

The engine awaits the ledger (the `Ledger` and `Held` protocols), so a ledger shared by many
processes through Redis can answer over the network; this in-process one does its work in
the synchronous `reserve_now()`, `settle_now()` and `release_now()`, which its async methods
call without awaiting anything.

Guarantee: in every scope, spent + outstanding reservations never exceed `max_usd`, however
many calls run at once, because a reservation only succeeds when it fits, and the work is
synchronous (nothing can interleave inside one). The one exception is a provider that reports
a cost above what was reserved (the estimate missed, or pricing changed): the ledger records
the actual cost truthfully, so `spent` may then exceed `max_usd`; from then on the scope has
nothing left and refuses every further reservation. It never hides money that was spent.

`warn_at` (a fraction of `max_usd`) fires `on_warning(scope, spent, limit)` once per scope,
when settled spending first reaches it. A refused reservation fires
`on_exceeded(scope, spent, limit, requested)` for the first scope (in the order given) that
cannot take it, and raises `BudgetExceeded(..., scope=name)`; what to do next
(`on_exceeded: fail | skip_noncritical`) is the engine's decision.

Amounts are kept as integer nano-dollars, so thousands of reserve/settle cycles cannot drift
by float rounding. A scope without a `Budget` only counts.

"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from agentflow.errors import BudgetExceeded
from agentflow.model.types import Budget

OnWarning = Callable[[str, float, float], None]
"""`on_warning(scope_name, spent_usd, limit_usd)`"""
OnExceeded = Callable[[str, float, float, float], None]
"""`on_exceeded(scope_name, spent_usd, limit_usd, requested_usd)`"""

_NANO = 1_000_000_000


def _nanos(usd: float) -> int:
    return round(usd * _NANO)


def _usd(nanos: int) -> float:
    return nanos / _NANO


@dataclass(frozen=True, slots=True)
class ScopeStatistics:
    """The state of one budget scope; `limit_usd` and `remaining_usd` are None without a budget."""

    name: str
    limit_usd: float | None
    spent_usd: float
    reserved_usd: float
    remaining_usd: float | None
    warned: bool
    exceeded: bool


@dataclass(frozen=True, slots=True)
class BudgetStatistics:
    """Every scope, in the order they were created."""

    scopes: tuple[ScopeStatistics, ...]

    def scope(self, name: str) -> ScopeStatistics:
        for stats in self.scopes:
            if stats.name == name:
                return stats
        raise KeyError(name)


class BudgetScope:
    """One level of accounting (the run, a workflow instance, an agent); made by a ledger."""

    __slots__ = ("_exceeded", "_limit", "_reserved", "_spent", "_warn", "_warned", "budget", "name")

    def __init__(self, name: str, budget: Budget | None) -> None:
        if budget is not None and budget.max_usd < 0:
            raise ValueError(f"budget {name!r}: max_usd must not be negative")
        self.name = name
        self.budget = budget
        self._limit = _nanos(budget.max_usd) if budget is not None else None
        self._warn = _nanos(budget.max_usd * budget.warn_at) if budget is not None else None
        self._spent = 0
        self._reserved = 0
        self._warned = False
        self._exceeded = False

    def _fits(self, amount: int) -> bool:
        return self._limit is None or self._spent + self._reserved + amount <= self._limit

    def statistics(self) -> ScopeStatistics:
        limit = self._limit
        remaining = None if limit is None else max(0, limit - self._spent - self._reserved)
        return ScopeStatistics(
            name=self.name,
            limit_usd=None if limit is None else _usd(limit),
            spent_usd=_usd(self._spent),
            reserved_usd=_usd(self._reserved),
            remaining_usd=None if remaining is None else _usd(remaining),
            warned=self._warned,
            exceeded=self._exceeded,
        )

    def __repr__(self) -> str:
        return f"BudgetScope({self.name!r}, {self.budget!r})"


class Reservation:
    """Worst-case cost held in some scopes until `settle()` or `release()`."""

    __slots__ = ("_amount", "_done", "_ledger", "_scopes")

    def __init__(self, ledger: BudgetLedger, scopes: tuple[BudgetScope, ...], amount: int):
        self._ledger = ledger
        self._scopes = scopes
        self._amount = amount
        self._done = False

    @property
    def amount_usd(self) -> float:
        return _usd(self._amount)

    @property
    def active(self) -> bool:
        """True until settled or released."""
        return not self._done

    def settle_now(self, actual_usd: float) -> None:
        """Replace the reservation with the actual cost; a no-op once settled or released."""
        if actual_usd < 0:
            raise ValueError(f"actual cost must not be negative, got {actual_usd}")
        if self._done:
            return
        self._done = True
        self._ledger._settle(self._scopes, self._amount, _nanos(actual_usd))

    def release_now(self) -> None:
        """Drop the reservation without spending (failure, cancellation); idempotent."""
        if self._done:
            return
        self._done = True
        self._ledger._settle(self._scopes, self._amount, 0)

    async def settle(self, actual_usd: float) -> None:
        """`settle_now()` behind the `Held` protocol (nothing to wait for in-process)."""
        self.settle_now(actual_usd)

    async def release(self) -> None:
        """`release_now()` behind the `Held` protocol."""
        self.release_now()


class Held(Protocol):
    """A reservation as the engine sees it: settle the actual cost, or release it."""

    @property
    def amount_usd(self) -> float: ...

    @property
    def active(self) -> bool: ...

    async def settle(self, actual_usd: float) -> None: ...

    async def release(self) -> None: ...


class Ledger(Protocol):
    """What the engine needs from a budget ledger: in-process (`BudgetLedger`) or shared by
    many processes (`agentflow.run.redis_budget.RedisLedger`). Reserving and settling are
    awaited, because a shared ledger answers over the network."""

    def scope(self, name: str, budget: Budget | None) -> BudgetScope: ...

    async def reserve(
        self,
        scopes: Sequence[BudgetScope],
        amount_usd: float,
        *,
        on_wait: Callable[[str], None] | None = None,
    ) -> Held:
        """Take `amount_usd` in every scope or raise `BudgetExceeded`; a ledger that waits
        for other holders' reservations to settle calls `on_wait(scope_name)` first."""
        ...

    def statistics(self) -> BudgetStatistics: ...


class BudgetLedger:
    """In-process ledger of budget scopes; see the module docstring."""

    def __init__(
        self, *, on_warning: OnWarning | None = None, on_exceeded: OnExceeded | None = None
    ) -> None:
        self._on_warning = on_warning
        self._on_exceeded = on_exceeded
        self._scopes: dict[str, BudgetScope] = {}

    def scope(self, name: str, budget: Budget | None) -> BudgetScope:
        """The scope called `name`, created on first use; a name keeps its first budget."""
        existing = self._scopes.get(name)
        if existing is not None:
            if existing.budget != budget:
                raise ValueError(f"budget scope {name!r} already exists with another budget")
            return existing
        scope = self._scopes[name] = BudgetScope(name, budget)
        return scope

    async def reserve(
        self,
        scopes: Sequence[BudgetScope],
        amount_usd: float,
        *,
        on_wait: Callable[[str], None] | None = None,
    ) -> Reservation:
        """`reserve_now()` behind the `Ledger` protocol (in-process it never waits)."""
        return self.reserve_now(scopes, amount_usd)

    def reserve_now(self, scopes: Sequence[BudgetScope], amount_usd: float) -> Reservation:
        """Reserve `amount_usd` in every scope, or raise `BudgetExceeded` reserving nothing."""
        if amount_usd < 0:
            raise ValueError(f"a reservation must not be negative, got {amount_usd}")
        unique = tuple(dict.fromkeys(scopes))
        for scope in unique:
            if self._scopes.get(scope.name) is not scope:
                raise ValueError(f"budget scope {scope.name!r} belongs to another ledger")
        amount = _nanos(amount_usd)
        for scope in unique:
            if not scope._fits(amount):
                scope._exceeded = True
                limit = _usd(scope._limit or 0)
                spent = _usd(scope._spent)
                if self._on_exceeded is not None:
                    self._on_exceeded(scope.name, spent, limit, amount_usd)
                left = max(0.0, limit - spent - _usd(scope._reserved))
                kind, _, owner = scope.name.partition(":")
                raise BudgetExceeded(
                    f"the {kind} budget{f' ({owner})' if owner else ''} cannot reserve "
                    f"${amount_usd:.6f} (prompt + max_tokens) for a call: ${spent:.6f} "
                    f"spent, ${left:.6f} left of ${limit:.6f}; lower max_tokens or raise "
                    "the budget",
                    scope=scope.name,
                )
        for scope in unique:
            scope._reserved += amount
        return Reservation(self, unique, amount)

    def statistics(self) -> BudgetStatistics:
        """A frozen snapshot of every scope."""
        return BudgetStatistics(tuple(scope.statistics() for scope in self._scopes.values()))

    def _settle(self, scopes: tuple[BudgetScope, ...], reserved: int, actual: int) -> None:
        for scope in scopes:
            scope._reserved -= reserved
            scope._spent += actual
        for scope in scopes:
            warn = scope._warn
            if warn is not None and not scope._warned and actual > 0 and scope._spent >= warn:
                scope._warned = True
                if self._on_warning is not None:
                    self._on_warning(scope.name, _usd(scope._spent), _usd(scope._limit or 0))
