"""The engine's waiting order with real limits, on virtual time: priority, deadlines, paths."""

from __future__ import annotations

import pytest

from agentflow.model.types import Deadline, Limit
from agentflow.run.engine import Instance

from .test_engine import agent, run, workflow

ONE_RPM = (Limit("*", rpm=600, burst=1),)  # ten calls a second, one at a time


def chain_and_wide(chain_first: bool) -> list[object]:
    chain = [agent("c0", prompt="c0 [latency=1]")]
    chain += [agent(f"c{i}", f"c{i - 1}", prompt=f"c{i} [latency=1]") for i in range(1, 5)]
    wide = [agent(f"w{i:02d}", prompt=f"w{i} [latency=0.2]") for i in range(195)]
    return chain + wide if chain_first else wide + chain


@pytest.mark.parametrize("chain_first", [True, False])
def test_a_chain_beside_a_wide_fan_finishes_near_the_lower_bound(chain_first: bool) -> None:
    wf = workflow(*chain_and_wide(chain_first), limits=ONE_RPM)  # type: ignore[arg-type]
    result, events, _ = run(wf)
    assert result.status == "ok"
    # 200 calls at 10/s: the last goes at 19.9 s; the chain alone takes 5 s
    bound = max(5.0, 19.9 + 0.2)
    assert result.duration_s <= 1.05 * bound
    # first come, first served would hold every chain step behind the queue of 0.2 s calls;
    # here each step waits at most for the next request (0.1 s)
    start = events.named("run.started")[0].ts
    assert events.of("agent.completed", "c4").ts - start <= 5.0 + 5 * 0.1 + 1e-6


def test_the_in_flight_cap_serves_the_higher_priority_workflow_first() -> None:
    low = workflow(*[agent(f"a{i}", prompt=f"{i} [latency=1]") for i in range(4)], name="low")
    high = workflow(
        *[agent(f"a{i}", prompt=f"{i} [latency=1]") for i in range(4)], name="high", priority=1
    )
    result, events, _ = run([Instance(low, 0, {}), Instance(high, 0, {})], max_concurrency=1)
    assert result.status == "ok"
    order = [(e.workflow, e.agent) for e in events.named("llm.request")]
    # the first low call took the free slot at once; every later slot goes to "high" first
    assert [w for w, _ in order] == ["low", "high", "high", "high", "high", "low", "low", "low"]


def test_the_workflow_with_a_deadline_goes_before_the_one_without() -> None:
    def agents() -> list[object]:
        return [agent(f"a{i}", prompt=f"{i} [latency=0.1]") for i in range(10)]

    relaxed = workflow(*agents(), name="relaxed", limits=ONE_RPM)  # type: ignore[arg-type]
    urgent = workflow(
        *agents(),  # type: ignore[arg-type]
        name="urgent",
        limits=ONE_RPM,
        deadline=Deadline(after_s=1.5),
    )
    result, events, _ = run([Instance(relaxed, 0, {}), Instance(urgent, 0, {})])
    assert result.status == "ok"
    done = {e.workflow: e for e in events.named("workflow.completed")}
    assert done["urgent"].data["duration_s"] <= 1.5 < done["relaxed"].data["duration_s"]


def slow_chain(**fields: object) -> object:
    return workflow(
        agent("a", prompt="a [latency=2]"),
        agent("b", "a", prompt="b [latency=2]"),
        agent("c", "b", prompt="c [latency=2]"),
        name="slow",
        **fields,
    )


def test_a_missed_deadline_is_an_event_and_the_run_goes_on_by_default() -> None:
    result, events, _ = run(slow_chain(deadline=Deadline(after_s=3.0)))  # type: ignore[arg-type]
    assert result.status == "ok"
    (missed,) = events.named("workflow.deadline_missed")
    assert missed.data == {
        "deadline_s": 3.0,
        "at": "2026-01-01T00:00:03.000Z",
        "on_deadline": "warn",
        "pending_agents": 2,  # b is running, c not started
    }
    assert missed.ts - events.named("run.started")[0].ts == 3.0
    assert [e.agent for e in events.named("agent.completed")] == ["a", "b", "c"]


def test_on_deadline_cancel_stops_the_rest_keeps_the_cost_and_fails_the_workflow() -> None:
    wf = slow_chain(deadline=Deadline(after_s=3.0, on_deadline="cancel"))
    result, events, client = run(wf)  # type: ignore[arg-type]
    assert result.status == "failed" and result.exit_code == 1
    assert [e.agent for e in events.named("agent.completed")] == ["a"]
    skipped = {e.agent: e.data for e in events.named("agent.skipped")}
    assert set(skipped) == {"b", "c"}
    assert skipped["b"]["reason"] == "cancelled" and "deadline" in skipped["b"]["detail"]
    # b's call was in flight: it may be billed, so its worst case stays as unconfirmed cost
    assert skipped["b"]["calls"] == 1 and skipped["b"]["unconfirmed_cost_usd"] > 0
    assert len(client.calls) == 2
    (done,) = events.named("workflow.completed")
    assert done.data["status"] == "failed"


def test_a_deadline_met_says_nothing() -> None:
    result, events, _ = run(slow_chain(deadline=Deadline(after_s=6.5)))  # type: ignore[arg-type]
    assert result.status == "ok"
    assert events.named("workflow.deadline_missed") == []
