"""The event bus: numbers each event, stamps it, and hands it to every sink in order.

    bus = EventBus(run_id, time.time, [JsonlSink(path), CostSummary(), PlainSink(sys.stderr)])
    bus.emit("agent.started", workflow="hr", instance=0, agent="screen", model="gpt-4o", items=None)
    ...
    bus.close()

Delivery is synchronous, in the order the sinks were given, on the caller's thread. A sink that
raises is disabled for the rest of the run and the failure is reported once (through
`on_sink_error`, by default a line on stderr); the run itself never dies because a display or
the log failed. `failures` keeps them so the CLI can repeat them in its final summary.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from agentflow.events.types import Event, Sink


@dataclass(frozen=True, slots=True)
class SinkFailure:
    """A sink that raised and was disabled. `seq` is 0 when it failed while closing."""

    sink: str
    seq: int
    event: str
    error: BaseException

    def message(self) -> str:
        where = f"at event #{self.seq} ({self.event})" if self.seq else "while closing"
        cause = f"{type(self.error).__name__}: {self.error}"
        return f"{self.sink} failed {where}: {cause}; it is disabled for the rest of the run"


def sink_label(sink: Sink) -> str:
    """How a sink is named in failure messages: its `label` attribute, else its class name."""
    label = getattr(sink, "label", None)
    return label if isinstance(label, str) else type(sink).__name__


def _report_to_stderr(failure: SinkFailure) -> None:
    print(f"agentflow: warning: {failure.message()}", file=sys.stderr, flush=True)


class EventBus:
    """Assigns `seq` (1, 2, ...) and `ts` (from `wall_clock`, epoch seconds) and fans out."""

    __slots__ = ("_closed", "_failures", "_on_sink_error", "_seq", "_sinks", "run_id", "wall_clock")

    def __init__(
        self,
        run_id: str,
        wall_clock: Callable[[], float],
        sinks: Sequence[Sink],
        *,
        on_sink_error: Callable[[SinkFailure], None] = _report_to_stderr,
    ) -> None:
        self.run_id = run_id
        self.wall_clock = wall_clock
        self._sinks: list[Sink] = list(sinks)
        self._on_sink_error = on_sink_error
        self._failures: list[SinkFailure] = []
        self._seq = 0
        self._closed = False

    @property
    def failures(self) -> tuple[SinkFailure, ...]:
        """Every sink that failed and was disabled, in the order they failed."""
        return tuple(self._failures)

    @property
    def last_seq(self) -> int:
        """The `seq` of the last event emitted (0 before the first)."""
        return self._seq

    def emit(
        self,
        event: str,
        *,
        workflow: str | None = None,
        instance: int | None = None,
        agent: str | None = None,
        **data: Any,
    ) -> Event:
        """Record one event and deliver it to every live sink; returns the stamped event."""
        if self._closed:
            raise RuntimeError(f"event {event!r} emitted after the bus was closed")
        self._seq += 1
        record = Event(
            event, self.wall_clock(), self.run_id, self._seq, workflow, instance, agent, data
        )
        for sink in self._sinks:
            try:
                sink.handle(record)
            except Exception as error:
                self._disable(sink, record.seq, event, error)
        return record

    def close(self) -> None:
        """Close every live sink once, in order; later calls do nothing."""
        if self._closed:
            return
        self._closed = True
        for sink in self._sinks:
            try:
                sink.close()
            except Exception as error:
                self._disable(sink, 0, "close", error)
        self._sinks = []

    def _disable(self, sink: Sink, seq: int, event: str, error: Exception) -> None:
        # Rebinding (not mutating) the list keeps an emit loop in progress safe.
        self._sinks = [s for s in self._sinks if s is not sink]
        failure = SinkFailure(sink_label(sink), seq, event, error)
        self._failures.append(failure)
        try:
            self._on_sink_error(failure)
        except Exception:  # reporting must not take the run down either
            _report_to_stderr(failure)
        if seq:
            # A sink that failed mid-run still gets the chance to release its resources.
            with contextlib.suppress(Exception):
                sink.close()
