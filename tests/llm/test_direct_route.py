"""The direct HTTP route for `openai/...` models at an `api_base` changes nothing users see.

Every scenario runs twice against the fake server, once through LiteLLM's HTTP handler
(`direct_http=True`, the default) and once through the OpenAI SDK (`direct_http=False`),
and compares what the engine reads: content, usage, finish reason, tool calls, cost, rate
limit hints, and for failures the error class, status, retry-after, hints and message.
Anthropic calls never take the route; they are compared too.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from agentflow import errors
from agentflow.llm.litellm_client import LiteLLMClient, direct_route
from agentflow.llm.types import LLMRequest, LLMResponse, Message, ToolCall, ToolSpec
from agentflow.model.types import freeze
from agentflow.plan.pricing import load_price_book
from agentflow.run.calls import priced
from tests.fakeserver import FakeLLMServer, Scripted

OPENAI = "openai/gpt-4o-mini"
UNPRICED = "openai/acme-local-model-7b"
ANTHROPIC = "anthropic/claude-sonnet-4-5"

LOOKUP = ToolSpec(
    name="lookup",
    description="Find a record.",
    parameters=freeze(
        {
            "type": "object",
            "properties": {"id": {"type": "string"}, "strict": {"type": "boolean"}},
            "required": ["id"],
            "additionalProperties": False,
        }
    ),
)
SCHEMA = freeze(
    {
        "type": "object",
        "properties": {"name": {"type": "string"}, "score": {"type": "integer"}},
        "required": ["name", "score"],
        "additionalProperties": False,
    }
)


@pytest.fixture(autouse=True)
def _dummy_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-0000000000000000")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-0000000000000000")


class _Recording(LiteLLMClient):
    """A client that remembers the model name each call handed to LiteLLM."""

    def __init__(self, *, direct_http: bool) -> None:
        super().__init__(direct_http=direct_http)
        self.sent_models: list[str] = []

    async def _acompletion(
        self, kwargs: dict[str, Any], model: str, api_key_env: str | None = None
    ) -> LLMResponse:
        self.sent_models.append(kwargs["model"])
        return await super()._acompletion(kwargs, model, api_key_env)


@pytest.fixture(scope="module")
def clients() -> Iterator[tuple[_Recording, _Recording]]:
    yield _Recording(direct_http=True), _Recording(direct_http=False)


def _request(server: FakeLLMServer, model: str, text: str, **extra: Any) -> LLMRequest:
    fields: dict[str, Any] = {
        "model": model,
        "messages": (Message("system", "You are terse."), Message("user", text)),
        "max_tokens": 64,
        "timeout": 5.0,
        "api_base": server.base_url if model.startswith("openai/") else server.url,
    }
    fields.update(extra)
    return LLMRequest(**fields)


def _outcome(client: LiteLLMClient, request: LLMRequest) -> tuple[str, Any]:
    async def go() -> LLMResponse:
        try:
            return await client.complete(request)
        finally:
            await client.aclose()

    try:
        return "answer", asyncio.run(go())
    except errors.LLMError as exc:
        return "error", (type(exc), exc.status_code, exc.retry_after, exc.rate_limits, str(exc))


def _both(
    clients: tuple[_Recording, _Recording], server: FakeLLMServer, request: LLMRequest
) -> tuple[tuple[str, Any], tuple[str, Any], list[Any], list[Any]]:
    direct, sdk = clients
    direct.sent_models.clear()
    sdk.sent_models.clear()
    server.reset()
    first = _outcome(direct, request)
    first_seen = [(r.path, r.body, r.tokens) for r in server.requests]
    server.reset()
    second = _outcome(sdk, request)
    second_seen = [(r.path, r.body, r.tokens) for r in server.requests]
    return first, second, first_seen, second_seen


def _same_answers(first: LLMResponse, second: LLMResponse) -> None:
    # LiteLLM's own cost is not attached on the direct route; the engine prices from the
    # same price list (compared in `test_the_cost_the_engine_records_is_the_same`).
    assert first == type(first)(**{**_fields(second), "provider_cost_usd": first.provider_cost_usd})


def _fields(response: LLMResponse) -> dict[str, Any]:
    return {name: getattr(response, name) for name in LLMResponse.__slots__}


# ------------------------------------------------------------------ which calls take it


def test_only_openai_calls_at_an_api_base_without_tools_are_rerouted(
    clients: tuple[_Recording, _Recording], fake_server: FakeLLMServer
) -> None:
    kwargs: dict[str, Any] = {"model": OPENAI, "api_base": "http://127.0.0.1:9/v1"}
    direct_route(kwargs)
    assert kwargs["model"] == "hosted_vllm/gpt-4o-mini"
    assert kwargs["api_key"] == "sk-test-0000000000000000"  # what the openai/ route reads
    for unchanged in (
        {"model": OPENAI},  # the real OpenAI endpoint
        {"model": OPENAI, "api_base": "http://h/v1", "tools": [{"type": "function"}]},
        {"model": ANTHROPIC, "api_base": "http://h"},
        {"model": "openai/gpt-image-2", "api_base": "http://h/v1"},  # no output token price
    ):
        before = dict(unchanged)
        direct_route(unchanged)
        assert unchanged == before
    direct, sdk = clients
    _both(clients, fake_server, _request(fake_server, OPENAI, "hello"))
    assert direct.sent_models == ["hosted_vllm/gpt-4o-mini"]
    assert sdk.sent_models == [OPENAI]


# ------------------------------------------------------------------ answers


@pytest.mark.parametrize("model", [OPENAI, UNPRICED, ANTHROPIC])
@pytest.mark.parametrize(
    "extra",
    [
        {},
        {"temperature": 0.2},
        {"response_schema": SCHEMA},
        {"json_mode": True},
        {"api_key_env": "OTHER_KEY"},
    ],
    ids=["text", "temperature", "json_schema", "json_mode", "api_key_env"],
)
def test_answers_and_the_requests_sent_are_the_same(
    clients: tuple[_Recording, _Recording],
    fake_server: FakeLLMServer,
    monkeypatch: pytest.MonkeyPatch,
    model: str,
    extra: dict[str, Any],
) -> None:
    monkeypatch.setenv("OTHER_KEY", "sk-other-1111111111111111")
    first, second, first_seen, second_seen = _both(
        clients, fake_server, _request(fake_server, model, "Score Ada.", **extra)
    )
    assert first[0] == second[0] == "answer"
    _same_answers(first[1], second[1])
    assert first_seen == second_seen and len(first_seen) == 1
    assert first[1].input_tokens > 0 and first[1].output_tokens > 0


def test_the_key_the_server_checks_is_the_same(
    clients: tuple[_Recording, _Recording],
    fake_server: FakeLLMServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for key_env, key in (("OPENAI_API_KEY", "sk-test-0000000000000000"), ("MINE", "sk-mine-22")):
        monkeypatch.setenv("MINE", "sk-mine-22")
        extra = {"api_key_env": key_env} if key_env == "MINE" else {}
        request = _request(fake_server, OPENAI, "hello", **extra)
        direct, sdk = clients
        for client in (direct, sdk):
            fake_server.reset()
            fake_server.configure(api_key=key)
            assert _outcome(client, request)[0] == "answer"
            fake_server.configure(api_key="sk-someone-else")
            kind, detail = _outcome(client, request)
            assert kind == "error" and detail[0] is errors.AuthenticationFailed
            assert key not in detail[4]


def test_usage_headers_cost_and_rate_limit_hints_are_the_same(
    clients: tuple[_Recording, _Recording], fake_server: FakeLLMServer
) -> None:
    request = _request(fake_server, UNPRICED, "hello")
    results = []
    for client in clients:
        fake_server.reset()
        fake_server.configure(usage=(111, 22), response_cost=0.0021, enforce_rpm=600)
        results.append(_outcome(client, request))
    (kind_a, first), (kind_b, second) = results
    assert kind_a == kind_b == "answer"
    assert first == second
    assert (first.input_tokens, first.output_tokens) == (111, 22)
    assert first.provider_cost_usd == pytest.approx(0.0021)
    assert first.rate_limits is not None and first.rate_limits.limit_requests == 600


@pytest.mark.parametrize("model", [OPENAI, UNPRICED])
def test_the_cost_the_engine_records_is_the_same(
    clients: tuple[_Recording, _Recording], fake_server: FakeLLMServer, model: str
) -> None:
    book = load_price_book()
    first, second, _, _ = _both(clients, fake_server, _request(fake_server, model, "hello"))
    assert priced(book, model, first[1]) == priced(book, model, second[1])
    cost, source = priced(book, model, first[1])
    if model == OPENAI:
        assert source == "price_map" and cost is not None and cost > 0
    else:
        assert (cost, source) == (None, None)  # unknown, never a made-up zero


def test_tool_calls_keep_the_sdk_route_and_match(
    clients: tuple[_Recording, _Recording], fake_server: FakeLLMServer
) -> None:
    request = _request(fake_server, OPENAI, "Find r1 [[tools]]", tools=(LOOKUP,))
    first, second, first_seen, second_seen = _both(clients, fake_server, request)
    assert clients[0].sent_models == [OPENAI]  # a tool schema would be rewritten
    assert first == second and first_seen == second_seen
    assert first[1].tool_calls and first[1].finish_reason == "tool_calls"
    offered = first_seen[0][1]["tools"][0]["function"]["parameters"]
    assert offered["additionalProperties"] is False and "strict" in offered["properties"]
    call = first[1].tool_calls[0]
    messages = (
        Message("user", "Find r1 [[tools]]"),
        Message("assistant", None, tool_calls=(ToolCall(call.id, call.name, call.arguments),)),
        Message("tool", '{"found": true}', tool_call_id=call.id, name="lookup"),
    )
    final = _both(clients, fake_server, _request(fake_server, OPENAI, "", messages=messages))
    assert final[0][0] == final[1][0] == "answer"
    _same_answers(final[0][1], final[1][1])


# ------------------------------------------------------------------ failures


@pytest.mark.parametrize(
    "text",
    [
        "go [[fail=429,retry_after=2]]",
        "go [[fail=429,retry_after_ms=1500]]",
        "go [[fail=429,code=insufficient_quota]]",
        "go [[fail=500]]",
        "go [[fail=503,retry_after=4]]",
        "go [[fail=529]]",
        "go [[fail=401]]",
        "go [[fail=401,bare]]",
        "go [[fail=403]]",
        "go [[fail=404]]",
        "go [[fail=400]]",
        "go [[fail=408]]",
        "go [[fail=413]]",
        "go [[fail=422]]",
        "go [[empty_choices]]",
    ],
)
@pytest.mark.parametrize("model", [OPENAI, ANTHROPIC])
def test_failures_are_the_same_errors(
    clients: tuple[_Recording, _Recording], fake_server: FakeLLMServer, model: str, text: str
) -> None:
    first, second, first_seen, second_seen = _both(
        clients, fake_server, _request(fake_server, model, text)
    )
    assert first[0] == "error"
    assert first == second
    assert len(first_seen) == len(second_seen) == 1  # LiteLLM retried neither


def test_a_scripted_message_and_rate_limit_headers_on_a_429_are_the_same(
    clients: tuple[_Recording, _Recording], fake_server: FakeLLMServer
) -> None:
    results = []
    for client in clients:
        fake_server.reset()
        fake_server.configure(enforce_rpm=60, enforce_burst=1)
        fake_server.enqueue(Scripted(fail=500, message="upstream {api_key} exploded"))
        request = _request(fake_server, OPENAI, "hello")
        results.append([_outcome(client, request) for _ in range(3)])
    # Retry-after counts down between the two runs: compared to the nearest second.
    assert [_rounded(outcome) for outcome in results[0]] == [
        _rounded(outcome) for outcome in results[1]
    ]
    kinds = [detail[0] for _, detail in results[0]]
    assert kinds[0] is errors.ServerError and errors.RateLimited in kinds
    limited = next(d for _, d in results[0] if d[0] is errors.RateLimited)
    assert limited[3] is not None and limited[3].limit_requests == 60
    assert "sk-test" not in results[0][0][1][4]


def _rounded(outcome: tuple[str, Any]) -> tuple[Any, ...]:
    kind, (cls, status, retry_after, hints, message) = outcome
    limit = None if hints is None else hints.limit_requests
    return kind, cls, status, None if retry_after is None else round(retry_after), limit, message


@pytest.mark.parametrize("model", [OPENAI, ANTHROPIC])
def test_timeouts_and_refused_connections_are_the_same(
    clients: tuple[_Recording, _Recording], fake_server: FakeLLMServer, model: str
) -> None:
    hang = _request(fake_server, model, "wait [[hang]]", timeout=0.3)
    first, second, _, _ = _both(clients, fake_server, hang)
    assert first[0] == second[0] == "error"
    assert first[1][0] is second[1][0] is errors.LLMTimeout
    refused = _request(fake_server, model, "hi", api_base="http://127.0.0.1:9/v1")
    outcomes = [_outcome(client, refused) for client in clients]
    assert outcomes[0][1][0] is outcomes[1][1][0] is errors.ConnectFailed


# ------------------------------------------------------------------ memory

_TOKENIZER_PROBE = """
import asyncio, sys
from agentflow.llm.litellm_client import LiteLLMClient
from agentflow.llm.types import LLMRequest, Message

base = sys.argv[1]
request = LLMRequest(
    model="openai/gpt-4o-mini", messages=(Message("user", "hi"),), max_tokens=8, timeout=5.0,
    api_base=base,
)

async def run():
    client = LiteLLMClient()
    try:
        await client.warm_up([(request.model, base)])
        return await client.complete(request)
    finally:
        await client.aclose()

answer = asyncio.run(run())
loaded = "litellm.litellm_core_utils.default_encoding" in sys.modules
import litellm, litellm.main, tiktoken
tokens = litellm.encoding.encode("hello world")
real = isinstance(vars(litellm.main)["encoding"], tiktoken.Encoding)
print(answer.input_tokens > 0, loaded, tokens, real)
"""


def test_the_direct_route_loads_litellms_tokenizer_only_when_something_uses_it(
    fake_server: FakeLLMServer,
) -> None:
    # A fresh process: another test may have loaded the tokenizer in this one. The route's
    # provider is handed LiteLLM's default tokenizer (cl100k_base, ~40 MB) on every call and
    # never reads it; used, it is the real one.
    result = subprocess.run(
        [sys.executable, "-c", _TOKENIZER_PROBE, fake_server.base_url],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split("\n")[-2] == "True False [15339, 1917] True"
