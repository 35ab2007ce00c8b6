"""The live display's frames at 60, 80 and 120 columns: how far, and never a cut number."""

from __future__ import annotations

import io
import re

import pytest
from rich.console import Console
from syrupy.assertion import SnapshotAssertion

from agentflow.events.types import Event
from agentflow.sinks import format_duration, format_usd
from agentflow.sinks.progress import ProgressSink

WIDTHS = (60, 80, 120)
MODEL = "anthropic/claude-sonnet-4-5-20250929"


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _frame(sink: ProgressSink, width: int, height: int = 24) -> str:
    console = Console(
        record=True, width=width, height=height, color_system=None, file=io.StringIO()
    )
    console.print(sink.render())
    return console.export_text()


class Run:
    """Feeds a ProgressSink the events of a batch: `extract` fans out, `summarise` follows."""

    def __init__(self, instances: int, items: int) -> None:
        self.clock = FakeTime()
        self.sink = ProgressSink(Console(file=io.StringIO()), self.clock)
        self.items = items
        self.seq = 0
        self.emit(None, None, "run.started", workflows=["ledger"], instances=instances)

    def emit(self, instance: int | None, agent: str | None, name: str, **data: object) -> None:
        self.seq += 1
        wf = "ledger" if name != "run.started" else None
        self.sink.handle(Event(name, 0.0, "r-frames", self.seq, wf, instance, agent, data))

    def start(self, i: int) -> None:
        self.emit(i, None, "workflow.started", agents=2, inputs={})
        self.emit(i, "extract", "agent.started", model=MODEL, items=self.items)

    def answer(self, i: int, index: int) -> None:
        self.emit(i, "extract", "llm.request", model=MODEL, index=index)
        self.emit(
            i,
            "extract",
            "llm.response",
            model=MODEL,
            index=index,
            tool_calls=0,
            input_tokens=1200,
            output_tokens=340,
            cost_usd=0.0087,
        )

    def finish(self, i: int, status: str = "ok") -> None:
        usage = {"input_tokens": 1200 * self.items, "output_tokens": 340 * self.items}
        self.emit(i, "extract", "agent.completed", model=MODEL, cost_usd=0.0087 * self.items,
                  duration_s=1234.5, calls=self.items, **usage)  # fmt: skip
        self.emit(i, "summarise_every_ledger_line", "agent.started", model=MODEL, items=None)
        self.emit(i, "summarise_every_ledger_line", "llm.response", model=MODEL, cost_usd=0.01234,
                  input_tokens=1, output_tokens=1, tool_calls=0)  # fmt: skip
        final = "agent.completed" if status == "ok" else "agent.failed"
        self.emit(i, "summarise_every_ledger_line", final, model=MODEL, cost_usd=0.01234,
                  duration_s=2.5, calls=1, input_tokens=1, output_tokens=1,
                  error_class="server_error", message="overloaded")  # fmt: skip
        self.emit(i, None, "workflow.completed", status=status)


def _finished_run() -> Run:
    run = Run(instances=3, items=120)
    for i in range(3):
        run.start(i)
        for index in range(run.items):
            run.answer(i, index)
        run.finish(i, "failed" if i == 2 else "ok")
    run.clock.now += 3725.0
    run.emit(None, None, "run.completed", status="failed", exit_code=1)
    return run


@pytest.mark.parametrize("width", WIDTHS)
def test_the_final_frame_keeps_every_number_whole(width: int, snapshot: SnapshotAssertion) -> None:
    run = _finished_run()
    text = _frame(run.sink, width)
    assert all(len(line.rstrip()) <= width for line in text.splitlines())
    assert len(text.splitlines()) <= 24
    # Costs, times, counts and status symbols, whole: nothing numeric is followed by "…".
    assert not re.search(r"[\d$]…", text)
    for cost in (0.0087 * 120, 0.01234, 3 * (0.0087 * 120) + 3 * 0.01234):
        assert format_usd(cost) in text
    assert "elapsed 1h02m" in text
    assert format_duration(1234.5) in text and "2.50s" in text
    assert text.count("✓") == 5 and text.count("✗") == 1
    assert "120/120" in text and "instances 3/3" in text and "6/6 done" in text
    assert "failed" in text
    assert text == snapshot


def test_mid_run_counts_items_and_instances_against_totals_known_up_front() -> None:
    run = Run(instances=20, items=300)
    run.start(0)
    run.start(1)
    for index in range(120):
        run.answer(0, index)
    run.clock.now += 60.0
    text = _frame(run.sink, 80)
    # 20 instances of 2 agents: 40, though only 2 instances have started.
    assert "0/40 done" in text and "instances 0/20" in text
    assert "120/300" in text and "0/300" in text
    # 120 of 6,000 items and 0 of 20 instances in 60 s: the ETA goes by instances (none done).
    assert "ETA" not in text
    for i in range(2):
        for index in range(300 if i == 0 else 0, 300):
            run.answer(i, index)
        run.finish(i)
    run.clock.now += 60.0
    text = _frame(run.sink, 80)
    assert "4/40 done" in text and "instances 2/20" in text
    assert "ETA 18m00s" in text  # 2 instances in 120 s: 18 more at that rate


def test_a_single_instance_eta_counts_fan_out_items() -> None:
    run = Run(instances=1, items=300)
    run.start(0)
    for index in range(100):
        run.answer(0, index)
    run.clock.now += 101.0
    # 100 of 301 units (300 items + the agent after them) in 101 s: 201 more take 203 s.
    assert "ETA 3m23s" in _frame(run.sink, 80)
