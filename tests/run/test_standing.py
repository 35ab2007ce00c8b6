"""Standing budgets (`budget: {max_usd, per: day|week|month}`): UTC periods, and one account
across consecutive runs and concurrent processes, in the local state db and in a real Redis."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest

from agentflow.events.bus import EventBus
from agentflow.llm.types import LLMRequest, LLMResponse
from agentflow.model.types import Agent, Budget, Workflow
from agentflow.run.clock import SystemClock, run_virtual, virtual_clock
from agentflow.run.engine import Engine, Instance, RunSettings
from agentflow.run.redis_budget import RedisStanding, account_keys
from agentflow.run.results import RunResult
from agentflow.run.shared import Backends, LocalBackends, RedisBackends
from agentflow.run.standing import period_of, standing_account
from agentflow.state.redis_conn import parse_redis_url
from agentflow.state.store import StateStore
from tests.redis_server import RedisServer

from .test_engine import Recorder

UTC = dt.UTC


@pytest.mark.parametrize(
    ("per", "now", "label", "ends"),
    [
        ("day", dt.datetime(2026, 12, 31, 23, 59, tzinfo=UTC), "2026-12-31", (2027, 1, 1)),
        ("week", dt.datetime(2026, 12, 2, 8, tzinfo=UTC), "2026-W49", (2026, 12, 7)),
        ("week", dt.datetime(2027, 1, 1, 8, tzinfo=UTC), "2026-W53", (2027, 1, 4)),
        ("month", dt.datetime(2026, 12, 15, tzinfo=UTC), "2026-12", (2027, 1, 1)),
        ("month", dt.datetime(2026, 2, 28, 23, tzinfo=UTC), "2026-02", (2026, 3, 1)),
    ],
)
def test_periods_are_utc_calendar_days_iso_weeks_and_months(
    per: str, now: dt.datetime, label: str, ends: tuple[int, int, int]
) -> None:
    assert period_of(per, now) == (label, dt.datetime(*ends, tzinfo=UTC))  # type: ignore[arg-type]


def test_a_time_in_another_zone_counts_in_its_utc_day() -> None:
    tokyo = dt.timezone(dt.timedelta(hours=9))
    assert period_of("day", dt.datetime(2026, 12, 3, 7, tzinfo=tokyo))[0] == "2026-12-02"


def test_the_account_is_keyed_by_workflow_name_unless_budget_key_names_another() -> None:
    now = dt.datetime(2026, 12, 2, tzinfo=UTC)
    daily = Budget(max_usd=20, per="day")
    named = Workflow(path=Path("a.yaml"), name="nightly", agents=(), budget=daily)
    shared = Workflow(
        path=Path("b.yaml"),
        name="other",
        agents=(),
        budget=Budget(max_usd=20, per="day", key="team"),
    )
    account = standing_account(named, now)
    assert account is not None and (account.key, account.period) == ("nightly", "2026-12-02")
    assert account.limit_nanos == 20_000_000_000
    assert standing_account(shared, now).key == "team"  # type: ignore[union-attr]
    per_run = Workflow(path=Path("c.yaml"), name="c", agents=(), budget=Budget(max_usd=1))
    assert standing_account(per_run, now) is None


class ZeroLatencyClient:
    """Answers at once with 100 input and 50 output tokens (gpt-4o: $0.00075 a call)."""

    def __init__(self) -> None:
        self.calls = 0

    async def complete(self, request: LLMRequest) -> LLMResponse:
        self.calls += 1
        await asyncio.sleep(0)
        return LLMResponse("ok", (), 100, 50, request.model, "stop")

    async def aclose(self) -> None:
        pass


def daily_workflow(agents: int, max_usd: float) -> Workflow:
    return Workflow(
        path=Path("daily.yaml"),
        name="daily",
        agents=tuple(
            Agent(id=f"a{i}", model="openai/gpt-4o", prompt=f"task {i}", max_tokens=200)
            for i in range(agents)
        ),
        budget=Budget(max_usd=max_usd, per="day"),
    )


async def run_engine(
    wf: Workflow, backends: Backends, run_id: str, clock: object
) -> tuple[RunResult, Recorder]:
    recorder = Recorder()
    bus = EventBus(run_id, clock.wall, [recorder])  # type: ignore[attr-defined]
    engine = Engine(
        client=ZeroLatencyClient(),
        clock=clock,  # type: ignore[arg-type]
        bus=bus,
        backends=backends,
        settings=RunSettings(run_id=run_id, seed=1),
    )
    return await engine.run([Instance(wf, 0, {})]), recorder


def spent(recorder: Recorder) -> float:
    return sum(e.data["cost_usd"] or 0.0 for e in recorder.named("llm.response"))


def test_a_standing_budget_holds_across_five_consecutive_runs_in_the_state_db(
    tmp_path: Path,
) -> None:
    # $0.00075 a call, $0.002025 reserved: 24 calls fit a day, 6 a run
    wf = daily_workflow(agents=6, max_usd=0.02)
    store = StateStore.open(tmp_path / "state.db")
    outcomes: list[tuple[str, float]] = []

    async def five_runs() -> None:
        clock = virtual_clock()
        for n in range(5):
            result, recorder = await run_engine(wf, LocalBackends(store), f"run-{n}", clock)
            outcomes.append((result.status, spent(recorder)))

    run_virtual(five_runs())
    total = sum(cost for _, cost in outcomes)
    assert total == pytest.approx(24 * 0.00075)  # up to the last call whose worst case fits
    assert [status for status, _ in outcomes] == ["ok", "ok", "ok", "ok", "budget"]
    assert outcomes[4][1] == 0.0
    assert store.standing_spent("daily", "2026-01-01") == round(total * 1e9)
    assert store.standing_spent("daily", "2026-01-02") == 0  # tomorrow starts afresh


def test_a_standing_budget_holds_across_five_consecutive_runs_in_redis(
    redis_server: RedisServer,
) -> None:
    wf = daily_workflow(agents=6, max_usd=0.02)
    target = parse_redis_url(redis_server.url)

    async def five_runs() -> list[tuple[str, float]]:
        out = []
        for n in range(5):
            backends = RedisBackends(target, warn=print)
            result, recorder = await run_engine(wf, backends, f"run-{n}", SystemClock())
            out.append((result.status, spent(recorder)))
        return out

    outcomes = asyncio.run(five_runs())
    total = sum(cost for _, cost in outcomes)
    assert total == pytest.approx(24 * 0.00075)
    assert [status for status, _ in outcomes] == ["ok", "ok", "ok", "ok", "budget"]
    account = standing_account(wf, dt.datetime.now(UTC))
    assert account is not None
    reply = redis_server.command("HGET", account_keys(account)[0], "spent")
    assert int(reply.split(b"\r\n")[1]) == round(total * 1e9)


def test_concurrent_processes_under_one_standing_budget_never_spend_past_it(
    redis_server: RedisServer,
) -> None:
    wf = daily_workflow(agents=40, max_usd=0.02)  # 3 x 40 calls want $0.09
    target = parse_redis_url(redis_server.url)

    async def three_at_once() -> list[tuple[RunResult, Recorder]]:
        return list(
            await asyncio.gather(
                *(
                    run_engine(wf, RedisBackends(target, warn=print), f"p{n}", SystemClock())
                    for n in range(3)
                )
            )
        )

    runs = asyncio.run(three_at_once())
    total = sum(spent(recorder) for _, recorder in runs)
    # every call that fits its worst case ($0.002025) was made: 24 calls, 90% of the budget
    assert total == pytest.approx(24 * 0.00075)
    assert all(result.status == "budget" for result, _ in runs)


def test_a_crashed_process_reservations_come_back_after_their_lease(
    redis_server: RedisServer,
) -> None:
    wf = daily_workflow(agents=1, max_usd=0.003)
    account = standing_account(wf, dt.datetime.now(UTC))
    assert account is not None

    async def scenario() -> tuple[str, str, str]:
        from agentflow.state.redis_conn import RedisConnection

        async with RedisConnection(parse_redis_url(redis_server.url)) as redis:
            crashed = RedisStanding(redis, lease_s=0.3)
            held = await crashed.reserve([account], 2_500_000, "dead-process-1")
            # it never settles; another process finds the money held...
            blocked = await RedisStanding(redis).reserve([account], 2_500_000, "p2")
            await asyncio.sleep(0.4)
            # ...until the lease ends
            taken = await RedisStanding(redis).reserve([account], 2_500_000, "p3")
            return held.status, blocked.status, taken.status

    assert asyncio.run(scenario()) == ("taken", "wait", "taken")


def test_a_call_waiting_for_another_process_reservation_says_so(
    redis_server: RedisServer,
) -> None:
    # Another process holds $0.0025 of the $0.003 account and dies; this run's one call
    # (worst case ~$0.002) waits for that lease to end, saying so once, then goes.
    wf = daily_workflow(agents=1, max_usd=0.003)
    account = standing_account(wf, dt.datetime.now(UTC))
    assert account is not None

    async def scenario() -> tuple[RunResult, Recorder]:
        from agentflow.state.redis_conn import RedisConnection

        async with RedisConnection(parse_redis_url(redis_server.url)) as redis:
            held = await RedisStanding(redis, lease_s=0.3).reserve([account], 2_500_000, "dead")
            assert held.status == "taken"
        backends = RedisBackends(parse_redis_url(redis_server.url), warn=print)
        return await run_engine(wf, backends, "r-wait", SystemClock())

    result, recorder = asyncio.run(scenario())
    assert result.status == "ok"
    waits = recorder.named("budget.wait")
    assert [(e.agent, e.data["scope"]) for e in waits] == [("a0", account.scope_name)]
    sent = recorder.named("llm.request")[0]
    assert sent.ts - waits[0].ts >= 0.2  # held until the dead holder's lease ended


def test_budgets_fail_closed_when_redis_goes_away_mid_run(own_redis_server: RedisServer) -> None:
    wf = daily_workflow(agents=1, max_usd=1.0)
    chain = tuple(
        Agent(
            id=f"a{i}",
            model="openai/gpt-4o",
            prompt=f"step {i}",
            max_tokens=200,
            depends_on=(f"a{i - 1}",) if i else (),
        )
        for i in range(6)
    )
    wf = Workflow(path=wf.path, name=wf.name, agents=chain, budget=wf.budget)

    class StopsRedisAfterTwo(ZeroLatencyClient):
        async def complete(self, request: LLMRequest) -> LLMResponse:
            response = await super().complete(request)
            if self.calls == 2:
                own_redis_server.stop()
            return response

    async def scenario() -> tuple[RunResult, Recorder, int]:
        recorder = Recorder()
        client = StopsRedisAfterTwo()
        engine = Engine(
            client=client,
            clock=SystemClock(),
            bus=EventBus("r", SystemClock().wall, [recorder]),
            backends=RedisBackends(parse_redis_url(own_redis_server.url), warn=print),
            settings=RunSettings(run_id="r", seed=1),
        )
        result = await engine.run([Instance(wf, 0, {})])
        return result, recorder, client.calls

    result, recorder, calls = asyncio.run(scenario())
    assert calls == 2  # no call after the shared ledger went away
    assert (result.status, result.exit_code) == ("budget", 3)
    # the two answers were paid and are counted although Redis never heard of the second
    assert spent(recorder) == pytest.approx(2 * 0.00075)
    messages = [str(e.data.get("message", "")) for e in recorder.events]
    assert any("cannot be checked" in m and "cannot be reached" in m for m in messages)
