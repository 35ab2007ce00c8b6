"""Calls behind a gateway: retry hints that pause instead of burning attempts, costs by source."""

from __future__ import annotations

import pytest

from agentflow.errors import RateLimited
from agentflow.llm.types import LLMRequest, LLMResponse
from agentflow.model.types import Price, RetryPolicy

from .test_engine import FakeClient, agent, run, workflow

THREE = RetryPolicy(max_attempts=3, initial_delay=0.5, jitter=False)


def refuse_first(count: int, hint: float | None) -> FakeClient:
    def behaviour(request: LLMRequest, n: int) -> LLMResponse:
        if n <= count:
            raise RateLimited("429 from the gateway", status_code=429, retry_after=hint)
        return LLMResponse("done", (), 10, 5, request.model, "stop")

    return FakeClient(behaviour)


def test_a_hinted_429_pauses_the_key_and_does_not_spend_an_attempt() -> None:
    wf = workflow(agent("a", prompt="[latency=0.01]", retry=THREE))
    result, recorder, client = run(wf, refuse_first(5, 60.0))
    assert result.exit_code == 0
    assert len(client.calls) == 6  # five 429s and the answer, with only 3 attempts allowed
    retries = recorder.named("llm.retry")
    assert [e.data.get("counted") for e in retries] == [False] * 5
    assert {e.data["delay_s"] for e in retries} == {60.0}
    assert {e.data["attempt"] for e in retries} == {1}
    # each retry waited out the key's pause: 5 x 60 s
    assert result.duration_s >= 300.0


def test_a_429_without_a_hint_still_spends_attempts() -> None:
    wf = workflow(agent("a", prompt="[latency=0.01]", retry=THREE))
    result, recorder, client = run(wf, refuse_first(5, None))
    assert result.exit_code == 1
    assert len(client.calls) == 3
    assert all("counted" not in e.data for e in recorder.named("llm.retry"))


def test_hinted_waits_are_bounded_then_count_as_attempts() -> None:
    wf = workflow(agent("a", prompt="[latency=0.01]", retry=THREE))
    result, _, client = run(wf, refuse_first(100, 0.5))
    assert result.exit_code == 1
    assert len(client.calls) == 10 + 3


def answer_costing(cost: float | None) -> FakeClient:
    def behaviour(request: LLMRequest, n: int) -> LLMResponse:
        return LLMResponse("ok", (), 1000, 100, request.model, "stop", provider_cost_usd=cost)

    return FakeClient(behaviour)


@pytest.mark.parametrize(
    ("model", "pricing", "reported", "cost", "source"),
    [
        # no price anywhere: the gateway's reported cost is the cost
        ("openai/team-gpt", (), 0.0123, 0.0123, "provider"),
        # no price and nothing reported: unknown, never 0
        ("openai/team-gpt", (), None, None, None),
        # the price map wins over what the gateway says
        ("openai/gpt-4o-mini", (), 9.0, 1000 * 0.15e-6 + 100 * 0.6e-6, "price_map"),
        # and so does the workflow's pricing:
        ("openai/team-gpt", (Price("openai/team-gpt", 1.0, 2.0),), 9.0, 0.0012, "pricing"),
    ],
)
def test_each_cost_records_where_it_came_from(
    model: str,
    pricing: tuple[Price, ...],
    reported: float | None,
    cost: float | None,
    source: str | None,
) -> None:
    wf = workflow(agent("a", model=model, prompt="[latency=0.01]"), pricing=pricing)
    result, recorder, _ = run(wf, answer_costing(reported))
    assert result.exit_code == 0
    response = recorder.of("llm.response", "a")
    assert response.data["cost_source"] == source
    if cost is None:
        assert response.data["cost_usd"] is None
    else:
        assert response.data["cost_usd"] == pytest.approx(cost)
