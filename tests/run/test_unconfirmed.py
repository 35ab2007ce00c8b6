"""Every call sent is accounted for: timeouts, stops and cancelled fan-outs keep their cost.

A call that was sent and never answered may still be billed, so it keeps its worst-case
reservation as spent ("unconfirmed cost") and shows in an `llm.abandoned` event.
"""

from __future__ import annotations

import asyncio

import pytest

from agentflow.events.bus import EventBus
from agentflow.llm.types import LLMRequest, LLMResponse, current_delivery, request_sent
from agentflow.model.types import RetryPolicy
from agentflow.plan.pricing import load_price_book
from agentflow.plan.tokens import count_messages
from agentflow.run.clock import run_virtual, virtual_clock
from agentflow.run.engine import Engine, Instance, RunSettings
from agentflow.run.results import RunResult
from tests.run.test_engine import FakeClient, Recorder, agent, run, workflow

MODEL = "openai/gpt-4o"
BOOK = load_price_book()
ONE_TRY = RetryPolicy(max_attempts=1, initial_delay=0.1, jitter=False)


def worst_case(prompt: str, max_tokens: int) -> float:
    cost = BOOK.cost(MODEL, count_messages(MODEL, [("user", prompt)]), max_tokens)
    assert cost is not None
    return cost


def totals(recorder: Recorder) -> dict[str, float]:
    final = recorder.events[-1]
    assert final.event == "run.completed"
    return dict(final.data["totals"])


def test_a_timed_out_call_keeps_its_worst_case_as_unconfirmed_spend() -> None:
    prompt = "slow [latency=5]"
    wf = workflow(
        agent("a", prompt=prompt, model=MODEL, max_tokens=400, timeout=1.0, retry=ONE_TRY)
    )
    result, recorder, client = run(wf, budget_usd=1.0)

    assert len(client.calls) == 1
    [abandoned] = recorder.named("llm.abandoned")
    expected = worst_case(prompt, 400)
    assert abandoned.data["reason"] == "timeout"
    assert abandoned.data["unconfirmed_cost_usd"] == pytest.approx(expected)
    sums = totals(recorder)
    assert sums["calls"] == 1 and sums["unconfirmed_calls"] == 1
    assert sums["unconfirmed_cost_usd"] == pytest.approx(expected)
    assert sums["cost_usd"] == 0
    [run_budget] = recorder.events[-1].data["budgets"]
    assert run_budget["spent_usd"] == pytest.approx(expected)
    assert run_budget["reserved_usd"] == 0
    failed = recorder.of("agent.failed", "a").data
    assert failed["unconfirmed_cost_usd"] == pytest.approx(expected)
    assert result.usage.unconfirmed_cost_usd == pytest.approx(expected)


def test_timeouts_under_a_budget_never_let_billable_calls_pass_it() -> None:
    # Every call times out; each may be billed, so the budget counts each at its worst
    # case and stops the run before what the provider could bill passes it.
    agents = [
        agent(f"a{i}", prompt=f"task {i} [latency=9]", model=MODEL, max_tokens=500, timeout=1.0)
        for i in range(100)
    ]
    budget = 0.05
    result, recorder, client = run(workflow(*agents), budget_usd=budget)

    billable = sum(worst_case(call.messages[-1].content or "", 500) for call in client.calls)
    assert 0 < billable <= budget
    assert result.exit_code == 3
    sums = totals(recorder)
    assert sums["calls"] == len(client.calls) == sums["unconfirmed_calls"]
    assert sums["unconfirmed_cost_usd"] == pytest.approx(billable)


def test_an_error_the_provider_answered_releases_its_reservation() -> None:
    from agentflow.errors import BadRequest

    def refuse(request: LLMRequest, n: int) -> LLMResponse:
        raise BadRequest("no", status_code=400)

    wf = workflow(agent("a", model=MODEL, max_tokens=400))
    _, recorder, _ = run(wf, FakeClient(refuse), budget_usd=1.0)
    assert recorder.named("llm.abandoned") == []
    assert totals(recorder)["unconfirmed_cost_usd"] == 0
    assert recorder.events[-1].data["budgets"][0]["spent_usd"] == 0


def test_calls_in_flight_at_a_stop_are_recorded_as_abandoned_and_counted_as_sent() -> None:
    agents = [agent(f"s{i}", prompt=f"slow {i} [latency=100]", model=MODEL) for i in range(5)]
    agents.append(agent("quick", prompt="quick [latency=1]", model=MODEL))
    _, recorder, client = run(workflow(*agents), stop_after=(5.0, "SIGTERM"))

    abandoned = recorder.named("llm.abandoned")
    assert sorted(str(e.agent) for e in abandoned) == [f"s{i}" for i in range(5)]
    assert {e.data["reason"] for e in abandoned} == {"cancelled"}
    sums = totals(recorder)
    assert sums["calls"] == len(client.calls) == 6
    assert sums["unconfirmed_calls"] == 5
    unconfirmed = sum(e.data["unconfirmed_cost_usd"] for e in abandoned)
    assert unconfirmed > 0
    assert sums["unconfirmed_cost_usd"] == pytest.approx(unconfirmed)
    skipped = recorder.of("agent.skipped", "s0").data
    assert (skipped["reason"], skipped["calls"]) == ("cancelled", 1)


def test_cancelling_a_fan_out_keeps_every_paid_response_in_the_totals() -> None:
    wf = workflow(
        agent(
            "notes",
            for_each="{{ inputs.rows }}",
            max_parallel=4,
            prompt="note {{ item }} [latency=1]",
            model=MODEL,
        )
    )
    instances = [Instance(wf, 0, {"rows": list(range(40))})]
    result, recorder, client = run(instances, stop_after=(3.5, "SIGINT"))

    responses = recorder.named("llm.response")
    assert len(responses) == 12, "three rounds of four answered before the stop"
    paid = sum(e.data["cost_usd"] for e in responses)
    unconfirmed = sum(e.data["unconfirmed_cost_usd"] for e in recorder.named("llm.abandoned"))
    sums = totals(recorder)
    assert sums["cost_usd"] == pytest.approx(paid)
    assert sums["unconfirmed_cost_usd"] == pytest.approx(unconfirmed)
    assert sums["calls"] == len(recorder.named("llm.request")) == len(client.calls) == 16
    assert sums["unconfirmed_calls"] == 4
    assert result.usage.cost_usd == pytest.approx(paid)
    skipped = recorder.of("agent.skipped", "notes").data
    assert skipped["cost_usd"] == pytest.approx(paid)


def test_a_stop_requested_before_the_run_starts_sends_nothing_and_logs_completely() -> None:
    recorder = Recorder()
    client = FakeClient()
    wf = workflow(agent("a"), agent("b", "a"))

    async def main() -> RunResult:
        clock = virtual_clock()
        engine = Engine(
            client=client,
            clock=clock,
            bus=EventBus("run-1", clock.wall, [recorder]),
            settings=RunSettings(run_id="run-1"),
        )
        engine.request_stop("SIGTERM")
        await engine.prepare([Instance(wf, 0, {})])
        return await engine.run([Instance(wf, 0, {})])

    result = run_virtual(main())
    assert client.calls == []
    assert (result.status, result.exit_code) == ("cancelled", 143)
    names = [e.event for e in recorder.events]
    assert names[0] == "run.started"
    assert names[-2:] == ["run.cancelled", "run.completed"]
    assert {e.agent: e.data["reason"] for e in recorder.named("agent.skipped")} == {
        "a": "cancelled",
        "b": "cancelled",
    }


def test_a_stop_during_warm_up_ends_it_and_starts_no_call() -> None:
    recorder = Recorder()

    class SlowWarmUp(FakeClient):
        async def warm_up(self, targets: object) -> None:
            await asyncio.sleep(3600)

    client = SlowWarmUp()
    wf = workflow(agent("a"))

    async def main() -> RunResult:
        clock = virtual_clock()
        engine = Engine(
            client=client,
            clock=clock,
            bus=EventBus("run-1", clock.wall, [recorder]),
            settings=RunSettings(run_id="run-1"),
        )
        asyncio.get_running_loop().call_later(1.0, engine.request_stop, "SIGINT")
        await engine.prepare([Instance(wf, 0, {})])
        return await engine.run([Instance(wf, 0, {})])

    result = run_virtual(main())
    assert client.calls == []
    assert result.exit_code == 130


class QueueingClient(FakeClient):
    """Holds each request 2 s before it goes out (as a client's send queue would), says so
    through the call's `Delivery`, then answers 1 s later."""

    async def complete(self, request: LLMRequest) -> LLMResponse:
        delivery = current_delivery()
        assert delivery is not None, "the engine watches every call"
        try:
            await virtual_clock().sleep(2.0)
            request_sent()
            return await super().complete(request)
        finally:
            delivery.known = True


@pytest.mark.parametrize(("stop_at", "sent"), [(1.0, False), (2.5, True)])
def test_a_call_stopped_before_it_went_out_is_not_counted_as_sent(
    stop_at: float, sent: bool
) -> None:
    wf = workflow(agent("a", model=MODEL, max_tokens=400))
    _, recorder, _ = run(wf, QueueingClient(), budget_usd=1.0, stop_after=(stop_at, "SIGTERM"))
    [abandoned] = recorder.named("llm.abandoned")
    assert abandoned.data["sent"] is sent
    sums = totals(recorder)
    assert sums["calls"] == (1 if sent else 0)
    assert sums["unconfirmed_calls"] == (1 if sent else 0)
    assert (sums["unconfirmed_cost_usd"] > 0) is sent
    spent = recorder.events[-1].data["budgets"][0]["spent_usd"]
    assert spent == pytest.approx(sums["unconfirmed_cost_usd"])


def test_an_answer_over_the_bound_is_cut_in_memory_and_the_response_says_so() -> None:
    huge = "x" * 5000

    def answer(request: LLMRequest, n: int) -> LLMResponse:
        return LLMResponse(huge, (), 10, 1250, request.model, "stop")

    recorder = Recorder()

    async def main() -> RunResult:
        clock = virtual_clock()
        engine = Engine(
            client=FakeClient(answer),
            clock=clock,
            bus=EventBus("run-1", clock.wall, [recorder]),
            settings=RunSettings(run_id="run-1", max_answer_bytes=1000),
        )
        return await engine.run([Instance(workflow(agent("a")), 0, {})])

    result = run_virtual(main())
    assert result.instances[0].agents["a"].output == "x" * 1000
    response = recorder.of("llm.response", "a").data
    assert (response["truncated"], response["original_bytes"]) == (True, 5000)
    assert response["output_tokens"] == 1250, "what was paid for is what the provider said"
