from __future__ import annotations

import io
import re

import pytest
from rich.console import Console
from syrupy.assertion import SnapshotAssertion

from agentflow.events.types import Event
from agentflow.sinks.progress import ProgressSink

# SGR colour parameters: 30-38/40-48 (and 38;5 / 38;2 forms), 90-97/100-107.
COLOUR = re.compile(r"\x1b\[(?:[0-9;]*;)?(?:3[0-8]|4[0-8]|9[0-7]|10[0-7])[;m]")


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def text_of(sink: ProgressSink, width: int = 100, height: int = 60) -> str:
    console = Console(
        record=True,
        width=width,
        height=height,
        color_system=None,
        force_terminal=False,
        file=io.StringIO(),
    )
    console.print(sink.render())
    return console.export_text()


def test_small_runs_show_instances_and_one_row_per_agent(
    synthetic_events: list[Event], snapshot: SnapshotAssertion
) -> None:
    clock = FakeTime()
    sink = ProgressSink(Console(file=io.StringIO()), clock, stats=lambda: {"in flight": 2})
    middle = next(i for i, e in enumerate(synthetic_events) if e.event == "budget.warning")
    for event in synthetic_events[:middle]:
        sink.handle(event)
    clock.now += 8.5
    during = text_of(sink)
    for event in synthetic_events[middle:]:
        sink.handle(event)
    clock.now += 1.0
    after = text_of(sink)

    assert during == snapshot(name="during")
    assert after == snapshot(name="after")
    assert "1 running · 1 queued · 0 waiting for rate limit · 6/8 done" in during
    assert "in flight 2" in during
    assert "8/8 done · 1 failed" in after
    assert "✗  hr_onboarding[1]/screen" in after


def event(
    name: str, seq: int, wf: str, inst: int | None, agent: str | None, **data: object
) -> Event:
    return Event(name, 0.0, "big", seq, wf, inst, agent, dict(data))


def big_run(instances: int = 100, agents: int = 5) -> list[Event]:
    """instances x agents, each agent with two calls; the last instance's agents all fail."""
    out = [Event("run.started", 0.0, "big", 1, data={"workflows": ["wf"], "instances": instances})]
    seq = 2
    for i in range(instances):
        out.append(event("workflow.started", seq, "wf", i, None, agents=agents, inputs={}))
        seq += 1
        for a in range(agents):
            name = f"a{a}"
            steps: list[tuple[str, dict[str, object]]] = [
                ("agent.started", {"model": "m", "items": None}),
                (
                    "ratelimit.wait",
                    {"key": "*", "reason": "rpm", "expected_wait_s": 0.1, "model": "m"},
                ),
            ]
            for _ in range(2):
                steps.append(("llm.request", {"model": "m"}))
                steps.append(
                    (
                        "llm.response",
                        {"model": "m", "input_tokens": 10, "output_tokens": 2, "cost_usd": 0.001},
                    )
                )
            final = "agent.failed" if i == instances - 1 else "agent.completed"
            steps.append(
                (
                    final,
                    {
                        "model": "m",
                        "cost_usd": 0.002,
                        "input_tokens": 20,
                        "output_tokens": 4,
                        "calls": 2,
                        "duration_s": 1.0,
                        "attempts": 1,
                        "error_class": "X",
                        "message": "m",
                    },
                )
            )
            for name_, data in steps:
                out.append(event(name_, seq, "wf", i, name, **data))
                seq += 1
        status = "failed" if i == instances - 1 else "ok"
        out.append(event("workflow.completed", seq, "wf", i, None, status=status))
        seq += 1
    return out


def test_large_runs_show_a_bounded_number_of_rows() -> None:
    events = big_run()
    sink = ProgressSink(Console(file=io.StringIO()), FakeTime())
    for e in events:
        sink.handle(e)
    text = text_of(sink)

    assert len(events) > 3000
    assert "500/500 done · 5 failed" in text
    assert "wf[0]/a0" not in text  # no per-agent rows past 30 agents
    assert text.count("\nwf[") == 20  # instance rows are capped ...
    assert "… 80 more (80 ok)" in text  # ... and the rest summarised
    assert text.index("wf[99]") < text.index("wf[0] ")  # the failed instance is listed first


def test_waiting_agents_are_counted_until_their_request_is_sent() -> None:
    sink = ProgressSink(Console(file=io.StringIO()), FakeTime())
    sink.handle(event("workflow.started", 1, "wf", 0, None, agents=3, inputs={}))
    for seq, name in ((2, "a"), (3, "b")):
        sink.handle(event("agent.started", seq, "wf", 0, name, model="m", items=None))
    sink.handle(
        event(
            "ratelimit.wait", 4, "wf", 0, "a", key="*", reason="tpm", expected_wait_s=1, model="m"
        )
    )
    assert "1 running · 1 queued · 1 waiting for rate limit · 0/3 done" in text_of(sink)
    sink.handle(event("llm.request", 5, "wf", 0, "a", model="m"))
    assert "2 running · 1 queued · 0 waiting for rate limit" in text_of(sink)


def test_start_and_close_drive_a_live_display_once(synthetic_events: list[Event]) -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=100, color_system="standard")
    sink = ProgressSink(console, FakeTime(), refresh_per_second=50)
    sink.start()
    for e in synthetic_events:
        sink.handle(e)
    sink.close()
    sink.close()
    assert sink._live is not None and not sink._live.is_started
    assert "8/8 done" in out.getvalue()
    assert COLOUR.search(out.getvalue())  # colour is on by default on a terminal ...


def test_no_color_is_honoured(
    synthetic_events: list[Event], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=100)  # created normally
    sink = ProgressSink(console, FakeTime(), refresh_per_second=50)
    sink.start()
    for e in synthetic_events:
        sink.handle(e)
    sink.close()
    assert "8/8 done" in out.getvalue()
    assert not COLOUR.search(out.getvalue())  # ... and off under NO_COLOR


def test_a_failing_stats_callback_does_not_break_the_display() -> None:
    def broken() -> dict[str, int]:
        raise RuntimeError("limiter bug")

    sink = ProgressSink(Console(file=io.StringIO()), FakeTime(), stats=broken)
    assert "0 running" in text_of(sink)
