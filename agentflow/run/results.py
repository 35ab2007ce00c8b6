"""What a run produces: per-agent, per-instance and run results, and their statuses."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

AgentStatus = Literal["completed", "failed", "skipped"]
WorkflowStatus = Literal["ok", "failed", "partial", "budget", "cancelled"]

# Which status wins when instances disagree, and the exit code each one means.
_SEVERITY: tuple[WorkflowStatus, ...] = ("cancelled", "budget", "failed", "partial", "ok")
EXIT_CODES: Mapping[WorkflowStatus, int] = {
    "ok": 0,
    "failed": 1,
    "budget": 3,
    "partial": 4,
    "cancelled": 130,
}


@dataclass(slots=True)
class Usage:
    """Tokens, calls and cost of some work; cost excludes calls with an unknown price.

    `calls` counts every call sent, failed ones included; `answered` those that returned.
    `unconfirmed_calls` were sent and never answered (timeout, cancel, connection lost):
    the provider may bill them, so each keeps its worst-case cost as `unconfirmed_cost_usd`,
    kept apart from `cost_usd` (what answers reported) and spent in every budget.
    `replayed` and `cached` count answers that were not paid for again.
    """

    calls: int = 0
    answered: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    unknown_cost_calls: int = 0
    retries: int = 0
    replayed: int = 0  # answers taken from the journal of an earlier run, at $0
    cached: int = 0  # answers taken from the response cache, at $0
    unconfirmed_calls: int = 0
    unconfirmed_cost_usd: float = 0.0

    def add(self, other: Usage) -> None:
        self.calls += other.calls
        self.answered += other.answered
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.cost_usd += other.cost_usd
        self.unknown_cost_calls += other.unknown_cost_calls
        self.retries += other.retries
        self.replayed += other.replayed
        self.cached += other.cached
        self.unconfirmed_calls += other.unconfirmed_calls
        self.unconfirmed_cost_usd += other.unconfirmed_cost_usd

    def cost_or_none(self) -> float | None:
        """The cost, or None when every call had an unknown price."""
        if self.answered and self.unknown_cost_calls == self.answered:
            return None
        return round(self.cost_usd, 10)


@dataclass(frozen=True, slots=True)
class AgentResult:
    """How one agent ended."""

    agent: str
    status: AgentStatus
    output: Any = None
    error_class: str | None = None
    message: str | None = None
    reason: str | None = None
    usage: Usage = field(default_factory=Usage)
    duration_s: float = 0.0
    reused: bool = False  # completed in an earlier run of this lineage; not run again


@dataclass(frozen=True, slots=True)
class InstanceResult:
    """How one workflow instance ended."""

    workflow: str
    instance: int
    status: WorkflowStatus
    outputs: Mapping[str, Any]
    agents: Mapping[str, AgentResult]
    usage: Usage
    duration_s: float


@dataclass(frozen=True, slots=True)
class RunResult:
    """How the whole run ended."""

    run_id: str
    status: WorkflowStatus
    exit_code: int
    instances: tuple[InstanceResult, ...]
    usage: Usage
    duration_s: float
    log_path: str | None = None
    signal: str | None = None


def worst_status(statuses: list[WorkflowStatus]) -> WorkflowStatus:
    for status in _SEVERITY:
        if status in statuses:
            return status
    return "ok"
