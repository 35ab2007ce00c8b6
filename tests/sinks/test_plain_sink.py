from __future__ import annotations

import io
from datetime import UTC, datetime

from syrupy.assertion import SnapshotAssertion

from agentflow.events.types import Event
from agentflow.sinks.plain import PlainSink

START = datetime(2026, 11, 24, 10, 0, 0, tzinfo=UTC).timestamp()


def replay(events: list[Event], **options: object) -> str:
    stream = io.StringIO()
    sink = PlainSink(stream, **options)  # type: ignore[arg-type]
    for event in events:
        sink.handle(event)
    sink.close()
    return stream.getvalue()


def test_a_run_reads_as_one_timestamped_line_per_meaningful_event(
    synthetic_events: list[Event], snapshot: SnapshotAssertion
) -> None:
    assert replay(synthetic_events) == snapshot


def test_quiet_mode_prints_only_warnings_and_failures(
    synthetic_events: list[Event], snapshot: SnapshotAssertion
) -> None:
    output = replay(synthetic_events, quiet=True)
    assert output == snapshot
    assert "completed in" not in output
    assert "started" not in output


def test_output_never_contains_ansi_codes(synthetic_events: list[Event]) -> None:
    assert "\x1b" not in replay(synthetic_events) + replay(synthetic_events, quiet=True)


def wait(seq: int, ts: float, key: str = "openai/*") -> Event:
    data = {"key": key, "reason": "tpm", "expected_wait_s": 0.25, "model": "openai/gpt-4o"}
    return Event("ratelimit.wait", ts, "r", seq, "wf", 0, "a", data)


def test_hundreds_of_rate_limit_waits_become_one_line_per_key_per_interval() -> None:
    # 600 waits over 12 seconds on one key, 3 on another.
    events = [wait(n, START + n * 0.02) for n in range(600)]
    events += [wait(600 + n, START + 1 + n, key="anthropic/*") for n in range(3)]
    events.sort(key=lambda e: e.ts)
    lines = replay(events).splitlines()

    openai = [line for line in lines if "openai/*" in line]
    assert openai == [
        "2026-11-24T10:00:00Z rate limit openai/*: waiting ~0.25s (tpm)",
        "2026-11-24T10:00:05Z rate limit openai/*: waiting ~0.25s (tpm); "
        "249 more waits since the last line",
        "2026-11-24T10:00:10Z rate limit openai/*: waiting ~0.25s (tpm); "
        "249 more waits since the last line",
        # The waits still pending at the end are accounted for when the sink closes.
        "2026-11-24T10:00:11Z rate limit openai/*: 99 more waits",
    ]
    assert [line for line in lines if "anthropic/*" in line] == [
        "2026-11-24T10:00:01Z rate limit anthropic/*: waiting ~0.25s (tpm)",
        "2026-11-24T10:00:03Z rate limit anthropic/*: 2 more waits",
    ]


def test_an_injected_clock_stamps_the_lines_and_paces_the_rate_limit_lines() -> None:
    now = [START + 3600]
    stream = io.StringIO()
    sink = PlainSink(stream, clock=lambda: now[0], wait_interval=1.0)
    sink.handle(wait(1, START))
    sink.handle(wait(2, START + 50))  # event time is ignored: same clock second, aggregated
    now[0] += 1
    sink.handle(wait(3, START))
    sink.close()
    assert stream.getvalue().splitlines() == [
        "2026-11-24T11:00:00Z rate limit openai/*: waiting ~0.25s (tpm)",
        "2026-11-24T11:00:01Z rate limit openai/*: waiting ~0.25s (tpm); 1 more wait since the last line",
    ]


def test_single_instance_runs_do_not_number_their_instance() -> None:
    started = Event("run.started", START, "r", 1, data={"workflows": ["a", "b"], "instances": 2})
    agent = Event("agent.started", START, "r", 2, "b", 0, "x", {"model": "m", "items": None})
    assert replay([started, agent]).splitlines()[1] == "2026-11-24T10:00:00Z b/x started (m)"


def test_cancellation_and_budget_stops_are_always_reported() -> None:
    events = [
        Event(
            "budget.exceeded",
            START,
            "r",
            1,
            "wf",
            0,
            "a",
            {
                "scope": "agent",
                "spent_usd": 0.049,
                "limit_usd": 0.05,
                "requested_usd": 0.003,
                "action": "fail",
            },
        ),
        Event(
            "run.cancelled", START + 1, "r", 2, data={"signal": "SIGTERM", "reason": "terminated"}
        ),
    ]
    assert replay(events, quiet=True).splitlines() == [
        "2026-11-24T10:00:00Z BUDGET EXCEEDED: agent budget (wf/a) $0.05: $0.0490 spent, "
        "a call reserving up to $0.0030 (prompt + max_tokens) did not fit; failing "
        "(lower max_tokens or raise the budget)",
        "2026-11-24T10:00:01Z run r cancelled by SIGTERM: terminated",
    ]


def test_an_output_whose_template_failed_is_a_warning_line_even_when_quiet() -> None:
    data = {"output": "total", "error_class": "template_error", "message": "undefined: 'totl'"}
    event = Event("workflow.output_failed", START, "r", 1, "invoices", 0, None, data)
    expected = (
        "2026-11-24T10:00:00Z WARNING: invoices output total is null: its template failed "
        "(undefined: 'totl')\n"
    )
    assert replay([event]) == expected
    assert replay([event], quiet=True) == expected
