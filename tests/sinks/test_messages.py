"""What the run sinks say: what to do, how far, and never a flood (clocks injected)."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

from rich.console import Console, RenderableType

from agentflow.events.types import Event
from agentflow.sinks import budget_words, format_usd, provider_message
from agentflow.sinks.plain import PlainSink
from agentflow.sinks.summary import CostSummary, failure_report

START = datetime(2026, 11, 24, 10, 0, 0, tzinfo=UTC).timestamp()


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


NOISE = "litellm.InternalServerError: InternalServerError: OpenAIException - upstream overloaded"


def _events(*specs: tuple[str, str | None, dict[str, Any]], workflow: str = "wf") -> list[Event]:
    return [
        Event(name, START, "r", seq, workflow if agent else None, 0 if agent else None, agent, d)
        for seq, (name, agent, d) in enumerate(specs, start=1)
    ]


def _refusal(scope: str, spent: float = 0.048) -> dict[str, Any]:
    return {
        "scope": scope,
        "spent_usd": spent,
        "limit_usd": 0.05,
        "requested_usd": 0.002,
        "action": "fail",
    }


def _plain(events: list[Event], clock: Clock | None = None, **options: Any) -> list[str]:
    stream = io.StringIO()
    sink = PlainSink(stream, clock, **options)
    for event in events:
        if clock is not None:
            clock.now = event.ts
        sink.handle(event)
    sink.close()
    return stream.getvalue().splitlines()


def _report(events: list[Event]) -> str:
    summary = CostSummary()
    for event in events:
        summary.handle(event)
    console = Console(record=True, width=200, color_system=None)
    renderable: RenderableType = failure_report(summary, "agentflow run x.yaml")
    console.print(renderable)
    return console.export_text()


def _fan_out_stop(refusals: int, scope: str) -> list[Event]:
    specs: list[tuple[str, str | None, dict[str, Any]]] = [
        ("run.started", None, {"workflows": ["wf"], "instances": 1}),
        ("agent.started", "each", {"model": "m", "items": 300}),
    ]
    specs += [
        ("llm.response", "each", {"index": i, "cost_usd": 0.0006, "tool_calls": 0})
        for i in range(80)
    ]
    specs += [("budget.exceeded", None, _refusal(scope)) for _ in range(refusals)]
    failed = {"calls": 160, "attempts": 160, "duration_s": 1.0, "cost_usd": 0.048}
    failed |= {"error_class": "budget", "message": "the run budget cannot reserve $0.002"}
    specs.append(("agent.failed", "each", failed))
    return _events(*specs)


def test_a_budget_stop_is_one_line_per_budget_with_a_count_and_the_fix() -> None:
    lines = _plain(_fan_out_stop(219, "workflow:wf#0"), quiet=True)
    exceeded = [line for line in lines if "BUDGET EXCEEDED" in line]
    assert len(exceeded) == 2, lines
    assert "workflow budget (wf#0) $0.05" in exceeded[0]
    assert "run budget" not in exceeded[0]
    assert "(prompt + max_tokens)" in exceeded[0]
    assert "lower max_tokens or raise the budget" in exceeded[0]
    assert exceeded[1].endswith(
        "workflow budget (wf#0): 218 more calls refused ($0.0480 of $0.05 spent)"
    )
    report = _report(_fan_out_stop(219, "workflow:wf#0"))
    stops = [line for line in report.splitlines() if line.startswith("Stopped by")]
    assert stops == [
        "Stopped by the workflow budget (wf#0): $0.0480 of $0.05 spent; 219 calls reserving up "
        "to $0.0020 (prompt + max_tokens) did not fit: lower max_tokens or raise the budget"
    ]


def test_a_failed_fan_out_counts_items_not_attempts() -> None:
    lines = _plain(_fan_out_stop(1, "run"))
    [failed] = [line for line in lines if "FAILED" in line]
    assert "with 80/300 items done (160 calls)" in failed
    assert "attempts" not in failed


def test_litellm_noise_is_trimmed_to_the_providers_message_in_display() -> None:
    assert provider_message(NOISE) == "upstream overloaded"
    assert provider_message("output_invalid: not JSON") == "output_invalid: not JSON"
    events = _events(
        ("agent.started", "a", {"model": "m"}),
        (
            "llm.retry",
            "a",
            {"attempt": 1, "error_class": "server_error", "message": NOISE, "delay_s": 1.0},
        ),
        (
            "agent.failed",
            "a",
            {"attempts": 4, "error_class": "server_error", "message": NOISE, "duration_s": 2.0},
        ),
    )
    lines = _plain(events)
    assert not any("litellm" in line or "OpenAIException" in line for line in lines)
    assert sum("upstream overloaded" in line for line in lines) == 2
    report = _report(events)
    assert "upstream overloaded" in report and "InternalServerError" not in report


def test_a_users_cancel_is_reported_as_cancelled_not_as_failures() -> None:
    detail = {"reason": "cancelled", "detail": "the run was stopped by SIGINT"}
    events = _events(
        ("run.started", None, {"workflows": ["wf"], "instances": 1}),
        *[("agent.skipped", f"a{i}", detail) for i in range(40)],
        ("run.cancelled", None, {"signal": "SIGINT", "reason": "stopped by signal"}),
    )
    report = _report(events)
    assert "Failures" not in report and "because of failures" not in report
    assert "Cancelled by SIGINT: stopped by signal (40 agents not run)" in report
    lines = _plain(events, quiet=True)
    assert lines == [lines[0]] and lines[0].endswith(
        "run r cancelled by SIGINT: stopped by signal; 40 agents not run"
    )


def test_budget_scopes_read_as_words() -> None:
    assert budget_words("run") == "run budget"
    assert budget_words("workflow:hr#2") == "workflow budget (hr#2)"
    assert budget_words("agent:hr#0.screen") == "agent budget (hr#0.screen)"


def test_money_below_half_a_cent_keeps_significant_digits() -> None:
    assert format_usd(0.002) == "$0.0020"
    assert format_usd(0.0000012) == "$0.0000012"
    assert format_usd(0.00765) == "$0.00765"
    assert format_usd(0.0385) == "$0.0385"
    assert format_usd(0) == "$0.00"
    assert format_usd(None) == "unknown"


def _long_fan_out(seconds_per_item: float, items: int = 300) -> list[Event]:
    events = [
        Event("run.started", START, "r", 1, data={"workflows": ["wf"], "instances": 1}),
        Event("agent.started", START, "r", 2, "wf", 0, "each", {"model": "m", "items": items}),
    ]
    for i in range(items):
        data = {"index": i, "cost_usd": 0.001, "tool_calls": 0}
        ts = START + (i + 1) * seconds_per_item
        events.append(Event("llm.response", ts, "r", 3 + i, "wf", 0, "each", data))
    done = {"duration_s": items * seconds_per_item, "cost_usd": 0.3, "calls": items}
    end = START + items * seconds_per_item
    events.append(Event("agent.completed", end, "r", 999, "wf", 0, "each", done))
    return events


def test_plain_mode_prints_a_heartbeat_at_most_every_interval() -> None:
    # 300 items, one answer a second: a 5-minute agent prints a progress line every 30 s.
    lines = _plain(_long_fan_out(1.0), Clock())
    beats = [line for line in lines if " progress: " in line]
    assert len(beats) == 10, lines
    assert beats[0] == (
        "2026-11-24T10:00:30Z progress: wf/each 30/300 items, ETA 4m30s · cost $0.0300"
    )
    stamps = [line.split()[0] for line in lines]
    assert stamps == sorted(stamps)
    assert lines[-1].startswith("2026-11-24T10:05:00Z wf/each completed")


def test_the_heartbeat_interval_is_configurable_and_can_be_turned_off() -> None:
    every_minute = _plain(_long_fan_out(1.0), Clock(), heartbeat=60)
    assert sum(" progress: " in line for line in every_minute) == 5
    assert not any(
        " progress: " in line for line in _plain(_long_fan_out(1.0), Clock(), heartbeat=0)
    )
    assert not any(
        " progress: " in line for line in _plain(_long_fan_out(1.0), Clock(), quiet=True)
    )
    # A fast agent says nothing between started and completed.
    fast = _plain(_long_fan_out(0.01), Clock())
    assert [line.split(" ", 1)[1].split(" (")[0] for line in fast] == [
        "run r started: wf",
        "wf/each started",
        "wf/each completed in 3.00s: cost $0.30, - in / - out tokens, 300 calls",
    ]


def test_retries_of_a_fan_outs_items_collapse_to_a_count() -> None:
    retry = {"attempt": 1, "error_class": "rate_limit", "message": "slow down", "delay_s": 1.0}
    events = _events(
        ("agent.started", "each", {"model": "m", "items": 300}),
        *[("llm.retry", "each", {**retry, "index": i}) for i in range(120)],
        ("agent.completed", "each", {"duration_s": 9.0, "cost_usd": 0.1, "calls": 420}),
    )
    lines = _plain(events)
    assert len(lines) == 4, lines
    assert "wf/each item 0 retry: attempt 1 failed with rate_limit (slow down)" in lines[1]
    assert lines[2].endswith("wf/each: 119 more item retries after rate_limit")
    assert "completed" in lines[3]
