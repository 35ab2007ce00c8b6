"""Live progress for a terminal: a header with counts, one row per workflow instance and, for
small runs, one row per agent.

`handle()` only updates counters (a few dict operations per event), so thousands of events per
second cost next to nothing; Rich's `Live` redraws from those counters at most
`refresh_per_second` times a second on its own thread, which also keeps the elapsed time moving
while every agent is waiting on a slow model. A lock keeps that thread from reading half an
update.

Colour follows the Console: a Console created normally honours NO_COLOR (and TERM=dumb).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from rich import box
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from agentflow.events.types import Event
from agentflow.redaction import neutralise
from agentflow.sinks import format_count, format_duration, format_usd

_ICONS = {
    "running": ("▶", "cyan"),
    "waiting": ("⏸", "yellow"),
    "completed": ("✓", "green"),
    "failed": ("✗", "bold red"),
    "skipped": ("-", "yellow"),
}
_INSTANCE_STYLES = {
    "ok": "green",
    "failed": "bold red",
    "partial": "yellow",
    "budget": "yellow",
    "cancelled": "yellow",
    "running": "cyan",
}


@dataclass(slots=True)
class _Cost:
    known: float = 0.0
    unknown_calls: int = 0

    def add(self, cost: Any) -> None:
        if cost is None:
            self.unknown_calls += 1
        else:
            self.known += float(cost)

    def text(self) -> str:
        if self.unknown_calls:
            return f"{format_usd(self.known)} + unknown" if self.known else "unknown"
        return format_usd(self.known)


@dataclass(slots=True)
class _AgentState:
    label: str
    model: str | None
    started_at: float
    status: str = "running"
    calls_in_flight: int = 0
    waiting: bool = False  # a rate-limit wait was announced and no request has followed yet
    input_tokens: int = 0
    output_tokens: int = 0
    cost: _Cost | None = None
    duration_s: float | None = None


@dataclass(slots=True)
class _InstanceState:
    label: str
    agents: int
    order: int
    completed: int = 0
    failed: int = 0
    skipped: int = 0
    running: int = 0
    status: str = "running"
    cost: _Cost | None = None

    @property
    def done(self) -> int:
        return self.completed + self.failed + self.skipped


class ProgressSink:
    """Rich live display of a run. Call `start()` before the run and `close()` after it.

    `get_time` is a monotonic clock in seconds (injected so tests control the elapsed time);
    `stats`, when given, is called at each redraw and its items are shown under the header
    (for example the limiters' `statistics()`).
    """

    label = "the live progress display"

    def __init__(
        self,
        console: Console,
        get_time: Callable[[], float],
        stats: Callable[[], Mapping[str, Any]] | None = None,
        *,
        refresh_per_second: float = 4.0,
        max_agent_rows: int = 30,
        max_instance_rows: int = 20,
    ) -> None:
        self._console = console
        self._get_time = get_time
        self._stats = stats
        self._refresh_per_second = refresh_per_second
        self._max_agent_rows = max_agent_rows
        self._max_instance_rows = max_instance_rows
        self._lock = threading.Lock()
        self._live: Live | None = None
        self._closed = False

        self._run_id = ""
        self._started_at: float | None = None
        self._finished_at: float | None = None
        self._run_status: str | None = None
        self._workflow_names: set[str] = set()
        self._multi_instance = False
        self._agents: dict[tuple[str | None, int | None, str | None], _AgentState] = {}
        self._instances: dict[tuple[str | None, int | None], _InstanceState] = {}
        self._total_agents = 0
        self._input_tokens = 0
        self._output_tokens = 0
        self._cost = _Cost()
        self._failed = 0
        self._completed = 0
        self._skipped = 0

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> None:
        """Start redrawing (at most `refresh_per_second` times a second)."""
        if self._live is not None or self._closed:
            return
        if self._started_at is None:
            self._started_at = self._get_time()
        self._live = Live(
            self,
            console=self._console,
            refresh_per_second=self._refresh_per_second,
            transient=False,
            redirect_stdout=False,
            redirect_stderr=False,
        )
        self._live.start()

    def close(self) -> None:
        """Draw the final state once and stop the display thread."""
        if self._closed:
            return
        self._closed = True
        if self._live is not None:
            self._live.stop()

    # -- Sink ---------------------------------------------------------------------------

    def handle(self, event: Event) -> None:
        name = event.event
        with self._lock:
            if name == "llm.request":
                agent = self._agent(event)
                agent.calls_in_flight += 1
                agent.waiting = False
            elif name == "llm.response":
                agent = self._agent(event)
                agent.calls_in_flight = max(0, agent.calls_in_flight - 1)
                d = event.data
                tokens_in = int(d.get("input_tokens") or 0)
                tokens_out = int(d.get("output_tokens") or 0)
                agent.input_tokens += tokens_in
                agent.output_tokens += tokens_out
                self._input_tokens += tokens_in
                self._output_tokens += tokens_out
                self._cost.add(d.get("cost_usd"))
                if agent.cost is None:
                    agent.cost = _Cost()
                agent.cost.add(d.get("cost_usd"))
            elif name == "llm.retry":
                agent = self._agent(event)
                agent.calls_in_flight = max(0, agent.calls_in_flight - 1)
            elif name == "ratelimit.wait":
                if event.agent is not None:
                    self._agent(event).waiting = True
            elif name == "agent.started":
                self._agent(event).model = event.data.get("model")
                instance = self._instance(event)
                instance.running += 1
            elif name in ("agent.completed", "agent.failed", "agent.skipped"):
                self._finish_agent(event)
            elif name == "workflow.started":
                agents = int(event.data.get("agents", 0))
                self._total_agents += agents
                self._instance(event).agents = agents
            elif name == "workflow.completed":
                instance = self._instance(event)
                instance.status = str(event.data.get("status", "failed"))
            elif name == "run.started":
                self._run_id = event.run_id
                if self._started_at is None:
                    self._started_at = self._get_time()
                workflows = event.data.get("workflows", [])
                self._multi_instance = int(event.data.get("instances", 0)) > len(workflows)
            elif name == "run.completed":
                self._run_status = str(event.data.get("status"))
                self._finished_at = self._get_time()
            elif name == "run.cancelled":
                self._run_status = "cancelled"

    def _agent(self, event: Event) -> _AgentState:
        key = (event.workflow, event.instance, event.agent)
        agent = self._agents.get(key)
        if agent is None:
            agent = self._agents[key] = _AgentState(
                self._label(event), event.data.get("model"), self._get_time()
            )
        return agent

    def _instance(self, event: Event) -> _InstanceState:
        key = (event.workflow, event.instance)
        instance = self._instances.get(key)
        if instance is None:
            label = event.workflow or "?"
            if event.instance is not None and (self._multi_instance or event.instance > 0):
                label = f"{label}[{event.instance}]"
            instance = self._instances[key] = _InstanceState(label, 0, len(self._instances))
        return instance

    def _label(self, event: Event) -> str:
        name = event.workflow or ""
        if event.instance is not None and (self._multi_instance or event.instance > 0):
            name = f"{name}[{event.instance}]"
        return f"{name}/{event.agent}" if name else str(event.agent)

    def _finish_agent(self, event: Event) -> None:
        status = event.event.removeprefix("agent.")
        known = (event.workflow, event.instance, event.agent) in self._agents
        agent = self._agent(event)
        was_running = known and agent.status == "running"
        agent.status = status
        agent.calls_in_flight = 0
        agent.waiting = False
        d = event.data
        if status != "skipped":
            agent.duration_s = d.get("duration_s")
            agent.input_tokens = int(d.get("input_tokens", agent.input_tokens))
            agent.output_tokens = int(d.get("output_tokens", agent.output_tokens))
            if "cost_usd" in d:
                agent.cost = _Cost()
                agent.cost.add(d["cost_usd"])
        instance = self._instance(event)
        if was_running:
            instance.running = max(0, instance.running - 1)
        if status == "completed":
            instance.completed += 1
            self._completed += 1
        elif status == "failed":
            instance.failed += 1
            self._failed += 1
        else:
            instance.skipped += 1
            self._skipped += 1
        if agent.cost is not None:
            if instance.cost is None:
                instance.cost = _Cost()
            instance.cost.known += agent.cost.known
            instance.cost.unknown_calls += agent.cost.unknown_calls

    # -- rendering (on Live's thread) ---------------------------------------------------

    def __rich__(self) -> RenderableType:
        with self._lock:
            return self.render()

    def render(self) -> RenderableType:
        """The display as it stands, built from the counters (`__rich__` holds the lock)."""
        now = self._get_time()
        parts: list[RenderableType] = [self._header(now)]
        extra = self._stats_line()
        if extra is not None:
            parts.append(extra)
        if self._instances:
            parts.append(self._instance_table())
        if self._agents and max(self._total_agents, len(self._agents)) <= self._max_agent_rows:
            parts.append(self._agent_table(now))
        return Group(*parts)

    def _header(self, now: float) -> Text:
        running = waiting = 0
        for agent in self._agents.values():
            if agent.status == "running":
                if agent.waiting and not agent.calls_in_flight:
                    waiting += 1
                else:
                    running += 1
        done = self._completed + self._failed + self._skipped
        queued = max(0, self._total_agents - done - running - waiting)
        end = self._finished_at if self._finished_at is not None else now
        elapsed = end - self._started_at if self._started_at is not None else 0.0

        text = Text()
        text.append(f"agentflow run {self._run_id}".rstrip(), style="bold")
        if self._run_status:
            style = _INSTANCE_STYLES.get(self._run_status, "")
            text.append(f"  {self._run_status}", style=style)
        text.append("\n")
        text.append(f"{running} running", style="cyan")
        text.append(f" · {queued} queued · ")
        text.append(f"{waiting} waiting for rate limit", style="yellow" if waiting else "")
        text.append(f" · {done}/{self._total_agents} done")
        if self._failed:
            text.append(" · ")
            text.append(f"{self._failed} failed", style="bold red")
        text.append(
            f"\ntokens {format_count(self._input_tokens)} in / "
            f"{format_count(self._output_tokens)} out · cost {self._cost.text()} · "
            f"elapsed {format_duration(elapsed)}"
        )
        return text

    def _stats_line(self) -> Text | None:
        if self._stats is None:
            return None
        try:
            items = list(self._stats().items())
        except Exception:  # a statistics bug must not break the display
            return None
        if not items:
            return None
        return Text(" · ".join(f"{k} {v}" for k, v in items), style="dim")

    def _instance_table(self) -> Table:
        table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, collapse_padding=True)
        table.add_column("Workflow", no_wrap=True)
        table.add_column("Agents", justify="right")
        table.add_column("Running", justify="right")
        table.add_column("Status")
        table.add_column("Cost", justify="right")
        # Running instances first (oldest first), then the ones that went wrong, then the rest.
        rank = {"running": 0, "failed": 1, "budget": 1, "cancelled": 1, "partial": 2}
        instances = sorted(self._instances.values(), key=lambda i: (rank.get(i.status, 3), i.order))
        for instance in instances[: self._max_instance_rows]:
            table.add_row(
                instance.label,
                f"{instance.done}/{instance.agents}",
                str(instance.running),
                Text(instance.status, style=_INSTANCE_STYLES.get(instance.status, "")),
                instance.cost.text() if instance.cost is not None else "-",
            )
        hidden = instances[self._max_instance_rows :]
        if hidden:
            ok = sum(1 for i in hidden if i.status == "ok")
            table.add_row(Text(f"… {len(hidden)} more ({ok} ok)", style="dim"), "", "", "", "")
        return table

    def _agent_table(self, now: float) -> Table:
        table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, collapse_padding=True)
        table.add_column("", no_wrap=True)
        table.add_column("Agent", no_wrap=True)
        table.add_column("Model", no_wrap=True)
        table.add_column("Tokens", justify="right", no_wrap=True)
        table.add_column("Cost", justify="right", no_wrap=True)
        table.add_column("Time", justify="right", no_wrap=True)
        for agent in self._agents.values():
            state = agent.status
            if state == "running" and agent.waiting and not agent.calls_in_flight:
                state = "waiting"
            icon, style = _ICONS.get(state, ("?", ""))
            duration = agent.duration_s
            if duration is None and agent.status == "running":
                duration = now - agent.started_at
            tokens = (
                f"{format_count(agent.input_tokens)}/{format_count(agent.output_tokens)}"
                if agent.input_tokens or agent.output_tokens
                else "-"
            )
            table.add_row(
                Text(icon, style=style),
                agent.label,
                neutralise(agent.model) if agent.model else "-",
                tokens,
                agent.cost.text() if agent.cost is not None else "-",
                format_duration(duration) if agent.status != "skipped" else "skipped",
            )
        return table
