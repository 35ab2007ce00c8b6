"""LiteLLMClient behind a gateway, over real HTTP to the fake server: what its headers say."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from agentflow import errors
from agentflow.llm.litellm_client import LiteLLMClient
from agentflow.llm.types import LLMRequest, LLMResponse, Message
from tests.fakeserver import FakeLLMServer, Scripted

ALIAS = "openai/team-gpt"


@pytest.fixture(autouse=True)
def _dummy_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-0000000000000000")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-0000000000000000")


@pytest.fixture(scope="module")
def client() -> Iterator[LiteLLMClient]:
    yield LiteLLMClient()


def _call(client: LiteLLMClient, request: LLMRequest) -> LLMResponse:
    async def go() -> LLMResponse:
        try:
            return await client.complete(request)
        finally:
            await client.aclose()

    return asyncio.run(go())


def _request(server: FakeLLMServer, model: str = ALIAS) -> LLMRequest:
    base = server.url if model.startswith("anthropic/") else server.base_url
    return LLMRequest(
        model=model, messages=(Message("user", "hi"),), max_tokens=16, timeout=5.0, api_base=base
    )


@pytest.mark.parametrize("model", [ALIAS, "anthropic/claude-sonnet-4-5"])
def test_rate_limit_headers_of_an_answer_reach_the_response(
    client: LiteLLMClient, fake_server: FakeLLMServer, model: str
) -> None:
    fake_server.configure(enforce_rpm=120, enforce_burst=5)
    response = _call(client, _request(fake_server, model))
    assert response.rate_limits is not None
    assert response.rate_limits.limit_requests == 120
    assert response.rate_limits.remaining_requests == 4


def test_an_enforced_limit_answers_429_with_its_wait_and_limits(
    client: LiteLLMClient, fake_server: FakeLLMServer
) -> None:
    fake_server.configure(enforce_rpm=60, enforce_burst=1)
    _call(client, _request(fake_server))
    with pytest.raises(errors.RateLimited) as caught:
        _call(client, _request(fake_server))
    assert caught.value.retry_after is not None and 0 < caught.value.retry_after <= 1.0
    assert caught.value.rate_limits is not None
    assert caught.value.rate_limits.limit_requests == 60
    assert fake_server.rate_limited == 1


def test_a_gateways_unknown_model_is_not_found_and_names_the_gateway(
    client: LiteLLMClient, fake_server: FakeLLMServer
) -> None:
    fake_server.enqueue(
        Scripted(
            fail=400,
            message="/chat/completions: Invalid model name passed in model=team-gptx. "
            "Call `/v1/models` to view available models for your key.",
        )
    )
    with pytest.raises(errors.ModelNotFound) as caught:
        _call(client, _request(fake_server, "openai/team-gptx"))
    message = str(caught.value)
    assert f"the gateway at {fake_server.base_url} has no model 'team-gptx'" in message
    assert type(caught.value).retryable is False


def test_the_cost_a_gateway_reports_reaches_the_response(
    client: LiteLLMClient, fake_server: FakeLLMServer
) -> None:
    fake_server.configure(response_cost=0.0021)
    assert _call(client, _request(fake_server)).provider_cost_usd == pytest.approx(0.0021)
    fake_server.configure(response_cost=None)
    assert _call(client, _request(fake_server)).provider_cost_usd is None
