"""LiteLLMClient against the local fake server, over real HTTP (OpenAI and Anthropic APIs)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import jsonschema
import pytest

from agentflow import errors
from agentflow.llm.litellm_client import LiteLLMClient
from agentflow.llm.types import LLMRequest, LLMResponse, Message, ToolCall, ToolSpec
from agentflow.model.types import freeze, thaw
from tests.fakeserver import FakeLLMServer, Scripted

OPENAI = "openai/gpt-4o-mini"
ANTHROPIC = "anthropic/claude-sonnet-4-5"

LOOKUP = ToolSpec(
    name="lookup_employee",
    description="Find an employee record by id.",
    parameters=freeze(
        {
            "type": "object",
            "properties": {"employee_id": {"type": "string"}},
            "required": ["employee_id"],
        }
    ),
)
SCHEMA = freeze(
    {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "score": {"type": "integer", "minimum": 0, "maximum": 10},
        },
        "required": ["name", "score"],
        "additionalProperties": False,
    }
)


@pytest.fixture(autouse=True)
def _dummy_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-0000000000000000")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-0000000000000000")


@pytest.fixture(scope="module")
def client() -> Iterator[LiteLLMClient]:
    yield LiteLLMClient()


def _base(server: FakeLLMServer, model: str) -> str:
    return server.base_url if model.startswith("openai/") else server.url


def _request(server: FakeLLMServer, model: str, text: str, **extra: object) -> LLMRequest:
    fields: dict[str, object] = {
        "model": model,
        "messages": (Message("system", "You are terse."), Message("user", text)),
        "max_tokens": 64,
        "timeout": 5.0,
        "api_base": _base(server, model),
    }
    fields.update(extra)
    return LLMRequest(**fields)  # type: ignore[arg-type]


def _call(client: LiteLLMClient, request: LLMRequest) -> LLMResponse:
    async def go() -> LLMResponse:
        try:
            return await client.complete(request)
        finally:
            await client.aclose()

    return asyncio.run(go())


# ------------------------------------------------------------------ request building


def test_kwargs_carry_retries_off_limits_and_api_base(client: LiteLLMClient) -> None:
    request = LLMRequest(
        model=OPENAI,
        messages=(Message("user", "hi"),),
        max_tokens=10,
        timeout=3.0,
        api_base="http://127.0.0.1:9/v1",
    )
    kwargs = client.build_kwargs(request)
    assert kwargs == {
        "model": OPENAI,
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 10,
        "timeout": 3.0,
        "num_retries": 0,
        "api_base": "http://127.0.0.1:9/v1",
    }


def test_kwargs_for_tools_schema_json_mode_and_mock(client: LiteLLMClient) -> None:
    base = LLMRequest(model=OPENAI, messages=(Message("user", "hi"),), max_tokens=10, timeout=3.0)
    kwargs = client.build_kwargs(
        LLMRequest(
            model=OPENAI,
            messages=base.messages,
            max_tokens=10,
            timeout=3.0,
            temperature=0.0,
            tools=(LOOKUP,),
            response_schema=SCHEMA,
            mock_response={"choices": []},
        )
    )
    assert kwargs["temperature"] == 0.0
    assert kwargs["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "lookup_employee",
                "description": "Find an employee record by id.",
                "parameters": {
                    "type": "object",
                    "properties": {"employee_id": {"type": "string"}},
                    "required": ["employee_id"],
                },
            },
        }
    ]
    assert kwargs["response_format"]["type"] == "json_schema"
    assert kwargs["response_format"]["json_schema"]["schema"]["required"] == ["name", "score"]
    assert kwargs["mock_response"] == {"choices": []}
    assert "api_base" not in kwargs
    json_mode = LLMRequest(
        model=OPENAI, messages=base.messages, max_tokens=1, timeout=1, json_mode=True
    )
    assert client.build_kwargs(json_mode)["response_format"] == {"type": "json_object"}


def test_tool_conversation_messages_are_openai_dicts(client: LiteLLMClient) -> None:
    messages = (
        Message("user", "who is E1?"),
        Message(
            "assistant",
            None,
            tool_calls=(ToolCall("call_1", "lookup_employee", '{"employee_id": "E1"}'),),
        ),
        Message("tool", '{"name": "Ada"}', tool_call_id="call_1", name="lookup_employee"),
    )
    kwargs = client.build_kwargs(
        LLMRequest(model=OPENAI, messages=messages, max_tokens=5, timeout=1)
    )
    assert kwargs["messages"][1] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "lookup_employee", "arguments": '{"employee_id": "E1"}'},
            }
        ],
    }
    assert kwargs["messages"][2] == {
        "role": "tool",
        "content": '{"name": "Ada"}',
        "tool_call_id": "call_1",
        "name": "lookup_employee",
    }


# ------------------------------------------------------------------ real HTTP


@pytest.mark.parametrize("model", [OPENAI, ANTHROPIC])
def test_text_answer_with_usage(
    client: LiteLLMClient, fake_server: FakeLLMServer, model: str
) -> None:
    response = _call(client, _request(fake_server, model, "Summarise the Q3 ledger."))
    assert response.content and "Q3 ledger" in response.content
    assert response.tool_calls == ()
    assert response.input_tokens > 0 and response.output_tokens > 0
    assert response.finish_reason == "stop"
    assert len(fake_server.requests) == 1
    sent = fake_server.requests[0]
    assert sent.path == ("/v1/chat/completions" if model == OPENAI else "/v1/messages")
    assert "temperature" not in sent.body
    assert sent.body["max_tokens"] == 64
    assert all(k.lower() not in ("authorization", "x-api-key") for k in sent.headers)


@pytest.mark.parametrize("model", [OPENAI, ANTHROPIC])
def test_temperature_is_sent_when_set(
    client: LiteLLMClient, fake_server: FakeLLMServer, model: str
) -> None:
    _call(client, _request(fake_server, model, "hello", temperature=0.3))
    assert fake_server.requests[0].body["temperature"] == 0.3


@pytest.mark.parametrize("model", [OPENAI, ANTHROPIC])
def test_tool_call_then_final_answer(
    client: LiteLLMClient, fake_server: FakeLLMServer, model: str
) -> None:
    first = _call(client, _request(fake_server, model, "Who is E1? [[tools]]", tools=(LOOKUP,)))
    assert [c.name for c in first.tool_calls] == ["lookup_employee"]
    assert "employee_id" in json.loads(first.tool_calls[0].arguments)
    assert first.finish_reason == "tool_calls"
    offered = fake_server.requests[0].body["tools"]
    assert len(offered) == 1
    messages = (
        Message("user", "Who is E1? [[tools]]"),
        Message("assistant", None, tool_calls=first.tool_calls),
        Message(
            "tool",
            '{"name": "Ada Lovelace"}',
            tool_call_id=first.tool_calls[0].id,
            name="lookup_employee",
        ),
    )
    final = _call(client, _request(fake_server, model, "", messages=messages, tools=(LOOKUP,)))
    assert final.tool_calls == ()
    assert final.content


@pytest.mark.parametrize("model", [OPENAI, ANTHROPIC])
def test_structured_output_satisfies_the_schema(
    client: LiteLLMClient, fake_server: FakeLLMServer, model: str
) -> None:
    response = _call(client, _request(fake_server, model, "Score Ada.", response_schema=SCHEMA))
    assert response.content is not None
    jsonschema.validate(json.loads(response.content), thaw(SCHEMA))


@pytest.mark.parametrize(
    ("marker", "expected", "retry_after"),
    [
        ("[[fail=429,retry_after=2]]", errors.RateLimited, 2.0),
        ("[[fail=429,retry_after_ms=1500]]", errors.RateLimited, 1.5),
        ("[[fail=429,code=insufficient_quota]]", errors.QuotaExceeded, None),
        ("[[fail=500]]", errors.ServerError, None),
        ("[[fail=503,retry_after=4]]", errors.ServerError, 4.0),
        ("[[fail=529]]", errors.ServerError, None),
        ("[[fail=401]]", errors.AuthenticationFailed, None),
        ("[[fail=403]]", errors.AuthenticationFailed, None),
        ("[[fail=404]]", errors.ModelNotFound, None),
        ("[[fail=400]]", errors.BadRequest, None),
        ("[[fail=422]]", errors.BadRequest, None),
    ],
)
@pytest.mark.parametrize("model", [OPENAI, ANTHROPIC])
def test_http_faults_become_project_errors_without_retries(
    client: LiteLLMClient,
    fake_server: FakeLLMServer,
    model: str,
    marker: str,
    expected: type[errors.LLMError],
    retry_after: float | None,
) -> None:
    with pytest.raises(errors.LLMError) as caught:
        _call(client, _request(fake_server, model, f"go {marker}"))
    assert type(caught.value) is expected
    assert caught.value.retry_after == retry_after
    assert len(fake_server.requests) == 1, "LiteLLM must not retry on its own"
    assert "sk-test" not in str(caught.value) and "sk-ant" not in str(caught.value)


@pytest.mark.parametrize("model", [OPENAI, ANTHROPIC])
def test_hang_becomes_a_timeout(
    client: LiteLLMClient, fake_server: FakeLLMServer, model: str
) -> None:
    with pytest.raises(errors.LLMTimeout):
        _call(client, _request(fake_server, model, "wait [[hang]]", timeout=0.3))


def test_refused_connection_is_a_connection_error(client: LiteLLMClient) -> None:
    request = LLMRequest(
        model=OPENAI,
        messages=(Message("user", "hi"),),
        max_tokens=5,
        timeout=2.0,
        api_base="http://127.0.0.1:9/v1",
    )
    with pytest.raises(errors.LLMConnectionError):
        _call(client, request)


def test_scripted_answer_is_used_first(client: LiteLLMClient, fake_server: FakeLLMServer) -> None:
    fake_server.enqueue(Scripted(content="scripted"), Scripted(fail=500))
    assert _call(client, _request(fake_server, OPENAI, "a")).content == "scripted"
    with pytest.raises(errors.ServerError):
        _call(client, _request(fake_server, OPENAI, "b"))
    assert _call(client, _request(fake_server, OPENAI, "c")).content != "scripted"


def test_fixed_usage_knob(client: LiteLLMClient, fake_server: FakeLLMServer) -> None:
    fake_server.configure(usage=(111, 22))
    response = _call(client, _request(fake_server, OPENAI, "hello"))
    assert (response.input_tokens, response.output_tokens) == (111, 22)


def test_many_concurrent_calls_share_the_pool(
    client: LiteLLMClient, fake_server: FakeLLMServer
) -> None:
    # Long enough that every call is in flight before the first answer, even on a busy
    # machine where LiteLLM needs several ms of CPU to send each one.
    fake_server.configure(latency_s=3.0)

    async def go() -> list[LLMResponse]:
        try:
            return await asyncio.gather(
                *(client.complete(_request(fake_server, OPENAI, f"item {i}")) for i in range(300))
            )
        finally:
            await client.aclose()

    responses = asyncio.run(go())
    assert len(responses) == 300
    assert fake_server.max_in_flight >= 250


# ------------------------------------------------------------------ send gate


def _burst(client: LiteLLMClient, server: FakeLLMServer, model: str) -> list[LLMResponse]:
    async def go() -> list[LLMResponse]:
        try:
            first = await client.complete(_request(server, model, "first"))
            rest = await asyncio.gather(
                *(client.complete(_request(server, model, f"call {n}")) for n in range(12))
            )
            return [first, *rest]
        finally:
            await client.aclose()

    return asyncio.run(go())


def test_calls_through_the_clients_pool_are_prepared_a_few_at_a_time(
    fake_server: FakeLLMServer,
) -> None:
    paced = LiteLLMClient(max_preparing=2)
    responses = _burst(paced, fake_server, OPENAI)
    assert len(responses) == 13 and all(r.content for r in responses)
    assert len(fake_server.requests) == 13
    stats = paced.send_statistics()
    assert stats is not None
    assert (stats.paced_targets, stats.preparing, stats.waiting, stats.max_preparing) == (
        1,
        0,
        0,
        2,
    )


def test_a_provider_that_bypasses_the_clients_pool_is_never_held_back(
    fake_server: FakeLLMServer,
) -> None:
    # LiteLLM's Anthropic handler makes its own HTTP client: the gate cannot see its requests
    # leave, so it must not pace them.
    unpaced = LiteLLMClient(max_preparing=1)
    responses = _burst(unpaced, fake_server, ANTHROPIC)
    assert len(responses) == 13 and all(r.content for r in responses)
    stats = unpaced.send_statistics()
    assert stats is not None and (stats.paced_targets, stats.max_preparing) == (0, 0)


def test_mock_calls_never_pass_the_send_gate() -> None:
    mocked = LiteLLMClient(max_preparing=1)
    request = LLMRequest(
        model=OPENAI, messages=(Message("user", "hi"),), max_tokens=5, timeout=5, mock_response="ok"
    )

    async def go() -> None:
        try:
            await asyncio.gather(*(mocked.complete(request) for _ in range(5)))
        finally:
            await mocked.aclose()

    asyncio.run(go())
    assert mocked.send_statistics() is None
