"""A deterministic synthetic run, emitted through the real EventBus, that the sink tests replay.

Two instances of hr_onboarding. Instance 0 succeeds (schedule skipped by its condition).
Instance 1: parse_resume is rate-limited and retried, screen fails with output_invalid, so
schedule is skipped; welcome_notes runs on a local model with no known price.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from agentflow.events.bus import EventBus
from agentflow.events.types import Event

START = datetime(2026, 11, 24, 10, 0, 0, tzinfo=UTC).timestamp()
MINI = "openai/gpt-4o-mini"
SONNET = "anthropic/claude-sonnet-4-5"
LOCAL = "my-local/model"


class Recorder:
    def __init__(self) -> None:
        self.events: list[Event] = []

    def handle(self, event: Event) -> None:
        self.events.append(event)

    def close(self) -> None:
        pass


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


def usage(
    cost: float | None, inp: int, out: int, calls: int, dur: float, attempts: int = 1
) -> dict[str, Any]:
    return {
        "cost_usd": cost,
        "input_tokens": inp,
        "output_tokens": out,
        "calls": calls,
        "duration_s": dur,
        "attempts": attempts,
    }


def response(model: str, cost: float | None, inp: int, out: int, **extra: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "model": model,
        "attempt": 1,
        "round": 0,
        "index": None,
        "input_tokens": inp,
        "output_tokens": out,
        "cost_usd": cost,
        "latency_s": 1.0,
        "finish_reason": "stop",
        "tool_calls": 0,
    }
    fields.update(extra)
    return fields


def request(model: str, **extra: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "model": model,
        "attempt": 1,
        "round": 0,
        "index": None,
        "prompt_tokens_est": 400,
        "max_tokens": 600,
    }
    fields.update(extra)
    return fields


def emit_synthetic_run(bus: EventBus, clock: Clock) -> None:
    def at(seconds: float, name: str, **fields: Any) -> None:
        assert START + seconds >= clock.now, f"{name} at {seconds} goes back in time"
        clock.now = START + seconds
        bus.emit(name, **fields)

    wf = "hr_onboarding"
    p0, p1 = ({"workflow": wf, "instance": i, "agent": "parse_resume"} for i in (0, 1))
    s0, s1 = ({"workflow": wf, "instance": i, "agent": "screen"} for i in (0, 1))
    w0, w1 = ({"workflow": wf, "instance": i, "agent": "welcome_notes"} for i in (0, 1))

    def fan_out(start: float, agent: dict[str, Any]) -> None:
        for k in range(3):
            at(start, "llm.request", **agent, **request(LOCAL, index=k))
        for k in range(3):
            at(start + 0.5, "llm.response", **agent, **response(LOCAL, None, 80, 40, index=k))
        at(
            start + 0.6,
            "agent.completed",
            **agent,
            model=LOCAL,
            output=["Hei", "Hola", "Hi"],
            **usage(None, 240, 120, 3, 0.6),
        )

    at(
        0.0,
        "run.started",
        workflows=[wf],
        instances=2,
        mock=False,
        budget_usd=0.5,
        max_concurrency=50,
        price_map={"litellm_version": "1.77.0", "sha256": "0" * 64, "overrides": {LOCAL: {}}},
        log_path=".agentflow/runs/r-20261124.jsonl",
    )
    for i in (0, 1):
        at(0.01, "workflow.started", workflow=wf, instance=i, inputs={"n": i}, agents=4)
    for agent in (p0, p1):
        at(0.02, "agent.started", **agent, model=MINI, items=None)
    for agent in (p0, p1):
        at(0.03, "llm.request", **agent, **request(MINI))
    at(
        0.5,
        "llm.retry",
        **p1,
        model=MINI,
        attempt=1,
        delay_s=1.5,
        error_class="rate_limit",
        message="429 Too Many Requests: Rate limit reached for gpt-4o-mini",
        index=None,
    )
    for t in (0.6, 0.7, 0.8):
        at(t, "ratelimit.wait", **p1, key="openai/*", reason="rpm", expected_wait_s=0.4, model=MINI)
    at(1.2, "llm.response", **p0, **response(MINI, 0.000150, 500, 120))
    at(
        1.2,
        "agent.completed",
        **p0,
        model=MINI,
        output={"name": "Ada"},
        **usage(0.000150, 500, 120, 1, 1.18),
    )
    at(1.3, "agent.started", **s0, model=SONNET, items=None)
    at(1.3, "agent.started", **w0, model=LOCAL, items=3)
    at(1.3, "llm.request", **s0, **request(SONNET))
    fan_out(1.3, w0)
    at(2.0, "ratelimit.wait", **p1, key="openai/*", reason="rpm", expected_wait_s=0.4, model=MINI)
    at(3.3, "llm.response", **s0, **response(SONNET, 0.004200, 900, 100))
    at(
        3.3,
        "agent.completed",
        **s0,
        model=SONNET,
        output={"score": 6},
        **usage(0.0042, 900, 100, 1, 2.0),
    )
    at(
        3.3,
        "agent.skipped",
        workflow=wf,
        instance=0,
        agent="schedule",
        reason="condition_false",
        detail="agents.screen.output.score >= 7 is false",
    )
    at(
        3.4,
        "workflow.completed",
        workflow=wf,
        instance=0,
        status="ok",
        outputs={"decision": {"score": 6}},
        cost_usd=None,
        duration_s=3.39,
        agents={"completed": 3, "failed": 0, "skipped": 1},
    )
    at(5.7, "ratelimit.wait", **p1, key="openai/*", reason="rpm", expected_wait_s=0.3, model=MINI)
    at(6.0, "llm.request", **p1, **request(MINI, attempt=2))
    at(7.0, "llm.response", **p1, **response(MINI, 0.000180, 520, 140, attempt=2))
    at(
        7.0,
        "agent.completed",
        **p1,
        model=MINI,
        output={"name": "Bo"},
        **usage(0.000180, 520, 140, 2, 6.98, 2),
    )
    at(7.1, "agent.started", **s1, model=SONNET, items=None)
    at(7.1, "agent.started", **w1, model=LOCAL, items=3)
    at(7.1, "llm.request", **s1, **request(SONNET))
    fan_out(7.1, w1)
    at(9.0, "budget.warning", scope="run", spent_usd=0.41, limit_usd=0.5, fraction=0.82)
    at(9.1, "llm.response", **s1, **response(SONNET, 0.004200, 900, 100))
    at(
        9.2,
        "agent.failed",
        **s1,
        model=SONNET,
        error_class="output_invalid",
        message="the answer is not JSON:\nExpecting value: line 1 column 1 (char 0)",
        **usage(0.0042, 900, 100, 1, 2.1),
    )
    at(
        9.2,
        "agent.skipped",
        workflow=wf,
        instance=1,
        agent="schedule",
        reason="dependency_failed",
        detail="screen failed",
    )
    at(
        9.3,
        "workflow.completed",
        workflow=wf,
        instance=1,
        status="failed",
        outputs={},
        cost_usd=None,
        duration_s=9.29,
        agents={"completed": 2, "failed": 1, "skipped": 1},
    )
    at(
        9.4,
        "run.completed",
        status="failed",
        exit_code=1,
        duration_s=9.4,
        totals={
            "cost_usd": 0.00873,
            "unknown_cost_calls": 6,
            "input_tokens": 3300,
            "output_tokens": 700,
            "calls": 11,
            "retries": 1,
            "agents": {"completed": 5, "failed": 1, "skipped": 2},
            "workflows": {"ok": 1, "failed": 1, "partial": 0, "budget": 0, "cancelled": 0},
        },
    )


@pytest.fixture
def synthetic_events() -> list[Event]:
    recorder = Recorder()
    clock = Clock()
    bus = EventBus("r-20261124", clock, [recorder])
    emit_synthetic_run(bus, clock)
    bus.close()
    return recorder.events
