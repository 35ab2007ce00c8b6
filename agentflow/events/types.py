"""The event record the engine emits and every sink consumes.

On the wire (the JSONL run log) an event is one line:
`{"v": 1, "seq": n, "ts": ISO-8601 UTC, "run_id", "event", "workflow", "instance", "agent", ...data}`
described by `schemas/run-event.schema.json`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

EVENT_FORMAT_VERSION = 1

# Every event name the engine emits.
EVENT_NAMES = (
    "run.started",
    "workflow.started",
    "agent.started",
    "llm.request",
    "llm.response",
    "llm.abandoned",
    "llm.retry",
    "llm.repair",
    "llm.fallback",
    "ratelimit.wait",
    "ratelimit.adjusted",
    "budget.wait",
    "budget.warning",
    "budget.exceeded",
    "tool.call",
    "tool.result",
    "agent.reused",
    "agent.completed",
    "agent.failed",
    "agent.skipped",
    "workflow.output_failed",
    "workflow.deadline_missed",
    "workflow.completed",
    "run.completed",
    "run.cancelled",
)

TERMINAL_EVENTS = frozenset({"run.completed", "run.cancelled"})


@dataclass(frozen=True, slots=True)
class Event:
    """One thing that happened during a run. `ts` is seconds since the epoch (UTC)."""

    event: str
    ts: float
    run_id: str
    seq: int = 0
    workflow: str | None = None
    instance: int | None = None
    agent: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


class Sink(Protocol):
    """Receives every event in order. `close()` is called once, after the terminal event."""

    def handle(self, event: Event) -> None: ...

    def close(self) -> None: ...
