"""Fingerprints: one per distinct request, stable across processes and dict orders."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys

import pytest

from agentflow.llm.types import LLMRequest, Message, ToolCall, ToolSpec
from agentflow.model.types import FrozenDict
from agentflow.state.fingerprint import fingerprint


def request(**changes: object) -> LLMRequest:
    base = LLMRequest(
        model="openai/gpt-4o-mini",
        messages=(
            Message("system", "You are terse."),
            Message("user", "Total of invoice INV-0001?"),
            Message(
                "assistant", None, tool_calls=(ToolCall("c1", "lookup", '{"id": "INV-0001"}'),)
            ),
            Message("tool", '{"total": 12}', tool_call_id="c1", name="lookup"),
        ),
        max_tokens=200,
        timeout=30.0,
        temperature=0.2,
        tools=(
            ToolSpec(
                "lookup",
                "Find an invoice.",
                FrozenDict({"type": "object", "properties": {"id": {"type": "string"}}}),
            ),
        ),
        response_schema=FrozenDict({"type": "object", "required": ["total"]}),
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_the_same_request_has_the_same_fingerprint() -> None:
    assert fingerprint(request()) == fingerprint(request())
    assert len(fingerprint(request())) == 64


def test_dict_order_in_schemas_does_not_change_the_fingerprint() -> None:
    a = request(response_schema=FrozenDict({"type": "object", "required": ["total"]}))
    b = request(response_schema=FrozenDict({"required": ["total"], "type": "object"}))
    assert fingerprint(a) == fingerprint(b)


def test_the_timeout_does_not_change_the_fingerprint() -> None:
    assert fingerprint(request(timeout=5.0)) == fingerprint(request(timeout=500.0))


@pytest.mark.parametrize(
    "change",
    [
        {"model": "openai/gpt-4o"},
        {"max_tokens": 201},
        {"temperature": 0.3},
        {"temperature": None},
        {"api_base": "http://127.0.0.1:9/v1"},
        {"json_mode": True},
        {"response_schema": None},
        {"tools": ()},
        {"messages": (Message("user", "Total of invoice INV-0002?"),)},
        {"mock_response": {"content": "x"}},
    ],
)
def test_any_parameter_that_can_change_the_answer_changes_the_fingerprint(
    change: dict[str, object],
) -> None:
    assert fingerprint(request(**change)) != fingerprint(request())


def test_a_tool_result_changes_the_fingerprint() -> None:
    messages = list(request().messages)
    messages[-1] = Message("tool", '{"total": 13}', tool_call_id="c1", name="lookup")
    assert fingerprint(request(messages=tuple(messages))) != fingerprint(request())


def test_fingerprints_are_stable_across_processes_and_hash_seeds() -> None:
    code = (
        "from tests.state.test_fingerprint import request;"
        "from agentflow.state.fingerprint import fingerprint;"
        "print(fingerprint(request()))"
    )
    seen = set()
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        seen.add(done.stdout.strip())
    assert seen == {fingerprint(request())}


def test_a_mock_answer_never_stands_in_for_a_providers() -> None:
    # The mock client sets mock_response after the engine took the fingerprint: the run
    # says it is a mock run, so `run --mock --cache` never feeds a later real run.
    assert fingerprint(request(), mock=True) != fingerprint(request())
    assert fingerprint(request(mock_response={"content": "x"})) == fingerprint(request(), mock=True)
