"""Provider answers at the edges, over real HTTP: an empty 200 and a bare 401."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from agentflow import errors
from agentflow.llm.litellm_client import LiteLLMClient
from agentflow.llm.types import LLMRequest, LLMResponse, Message
from tests.fakeserver import FakeLLMServer, Scripted

OPENAI = "openai/gpt-4o-mini"
ANTHROPIC = "anthropic/claude-sonnet-4-5"


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


def _request(server: FakeLLMServer, model: str, text: str, **extra: object) -> LLMRequest:
    base = server.base_url if model.startswith("openai/") else server.url
    fields: dict[str, object] = {
        "model": model,
        "messages": (Message("user", text),),
        "max_tokens": 64,
        "timeout": 5.0,
        "api_base": base,
    }
    fields.update(extra)
    return LLMRequest(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize("how", ["marker", "script"])
def test_a_200_without_choices_is_a_retryable_server_error(
    client: LiteLLMClient, fake_server: FakeLLMServer, how: str
) -> None:
    text = "Summarise. [[empty_choices]]" if how == "marker" else "Summarise."
    if how == "script":
        fake_server.enqueue(Scripted(empty_choices=True))
    with pytest.raises(errors.ServerError) as caught:
        _call(client, _request(fake_server, OPENAI, text))
    assert caught.value.retryable
    assert "no choices" in str(caught.value)
    assert len(fake_server.requests) == 1


@pytest.mark.parametrize(
    ("model", "variable"), [(OPENAI, "OPENAI_API_KEY"), (ANTHROPIC, "ANTHROPIC_API_KEY")]
)
def test_a_bare_401_names_the_variable_that_holds_the_key(
    client: LiteLLMClient, fake_server: FakeLLMServer, model: str, variable: str
) -> None:
    with pytest.raises(errors.AuthenticationFailed) as caught:
        _call(client, _request(fake_server, model, "Hi. [[fail=401,bare]]"))
    message = str(caught.value)
    assert f"check {variable}" in message, message
    assert "sk-" not in message


def test_a_401_names_the_agents_own_key_variable_when_it_has_one(
    client: LiteLLMClient, fake_server: FakeLLMServer
) -> None:
    request = _request(fake_server, OPENAI, "Hi. [[fail=401,bare]]", api_key_env="ACME_LLM_KEY")
    with pytest.raises(errors.AuthenticationFailed) as caught:
        _call(client, request)
    assert "check ACME_LLM_KEY" in str(caught.value)
    assert "OPENAI_API_KEY" not in str(caught.value)
