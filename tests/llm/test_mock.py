"""MockLLMClient and the JSON Schema sampler behind it."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentflow.errors import MockError
from agentflow.llm.litellm_client import LiteLLMClient
from agentflow.llm.mock import MockLLMClient, build_mock_response, sample_json
from agentflow.llm.types import LLMRequest, LLMResponse, Message, ToolCall, ToolSpec
from agentflow.model.types import freeze, thaw

MODEL = "openai/gpt-4o-mini"
CHECKER = jsonschema.FormatChecker()

RECORD = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "email": {"type": "string", "format": "email"},
        "start_date": {"type": "string", "format": "date"},
        "salary": {"type": "number", "minimum": 30000, "maximum": 90000},
        "level": {"type": "integer", "minimum": 1, "maximum": 5},
        "remote": {"type": "boolean"},
        "status": {"enum": ["approved", "rejected"]},
        "kind": {"const": "employee"},
        "skills": {"type": "array", "items": {"type": "string"}, "minItems": 2},
        "manager": {
            "type": "object",
            "properties": {"name": {"type": "string"}, "id": {"type": "string"}},
            "required": ["name"],
        },
    },
    "required": ["name", "email", "start_date", "salary", "skills", "manager", "status", "kind"],
    "additionalProperties": False,
}
LOOKUP = ToolSpec(
    "lookup_employee",
    "Find an employee record by id.",
    freeze(
        {
            "type": "object",
            "properties": {"employee_id": {"type": "string"}},
            "required": ["employee_id"],
        }
    ),
)
NOTIFY = ToolSpec(
    "notify",
    "Send a message.",
    freeze(
        {
            "type": "object",
            "properties": {
                "to": {"type": "string", "format": "email"},
                "urgent": {"type": "boolean"},
            },
            "required": ["to", "urgent"],
        }
    ),
)


@pytest.fixture(scope="module")
def mock_client() -> Iterator[MockLLMClient]:
    yield MockLLMClient(LiteLLMClient())


def _request(text: str, **extra: Any) -> LLMRequest:
    fields: dict[str, Any] = {
        "model": MODEL,
        "messages": (Message("system", "You are an HR analyst."), Message("user", text)),
        "max_tokens": 300,
        "timeout": 5.0,
    }
    fields.update(extra)
    return LLMRequest(**fields)


def _run(client: MockLLMClient, request: LLMRequest) -> LLMResponse:
    return asyncio.run(client.complete(request))


# ------------------------------------------------------------------ sampler


def test_sample_satisfies_a_realistic_schema_with_formats() -> None:
    for seed in range(50):
        value = sample_json(RECORD, seed)
        jsonschema.validate(value, RECORD, format_checker=CHECKER)
        assert "@" in value["email"] and " " in value["name"]


def test_sample_is_deterministic_per_seed() -> None:
    assert sample_json(RECORD, 7) == sample_json(RECORD, 7)
    assert any(sample_json(RECORD, 7) != sample_json(RECORD, s) for s in range(8, 12))


def test_sample_follows_refs_any_of_and_all_of() -> None:
    schema = {
        "$defs": {
            "item": {
                "type": "object",
                "properties": {"sku": {"type": "string"}},
                "required": ["sku"],
            }
        },
        "type": "object",
        "properties": {
            "items": {"type": "array", "items": {"$ref": "#/$defs/item"}, "minItems": 1},
            "note": {"anyOf": [{"type": "string", "maxLength": 5}, {"type": "null"}]},
            "both": {
                "allOf": [
                    {"properties": {"a": {"type": "integer"}}, "required": ["a"]},
                    {"required": ["b"]},
                ]
            },
            "code": {"type": ["string", "null"], "minLength": 3},
        },
        "required": ["items", "note", "both", "code"],
    }
    for seed in range(20):
        jsonschema.validate(sample_json(schema, seed), schema)


# Patterns as people write them in schemas, built from the generator's subset.
_pattern_atoms = st.sampled_from(
    [
        "[0-9]",
        "[A-Z]",
        "[a-z0-9_]",
        "\\d",
        "\\w",
        "[^,;]",
        "x",
        "INV-",
        "\\.",
        "(ab|cd)",
        "[A-F0-9]",
    ]
)
_pattern_quantifiers = st.sampled_from(["", "", "?", "*", "+", "{4}", "{2,5}", "{1,}"])
_patterns = st.lists(st.tuples(_pattern_atoms, _pattern_quantifiers), min_size=1, max_size=4).map(
    lambda parts: "".join(atom + q for atom, q in parts)
)
_anchored = st.builds(
    lambda body, start, end, alt: (
        ("^" if start else "") + (f"(?:{body}|{alt})" if alt else body) + ("$" if end else "")
    ),
    _patterns,
    st.booleans(),
    st.booleans(),
    st.none() | _patterns,
)

_leaf = st.one_of(
    st.just({"type": "string"}),
    st.just({"type": "boolean"}),
    st.just({"type": "null"}),
    st.sampled_from(
        [{"type": "string", "format": f} for f in ("date", "date-time", "email", "uuid", "uri")]
    ),
    _anchored.map(lambda p: {"type": "string", "pattern": p}),
    st.sampled_from(
        [
            {"type": "string", "pattern": "^INV-[0-9]{4}$"},
            {"type": "string", "pattern": "^[A-Z]{3}-\\d{2,4}$", "minLength": 7},
            {"type": "string", "pattern": "^E\\d{4}$", "examples": ["E1002", "bad", 7]},
            {"type": "string", "pattern": "^[a-z]+(?:-[a-z]+)*$", "maxLength": 12},
            {"pattern": "^PO-45\\d{5}$"},
        ]
    ),
    st.builds(
        lambda lo, span: {"type": "integer", "minimum": lo, "maximum": lo + span},
        st.integers(-1000, 1000),
        st.integers(0, 50),
    ),
    st.builds(
        lambda lo, span, excl: {
            "type": "number",
            "exclusiveMinimum" if excl else "minimum": lo,
            "maximum": lo + span,
        },
        st.floats(-1e4, 1e4, allow_nan=False),
        st.floats(0.5, 100),
        st.booleans(),
    ),
    st.builds(
        lambda m: {"type": "integer", "multipleOf": m, "minimum": 0, "maximum": 100},
        st.integers(1, 9),
    ),
    st.builds(
        lambda step, lo: {"type": "number", "multipleOf": step, "minimum": lo, "maximum": lo + 50},
        st.sampled_from([0.01, 0.05, 0.1, 0.25, 0.5]),
        st.integers(-100, 100),
    ),
    st.builds(
        lambda lo, extra: {"type": "string", "minLength": lo, "maxLength": lo + extra},
        st.integers(0, 10),
        st.integers(0, 10),
    ),
    st.lists(
        st.one_of(st.text(max_size=5), st.integers(), st.booleans()),
        min_size=1,
        max_size=4,
        unique=True,
    ).map(lambda values: {"enum": values}),
    st.lists(st.text(max_size=5), min_size=1, max_size=3, unique=True).map(
        lambda values: {"type": "string", "enum": [*values, 3]}  # 3 is not a string: skipped
    ),
    st.one_of(st.integers(), st.text(max_size=5)).map(lambda v: {"const": v}),
    st.sampled_from(
        [
            {"type": "string", "examples": ["E1002", "E1007"]},
            {"type": "integer", "examples": [-5, 3, "x"], "minimum": 0},  # only 3 fits
            {"type": "integer", "default": 3, "minimum": 1, "maximum": 10},
            {"type": "string", "format": "date", "examples": ["2025-03-17", "not a date"]},
            {"type": "string", "default": "toolong", "maxLength": 3},  # the default is skipped
            {"oneOf": [{"type": "string"}, {"type": "integer"}]},
            {"oneOf": [{"type": "number"}, {"type": "integer"}]},  # a non-integral number
            {"anyOf": [{"type": "string", "pattern": "^(?=x)"}, {"type": "boolean"}]},
            {"allOf": [{"type": "string"}, {"minLength": 4}, {"pattern": "^[a-z]+$"}]},
            {"type": ["string", "null"], "minLength": 3},
            {"$ref": "#/$defs/code"},
        ]
    ),
)
_names = st.sampled_from(
    ["name", "email", "amount", "start_date", "id", "score", "notes", "x", "city", "age"]
)
DEFS = {"code": {"type": "string", "pattern": "^[A-Z]{2}[0-9]{3}$"}}


def _extend(children: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    arrays = st.builds(
        lambda items, lo, extra, unique: {
            "type": "array",
            "items": items,
            "minItems": lo,
            "maxItems": lo + extra,
            **({"uniqueItems": True, "minItems": min(lo, 1)} if unique else {}),
        },
        children,
        st.integers(0, 3),
        st.integers(0, 3),
        st.booleans(),
    )
    objects = st.builds(
        lambda props, data: {
            "type": "object",
            "properties": props,
            "required": sorted(data.draw(st.sets(st.sampled_from(sorted(props))))) if props else [],
            "additionalProperties": data.draw(st.booleans()),
            **({"minProperties": len(props)} if props and data.draw(st.booleans()) else {}),
        },
        st.dictionaries(_names, children, max_size=4),
        st.data(),
    )
    unions = st.lists(children, min_size=1, max_size=3).map(lambda options: {"anyOf": options})
    return st.one_of(arrays, objects, unions)


SCHEMAS = st.recursive(_leaf, _extend, max_leaves=12).map(lambda s: {**s, "$defs": DEFS})


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(schema=SCHEMAS, seed=st.integers(0, 2**32))
def test_sample_satisfies_random_schemas(schema: dict[str, Any], seed: int) -> None:
    value = sample_json(schema, seed)
    jsonschema.validate(value, schema, cls=jsonschema.Draft202012Validator, format_checker=CHECKER)
    assert sample_json(schema, seed) == value


@settings(max_examples=200, deadline=None)
@given(pattern=_anchored, seed=st.integers(0, 2**32))
def test_sample_matches_any_pattern_of_the_usual_subset(pattern: str, seed: int) -> None:
    value = sample_json({"type": "string", "pattern": pattern}, seed)
    assert re.search(pattern, value), (pattern, value)


def test_values_the_schema_offers_come_first() -> None:
    for seed in range(20):
        assert sample_json({"type": "string", "examples": ["E1002", "E1007"]}, seed) in (
            "E1002",
            "E1007",
        )
        assert sample_json({"type": "integer", "default": 3}, seed) == 3
        assert sample_json({"type": "string", "enum": ["Finance", "IT"]}, seed) in ("Finance", "IT")
        # An example the schema itself refuses is never used.
        assert sample_json({"type": "string", "maxLength": 3, "examples": ["long"]}, seed) != "long"
    invoice = {"type": "string", "pattern": "^INV-[0-9]{4}$"}
    assert all(re.fullmatch(r"INV-[0-9]{4}", sample_json(invoice, s)) for s in range(50))


def test_a_pattern_beyond_the_generator_is_an_explicit_mock_error() -> None:
    schema = {
        "type": "object",
        "properties": {"code": {"type": "string", "pattern": "^(?=[A-Z])\\w{3}$"}},
        "required": ["code"],
    }
    with pytest.raises(MockError) as caught:
        sample_json(schema, 1)
    message = str(caught.value)
    assert "/properties/code" in message and "(?=" in message and "examples" in message
    assert caught.value.error_class == "mock_error" and not caught.value.retryable
    # With an example, the same schema is fine.
    schema["properties"]["code"]["examples"] = ["ABC"]
    assert sample_json(schema, 1) == {"code": "ABC"}


def test_an_impossible_schema_is_a_mock_error_not_an_invalid_value() -> None:
    for schema in (
        {"type": "string", "pattern": "^[0-9]{3}$", "minLength": 5},
        {"type": "string", "enum": [1, 2]},
        {"type": "object", "required": ["x"], "additionalProperties": False},
        {"type": "array", "items": {"enum": ["a"]}, "minItems": 2, "uniqueItems": True},
    ):
        with pytest.raises(MockError):
            sample_json(schema, 3)


# ------------------------------------------------------------------ mock responses


def test_mock_answer_is_deterministic_and_about_the_prompt() -> None:
    request = _request("Summarise the onboarding checklist for Ada.")
    first, second = build_mock_response(request), build_mock_response(request)
    assert first["choices"] == second["choices"] and first["usage"] == second["usage"]
    content = first["choices"][0]["message"]["content"]
    assert "onboarding checklist" in content and len(content.split(". ")) >= 3
    other = build_mock_response(_request("Draft a procurement policy."))
    assert other["choices"][0]["message"]["content"] != content


def test_mock_client_answers_through_litellm_with_schema_and_usage(
    mock_client: MockLLMClient,
) -> None:
    response = _run(
        mock_client, _request("Parse the resume of Ada Lovelace.", response_schema=freeze(RECORD))
    )
    assert response.content is not None
    jsonschema.validate(json.loads(response.content), RECORD, format_checker=CHECKER)
    assert response.input_tokens > 10 and response.output_tokens > 10
    assert response.finish_reason == "stop"
    again = _run(
        mock_client, _request("Parse the resume of Ada Lovelace.", response_schema=freeze(RECORD))
    )
    assert again == response


def test_prompt_tokens_grow_with_the_prompt(mock_client: MockLLMClient) -> None:
    short = _run(mock_client, _request("Hi."))
    long = _run(mock_client, _request("Please review this ledger line. " * 200))
    assert long.input_tokens > short.input_tokens * 20


def test_each_tool_is_called_once_then_a_final_answer(mock_client: MockLLMClient) -> None:
    request = _request("Find E1 and notify their manager.", tools=(LOOKUP, NOTIFY))
    first = _run(mock_client, request)
    assert [c.name for c in first.tool_calls] == ["lookup_employee", "notify"]
    assert first.finish_reason == "tool_calls" and first.content is None
    for call, tool in zip(first.tool_calls, (LOOKUP, NOTIFY), strict=True):
        jsonschema.validate(json.loads(call.arguments), thaw(tool.parameters))
    results = tuple(
        Message(
            "tool", json.dumps({"ok": True, "name": "Ada Lovelace"}), tool_call_id=c.id, name=c.name
        )
        for c in first.tool_calls
    )
    follow_up = LLMRequest(
        model=MODEL,
        messages=(
            *request.messages,
            Message("assistant", None, tool_calls=first.tool_calls),
            *results,
        ),
        max_tokens=300,
        timeout=5.0,
        tools=request.tools,
    )
    final = _run(mock_client, follow_up)
    assert final.tool_calls == () and final.finish_reason == "stop"
    assert final.content is not None and "Ada Lovelace" in final.content


def test_final_answer_after_tools_satisfies_the_schema(mock_client: MockLLMClient) -> None:
    call = ToolCall("call_1", "lookup_employee", '{"employee_id": "E1"}')
    request = _request(
        "Score E1.",
        tools=(LOOKUP,),
        response_schema=freeze(RECORD),
    )
    request = LLMRequest(
        model=MODEL,
        messages=(
            *request.messages,
            Message("assistant", None, tool_calls=(call,)),
            Message("tool", "{}", tool_call_id="call_1"),
        ),
        max_tokens=300,
        timeout=5.0,
        tools=(LOOKUP,),
        response_schema=freeze(RECORD),
    )
    response = _run(mock_client, request)
    jsonschema.validate(json.loads(response.content or ""), RECORD)


def test_json_mode_answers_a_json_object(mock_client: MockLLMClient) -> None:
    response = _run(mock_client, _request("Classify this invoice.", json_mode=True))
    assert isinstance(json.loads(response.content or ""), dict)


def test_latency_is_awaited_with_the_injected_sleep() -> None:
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)

    client = MockLLMClient(LiteLLMClient(), latency_s=0.75, sleep=fake_sleep)
    _run(client, _request("hello"))
    assert slept == [0.75]


def test_mock_calls_never_reach_the_network(
    mock_client: MockLLMClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY"):
        monkeypatch.delenv(key, raising=False)
    response = _run(
        mock_client,
        _request("hello", model="anthropic/claude-sonnet-4-5", api_base="http://127.0.0.1:9"),
    )
    assert response.content


@pytest.mark.parametrize(
    "module", ["agentflow.llm.mock", "agentflow.llm.types", "agentflow.llm.litellm_client"]
)
def test_importing_llm_modules_does_not_import_litellm(module: str) -> None:
    code = f"import sys, {module}; print('litellm' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_mock_accepts_a_model_litellm_cannot_route(mock_client: MockLLMClient) -> None:
    response = _run(mock_client, _request("Price check.", model="my-local/model"))
    assert response.content and response.input_tokens > 0


INVOICE = {
    "type": "object",
    "properties": {
        "invoice_id": {"type": "string", "pattern": "^INV-[0-9]{4}$"},
        "total": {"type": "number", "minimum": 0, "multipleOf": 0.01},
    },
    "required": ["invoice_id", "total"],
    "additionalProperties": False,
}


def test_mock_answer_satisfies_an_output_schema_with_a_pattern() -> None:
    for text in ("Parse invoice 1.", "Parse invoice 2.", "Parse invoice 3."):
        request = _request(text, response_schema=freeze(INVOICE))
        content = build_mock_response(request)["choices"][0]["message"]["content"]
        jsonschema.validate(json.loads(content), INVOICE)


def test_mock_tool_arguments_use_the_examples_the_tool_knows() -> None:
    lookup = ToolSpec(
        "lookup_employee",
        "Find an employee record by id.",
        freeze(
            {
                "type": "object",
                "properties": {
                    "employee_id": {
                        "type": "string",
                        "pattern": "^E[0-9]{4}$",
                        "examples": ["E1002", "E1003"],
                    },
                    "department": {"type": "string", "enum": ["Finance", "IT"]},
                },
                "required": ["employee_id", "department"],
            }
        ),
    )
    for text in ("Look up the manager.", "Who is E1002?", "Find the buddy."):
        message = build_mock_response(_request(text, tools=(lookup,)))["choices"][0]["message"]
        arguments = json.loads(message["tool_calls"][0]["function"]["arguments"])
        assert arguments["employee_id"] in ("E1002", "E1003")
        assert arguments["department"] in ("Finance", "IT")


def test_a_schema_the_mock_cannot_meet_fails_the_call_with_its_name(
    mock_client: MockLLMClient,
) -> None:
    odd = ToolSpec(
        "odd",
        "A tool whose id needs a lookahead.",
        freeze(
            {
                "type": "object",
                "properties": {"id": {"pattern": "^(?!0)[0-9]{3}$"}},
                "required": ["id"],
            }
        ),
    )
    with pytest.raises(MockError) as caught:
        _run(mock_client, _request("Call it.", tools=(odd,)))
    assert "tool 'odd' parameters" in str(caught.value)
    assert "/properties/id" in str(caught.value)
    schema = {"type": "object", "properties": {"n": {"const": 1}}, "required": ["m"]}
    schema["additionalProperties"] = False
    with pytest.raises(MockError, match="output schema"):
        build_mock_response(_request("Answer.", response_schema=freeze(schema)))


def test_schemas_equal_in_python_but_not_in_json_are_checked_apart() -> None:
    # `enum: [false]` and `enum: [0]` compare equal as Python data; checking one must not
    # reuse the other's validator.
    assert sample_json({"enum": [False]}, 0) is False
    value = sample_json({"enum": [0]}, 0)
    assert value == 0 and value is not False
