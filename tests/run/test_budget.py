from __future__ import annotations

import asyncio
import random

import pytest

from agentflow.errors import BudgetExceeded
from agentflow.model.types import Budget
from agentflow.run.budget import BudgetLedger, Ledger

from .virtual_time import virtual, virtual_clock


class Calls:
    def __init__(self) -> None:
        self.warnings: list[tuple[str, float, float]] = []
        self.exceeded: list[tuple[str, float, float, float]] = []

    def ledger(self) -> BudgetLedger:
        return BudgetLedger(
            on_warning=lambda *args: self.warnings.append(args),
            on_exceeded=lambda *args: self.exceeded.append(args),
        )


@virtual
async def test_reserve_then_settle_records_the_actual_cost() -> None:
    ledger: Ledger = BudgetLedger()
    run = ledger.scope("run", Budget(max_usd=1.0))
    reservation = await ledger.reserve([run], 0.30)
    stats = ledger.statistics().scope("run")
    assert (stats.spent_usd, stats.reserved_usd, stats.remaining_usd) == (0.0, 0.3, 0.7)
    await reservation.settle(0.12)
    stats = ledger.statistics().scope("run")
    assert (stats.spent_usd, stats.reserved_usd, stats.remaining_usd) == (0.12, 0.0, 0.88)
    assert not reservation.active


def test_a_reservation_that_does_not_fit_raises_and_reserves_nothing() -> None:
    calls = Calls()
    ledger = calls.ledger()
    run = ledger.scope("run", Budget(max_usd=1.0))
    agent = ledger.scope("wf#1/screen", Budget(max_usd=0.05))
    ledger.reserve_now([run, agent], 0.04).settle_now(0.04)
    with pytest.raises(BudgetExceeded) as caught:
        ledger.reserve_now([run, agent], 0.02)
    assert caught.value.scope == "wf#1/screen"
    assert caught.value.exit_code == 3
    assert "wf#1/screen" in str(caught.value)
    assert ledger.statistics().scope("run").reserved_usd == 0.0
    assert calls.exceeded == [("wf#1/screen", 0.04, 0.05, 0.02)]
    assert ledger.statistics().scope("wf#1/screen").exceeded
    assert not ledger.statistics().scope("run").exceeded


def test_the_first_refusing_scope_in_order_is_reported() -> None:
    ledger = BudgetLedger()
    run = ledger.scope("run", Budget(max_usd=0.01))
    agent = ledger.scope("agent", Budget(max_usd=0.01))
    with pytest.raises(BudgetExceeded) as caught:
        ledger.reserve_now([run, agent], 0.02)
    assert caught.value.scope == "run"


def test_a_reservation_exactly_filling_the_budget_fits() -> None:
    ledger = BudgetLedger()
    run = ledger.scope("run", Budget(max_usd=0.3))
    ledger.reserve_now([run], 0.1)
    ledger.reserve_now([run], 0.2)  # 0.1 + 0.2 is not exactly 0.3 in floats; nano-dollars are
    with pytest.raises(BudgetExceeded):
        ledger.reserve_now([run], 0.000_001)


def test_release_frees_the_reservation_and_is_idempotent() -> None:
    ledger = BudgetLedger()
    run = ledger.scope("run", Budget(max_usd=1.0))
    reservation = ledger.reserve_now([run], 0.6)
    reservation.release_now()
    reservation.release_now()
    reservation.settle_now(0.5)  # after release: a no-op
    stats = ledger.statistics().scope("run")
    assert (stats.spent_usd, stats.reserved_usd) == (0.0, 0.0)
    ledger.reserve_now([run], 1.0)


def test_settle_twice_counts_once() -> None:
    ledger = BudgetLedger()
    run = ledger.scope("run", Budget(max_usd=1.0))
    reservation = ledger.reserve_now([run], 0.5)
    reservation.settle_now(0.25)
    reservation.settle_now(0.25)
    reservation.release_now()
    assert ledger.statistics().scope("run").spent_usd == 0.25


def test_warning_fires_once_when_spending_crosses_warn_at() -> None:
    calls = Calls()
    ledger = calls.ledger()
    run = ledger.scope("run", Budget(max_usd=1.0, warn_at=0.5))
    ledger.reserve_now([run], 0.4).settle_now(0.4)
    assert calls.warnings == []
    ledger.reserve_now([run], 0.2).settle_now(0.15)
    assert calls.warnings == [("run", 0.55, 1.0)]
    ledger.reserve_now([run], 0.2).settle_now(0.2)
    assert len(calls.warnings) == 1
    assert ledger.statistics().scope("run").warned


def test_reservations_alone_do_not_warn() -> None:
    calls = Calls()
    ledger = calls.ledger()
    run = ledger.scope("run", Budget(max_usd=1.0, warn_at=0.5))
    ledger.reserve_now([run], 0.9).release_now()
    assert calls.warnings == []
    assert not ledger.statistics().scope("run").warned


def test_an_over_reported_cost_is_recorded_and_then_nothing_fits() -> None:
    ledger = BudgetLedger()
    run = ledger.scope("run", Budget(max_usd=0.10))
    ledger.reserve_now([run], 0.08).settle_now(
        0.12
    )  # the provider charged more than the worst case
    stats = ledger.statistics().scope("run")
    assert stats.spent_usd == 0.12
    assert stats.remaining_usd == 0.0
    with pytest.raises(BudgetExceeded):
        ledger.reserve_now([run], 0.0001)


def test_a_scope_without_budget_only_counts() -> None:
    ledger = BudgetLedger()
    free = ledger.scope("wf#1", None)
    for _ in range(3):
        ledger.reserve_now([free], 1000.0).settle_now(999.0)
    stats = ledger.statistics().scope("wf#1")
    assert (stats.limit_usd, stats.remaining_usd, stats.spent_usd) == (None, None, 2997.0)


def test_scopes_are_created_once_and_keep_their_budget() -> None:
    ledger = BudgetLedger()
    run = ledger.scope("run", Budget(max_usd=1.0))
    assert ledger.scope("run", Budget(max_usd=1.0)) is run
    with pytest.raises(ValueError, match="another budget"):
        ledger.scope("run", Budget(max_usd=2.0))
    with pytest.raises(ValueError, match="another ledger"):
        BudgetLedger().reserve_now([run], 0.1)
    assert [s.name for s in ledger.statistics().scopes] == ["run"]


def test_a_scope_listed_twice_is_reserved_once() -> None:
    ledger = BudgetLedger()
    run = ledger.scope("run", Budget(max_usd=1.0))
    ledger.reserve_now([run, run], 0.6)
    assert ledger.statistics().scope("run").reserved_usd == 0.6


def test_negative_amounts_are_refused() -> None:
    ledger = BudgetLedger()
    run = ledger.scope("run", Budget(max_usd=1.0))
    with pytest.raises(ValueError):
        ledger.reserve_now([run], -0.1)
    with pytest.raises(ValueError):
        ledger.reserve_now([run], 0.1).settle_now(-0.1)


@virtual
async def test_hundreds_of_concurrent_calls_never_push_spending_past_any_limit() -> None:
    clock = virtual_clock()
    calls = Calls()
    ledger = calls.ledger()
    rng = random.Random(2024)
    run = ledger.scope("run", Budget(max_usd=3.0, warn_at=0.8))
    workflows = [ledger.scope(f"wf#{n}", Budget(max_usd=0.9)) for n in range(4)]
    agents = [ledger.scope(f"wf#{n % 4}/agent{n}", Budget(max_usd=0.3)) for n in range(20)]
    refused = 0
    peak_committed: dict[str, float] = {}

    def check() -> None:
        for stats in ledger.statistics().scopes:
            committed = stats.spent_usd + stats.reserved_usd
            peak_committed[stats.name] = max(peak_committed.get(stats.name, 0.0), committed)
            if stats.limit_usd is not None:
                assert committed <= stats.limit_usd + 1e-12

    async def agent_call(n: int) -> None:
        nonlocal refused
        agent = agents[n % len(agents)]
        chain = [run, workflows[n % 4], agent]
        worst = rng.uniform(0.001, 0.08)
        await clock.sleep(rng.uniform(0, 5))
        try:
            reservation = await ledger.reserve(chain, worst)
        except BudgetExceeded:
            refused += 1
            return
        check()
        try:
            await clock.sleep(rng.uniform(0.1, 3))
            await reservation.settle(rng.uniform(0, worst))
        finally:
            await reservation.release()
        check()

    async with asyncio.TaskGroup() as tg:
        for n in range(600):
            tg.create_task(agent_call(n))

    stats = ledger.statistics()
    assert refused > 0  # the budgets were actually under pressure
    assert all(s.reserved_usd == 0 for s in stats.scopes)
    assert stats.scope("run").spent_usd <= 3.0
    assert all(stats.scope(w.name).spent_usd <= 0.9 for w in workflows)
    assert all(stats.scope(a.name).spent_usd <= 0.3 for a in agents)
    assert max(peak_committed[a.name] for a in agents) > 0.25  # close to the limit
    assert stats.scope("run").spent_usd >= 2.4  # past warn_at
    assert [w[0] for w in calls.warnings].count("run") == 1
    assert len(calls.warnings) == len({w[0] for w in calls.warnings})
    assert len(calls.exceeded) == refused


@virtual
async def test_a_cancelled_call_releases_its_reservation() -> None:
    clock = virtual_clock()
    ledger = BudgetLedger()
    run = ledger.scope("run", Budget(max_usd=1.0))

    async def call() -> None:
        reservation = await ledger.reserve([run], 0.7)
        try:
            await clock.sleep(60)
            await reservation.settle(0.5)
        finally:
            await reservation.release()

    task = asyncio.create_task(call())
    await clock.sleep(1)
    assert ledger.statistics().scope("run").reserved_usd == 0.7
    with pytest.raises(BudgetExceeded):
        ledger.reserve_now([run], 0.5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    stats = ledger.statistics().scope("run")
    assert (stats.spent_usd, stats.reserved_usd) == (0.0, 0.0)
    ledger.reserve_now([run], 1.0)
