from __future__ import annotations

import itertools
from typing import Any

import pytest

from agentflow.events.bus import EventBus, SinkFailure
from agentflow.events.types import Event


class Recorder:
    def __init__(self) -> None:
        self.events: list[Event] = []
        self.closed = 0

    def handle(self, event: Event) -> None:
        self.events.append(event)

    def close(self) -> None:
        self.closed += 1


class Exploding(Recorder):
    label = "the exploding display"

    def __init__(self, fail_on: str = "agent.started", fail_close: bool = False) -> None:
        super().__init__()
        self.fail_on = fail_on
        self.fail_close = fail_close

    def handle(self, event: Event) -> None:
        if event.event == self.fail_on:
            raise OSError("terminal went away")
        super().handle(event)

    def close(self) -> None:
        super().close()
        if self.fail_close:
            raise OSError("cannot close")


def make_bus(*sinks: Any, **kwargs: Any) -> EventBus:
    ticks = itertools.count(1_700_000_000.0, 0.5)
    return EventBus("run-1", lambda: next(ticks), list(sinks), **kwargs)


def test_emit_numbers_and_stamps_events_and_delivers_them_in_order_to_every_sink() -> None:
    first, second = Recorder(), Recorder()
    bus = make_bus(first, second)
    started = bus.emit("run.started", workflows=["hr"], instances=1)
    agent = bus.emit("agent.started", workflow="hr", instance=0, agent="screen", model="m")

    assert started == Event(
        "run.started", 1_700_000_000.0, "run-1", 1, data={"workflows": ["hr"], "instances": 1}
    )
    assert (agent.seq, agent.ts, agent.workflow, agent.instance, agent.agent) == (
        2,
        1_700_000_000.5,
        "hr",
        0,
        "screen",
    )
    assert agent.data == {"model": "m"}
    assert first.events == second.events == [started, agent]
    assert bus.last_seq == 2


def test_a_failing_sink_is_reported_once_disabled_and_the_others_keep_receiving() -> None:
    reported: list[SinkFailure] = []
    bad, good = Exploding(), Recorder()
    bus = make_bus(bad, good, on_sink_error=reported.append)

    bus.emit("run.started")
    bus.emit("agent.started", agent="a")
    bus.emit("agent.started", agent="b")
    bus.emit("run.completed")

    assert [e.seq for e in good.events] == [1, 2, 3, 4]
    assert [e.seq for e in bad.events] == [1]
    assert len(reported) == 1
    assert bus.failures == tuple(reported)
    failure = reported[0]
    assert (failure.sink, failure.seq, failure.event) == (
        "the exploding display",
        2,
        "agent.started",
    )
    assert failure.message() == (
        "the exploding display failed at event #2 (agent.started): "
        "OSError: terminal went away; it is disabled for the rest of the run"
    )
    assert bad.closed == 1  # released when disabled
    bus.close()
    assert bad.closed == 1  # and not closed a second time


def test_sink_failures_go_to_stderr_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    bus = make_bus(Exploding(fail_on="run.started"))
    bus.emit("run.started")
    bus.emit("run.started")
    err = capsys.readouterr().err
    assert err.count("agentflow: warning: the exploding display failed at event #1") == 1


def test_close_closes_each_sink_once_and_reports_a_failing_close() -> None:
    reported: list[SinkFailure] = []
    ok, bad = Recorder(), Exploding(fail_on="never", fail_close=True)
    bus = make_bus(bad, ok, on_sink_error=reported.append)
    bus.close()
    bus.close()
    assert (ok.closed, bad.closed) == (1, 1)
    assert [f.message() for f in reported] == [
        "the exploding display failed while closing: OSError: cannot close; "
        "it is disabled for the rest of the run"
    ]


def test_emitting_after_close_is_a_programming_error() -> None:
    bus = make_bus()
    bus.close()
    with pytest.raises(RuntimeError, match="after the bus was closed"):
        bus.emit("run.started")


def test_a_broken_error_reporter_does_not_stop_the_run(capsys: pytest.CaptureFixture[str]) -> None:
    def broken(failure: SinkFailure) -> None:
        raise ValueError("reporter bug")

    good = Recorder()
    bus = make_bus(Exploding(fail_on="run.started"), good, on_sink_error=broken)
    bus.emit("run.started")
    assert len(good.events) == 1
    assert "the exploding display failed" in capsys.readouterr().err
