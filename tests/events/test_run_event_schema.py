"""Every event the engine emits, as written by the JSONL sink, matches schemas/run-event.schema.json."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from agentflow.events.bus import EventBus
from agentflow.events.types import EVENT_NAMES
from agentflow.sinks.jsonl import JsonlSink

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "schemas" / "run-event.schema.json"

RUN: dict[str, Any] = {}
WORKFLOW = {"workflow": "hr_onboarding", "instance": 0}
AGENT = {**WORKFLOW, "agent": "screen"}
USAGE = {"input_tokens": 812, "output_tokens": 95, "calls": 2, "duration_s": 3.2, "attempts": 2}
COUNTS = {"completed": 3, "failed": 1, "skipped": 1}

# One realistic sample of every event: (envelope fields, data fields).
SAMPLES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "run.started": (
        RUN,
        {
            "workflows": ["hr_onboarding"],
            "instances": 1,
            "mock": False,
            "budget_usd": 0.5,
            "max_concurrency": 50,
            "price_map": {"litellm_version": "1.77.0", "sha256": "ab" * 32, "overrides": {}},
            "log_path": ".agentflow/runs/r1.jsonl",
        },
    ),
    "workflow.started": (WORKFLOW, {"inputs": {"role": "Backend Engineer"}, "agents": 5}),
    "agent.started": (AGENT, {"model": "openai/gpt-4o-mini", "items": None}),
    "llm.request": (
        AGENT,
        {
            "model": "openai/gpt-4o-mini",
            "attempt": 1,
            "round": 0,
            "index": None,
            "prompt_tokens_est": 420,
            "max_tokens": 600,
        },
    ),
    "llm.response": (
        AGENT,
        {
            "model": "openai/gpt-4o-mini",
            "attempt": 1,
            "round": 0,
            "index": 3,
            "input_tokens": 406,
            "output_tokens": 48,
            "cost_usd": None,
            "latency_s": 1.25,
            "finish_reason": "stop",
            "tool_calls": 0,
        },
    ),
    "llm.abandoned": (
        AGENT,
        {
            "model": "openai/gpt-4o-mini",
            "attempt": 1,
            "round": 0,
            "index": None,
            "reason": "timeout",
            "sent": True,
            "unconfirmed_cost_usd": 0.00042,
            "waited_s": 30.0,
        },
    ),
    "llm.retry": (
        AGENT,
        {
            "model": "openai/gpt-4o-mini",
            "attempt": 1,
            "delay_s": 2.0,
            "error_class": "RateLimited",
            "message": "429 Too Many Requests",
            "index": None,
        },
    ),
    "llm.repair": (
        AGENT,
        {
            "model": "openai/gpt-4o-mini",
            "round": 0,
            "index": None,
            "repair": 1,
            "of": 1,
            "error_class": "output_invalid",
            "message": "the answer is not valid JSON (Expecting value at line 1 column 1): 'Sure!'",
        },
    ),
    "llm.fallback": (
        AGENT,
        {
            "model": "openai/gpt-4o-mini",
            "to_model": "anthropic/claude-3-5-haiku-20241022",
            "error_class": "server_error",
            "message": "fake 503: server_error",
            "round": 0,
            "index": None,
        },
    ),
    "ratelimit.wait": (
        AGENT,
        {"key": "openai/*", "reason": "rpm", "expected_wait_s": 0.4, "model": "openai/gpt-4o-mini"},
    ),
    "ratelimit.adjusted": (
        AGENT,
        {
            "model": "openai/gpt-4o-mini",
            "reason": "rate_limited",
            "rpm": 199.5,
            "tpm": None,
            "max_concurrent": None,
            "provider_rpm": 300,
            "provider_tpm": None,
        },
    ),
    "budget.wait": (
        AGENT,
        {
            "scope": "standing:nightly@2026-12-02",
            "requested_usd": 0.00214,
            "model": "openai/gpt-4o",
            "index": None,
        },
    ),
    "budget.warning": (
        RUN,
        {"scope": "run", "spent_usd": 0.41, "limit_usd": 0.5, "fraction": 0.82},
    ),
    "budget.exceeded": (
        AGENT,
        {
            "scope": "agent",
            "spent_usd": 0.049,
            "limit_usd": 0.05,
            "requested_usd": 0.003,
            "action": "skip_noncritical",
        },
    ),
    "tool.call": (
        AGENT,
        {
            "tool": "lookup_employee",
            "call_id": "call_1",
            "arguments": '{"employee_id": "E42"}',
            "round": 1,
            "index": None,
        },
    ),
    "tool.result": (
        AGENT,
        {
            "tool": "lookup_employee",
            "call_id": "call_1",
            "ok": True,
            "duration_s": 0.01,
            "output": '{"name": "Ada"}',
            "index": None,
        },
    ),
    "agent.reused": (
        AGENT,
        {"status": "completed", "from_run_id": "r0", "original_cost_usd": 0.00021},
    ),
    "agent.completed": (
        AGENT,
        {"model": "openai/gpt-4o-mini", "output": {"score": 8}, "cost_usd": 0.00021, **USAGE},
    ),
    "agent.failed": (
        AGENT,
        {
            "model": "openai/gpt-4o-mini",
            "error_class": "OutputInvalid",
            "message": "at 'score': 'high' is not of type 'integer'",
            "cost_usd": 0.0002,
            **USAGE,
        },
    ),
    "agent.skipped": (AGENT, {"reason": "dependency_failed", "detail": "parse_resume failed"}),
    "workflow.output_failed": (
        WORKFLOW,
        {
            "output": "total",
            "error_class": "template_error",
            "message": "undefined value: 'dict object' has no attribute 'totl'",
        },
    ),
    "workflow.deadline_missed": (
        WORKFLOW,
        {
            "deadline_s": 600.0,
            "at": "2026-11-24T12:10:01.250Z",
            "on_deadline": "warn",
            "pending_agents": 3,
        },
    ),
    "workflow.completed": (
        WORKFLOW,
        {
            "status": "partial",
            "outputs": {"decision": None},
            "cost_usd": 0.0009,
            "duration_s": 7.5,
            "agents": COUNTS,
        },
    ),
    "run.completed": (
        RUN,
        {
            "status": "partial",
            "exit_code": 4,
            "duration_s": 7.6,
            "totals": {
                "cost_usd": 0.0009,
                "unknown_cost_calls": 1,
                "input_tokens": 2400,
                "output_tokens": 310,
                "calls": 6,
                "retries": 1,
                "agents": COUNTS,
                "workflows": {"ok": 0, "failed": 0, "partial": 1, "budget": 0, "cancelled": 0},
            },
        },
    ),
    "run.cancelled": (RUN, {"signal": "SIGINT", "reason": "interrupted by the user"}),
}


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.fixture(scope="module")
def lines(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """The sample of every event, written by the real bus and JSONL sink and read back."""
    path = tmp_path_factory.mktemp("log") / "r1.jsonl"
    bus = EventBus("r1", lambda: 1_795_521_601.25, [JsonlSink(path)])
    for name, (envelope, data) in SAMPLES.items():
        bus.emit(name, **envelope, **data)
    bus.close()
    written = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return {line["event"]: line for line in written}


def errors(validator: jsonschema.Draft202012Validator, line: dict[str, Any]) -> list[str]:
    return [e.message for e in validator.iter_errors(line)]


def test_the_samples_cover_every_event_name() -> None:
    assert list(SAMPLES) == list(EVENT_NAMES)


@pytest.mark.parametrize("name", EVENT_NAMES)
def test_every_event_as_written_matches_the_schema(
    validator: jsonschema.Draft202012Validator, lines: dict[str, dict[str, Any]], name: str
) -> None:
    assert errors(validator, lines[name]) == []


@pytest.mark.parametrize(
    ("name", "field"),
    [(name, field) for name, (_, data) in SAMPLES.items() for field in data],
)
def test_a_line_missing_any_documented_field_is_rejected(
    validator: jsonschema.Draft202012Validator,
    lines: dict[str, dict[str, Any]],
    name: str,
    field: str,
) -> None:
    line = copy.deepcopy(lines[name])
    del line[field]
    assert f"'{field}' is a required property" in errors(validator, line)


@pytest.mark.parametrize(
    ("name", "change", "expected"),
    [
        ("agent.started", {"v": 2}, "1 was expected"),
        ("agent.started", {"seq": 0}, "0 is less than the minimum of 1"),
        ("agent.started", {"ts": "2026-11-24 10:00:01"}, "does not match"),
        ("agent.started", {"event": "agent.exploded"}, "is not one of"),
        ("agent.started", {"agent": None}, "None is not of type 'string'"),
        ("run.started", {"workflow": "hr"}, "'hr' is not of type 'null'"),
        ("workflow.completed", {"status": "done"}, "'done' is not one of"),
        ("agent.skipped", {"reason": "bored"}, "'bored' is not one of"),
        ("llm.response", {"cost_usd": -1}, "-1 is less than the minimum of 0"),
        ("llm.response", {"input_tokens": "406"}, "'406' is not of type 'integer'"),
        ("budget.exceeded", {"action": "ignore"}, "'ignore' is not one of"),
        ("tool.call", {"arguments": "x" * 2001}, "is too long"),
        ("run.cancelled", {"signal": "SIGHUP"}, "'SIGHUP' is not one of"),
    ],
)
def test_malformed_lines_are_rejected(
    validator: jsonschema.Draft202012Validator,
    lines: dict[str, dict[str, Any]],
    name: str,
    change: dict[str, Any],
    expected: str,
) -> None:
    line = {**copy.deepcopy(lines[name]), **change}
    assert any(expected in message for message in errors(validator, line)), errors(validator, line)


def test_nested_totals_are_checked(
    validator: jsonschema.Draft202012Validator, lines: dict[str, dict[str, Any]]
) -> None:
    line = copy.deepcopy(lines["run.completed"])
    del line["totals"]["workflows"]["partial"]
    assert "'partial' is a required property" in errors(validator, line)


def test_every_property_in_the_schema_is_described() -> None:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    missing = []

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            for key, sub in node.get("properties", {}).items():
                if "description" not in sub and "$ref" not in sub and path.count("/") < 6:
                    missing.append(f"{path}/{key}")
            for key, sub in node.items():
                walk(sub, f"{path}/{key}")
        elif isinstance(node, list):
            for i, sub in enumerate(node):
                walk(sub, f"{path}/{i}")

    walk({k: v for k, v in schema.items() if k != "allOf"}, "")
    # Envelope restatements per level (workflow/instance/agent) are described at the top.
    assert [m for m in missing if not m.endswith(("/workflow", "/instance", "/agent"))] == []
