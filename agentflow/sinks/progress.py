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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from rich import box
from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.live import Live
from rich.table import Table
from rich.text import Text

from agentflow.events.types import Event
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
    items: int | None = None  # a for_each agent's item count
    items_done: set[int] | None = None  # items with a final answer


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
        # Known up front (run.started), so the denominators never grow.
        self._instances_total = 0
        self._instances_done = 0
        self._agents_per_workflow: dict[str, int] = {}
        self._workflow_count = 0

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
                index = d.get("index")
                # A response without tool calls is an item's final answer.
                if agent.items_done is not None and index is not None and not d.get("tool_calls"):
                    agent.items_done.add(int(index))
            elif name == "llm.retry":
                agent = self._agent(event)
                agent.calls_in_flight = max(0, agent.calls_in_flight - 1)
            elif name == "ratelimit.wait":
                if event.agent is not None:
                    self._agent(event).waiting = True
            elif name == "agent.started":
                agent = self._agent(event)
                agent.model = event.data.get("model")
                items = event.data.get("items")
                if items is not None:
                    agent.items, agent.items_done = int(items), set()
                instance = self._instance(event)
                instance.running += 1
            elif name in ("agent.completed", "agent.failed", "agent.skipped"):
                self._finish_agent(event)
            elif name == "workflow.started":
                agents = int(event.data.get("agents", 0))
                self._total_agents += agents
                self._instance(event).agents = agents
                self._agents_per_workflow[event.workflow or "?"] = agents
            elif name == "workflow.completed":
                instance = self._instance(event)
                instance.status = str(event.data.get("status", "failed"))
                self._instances_done += 1
            elif name == "run.started":
                self._run_id = event.run_id
                if self._started_at is None:
                    self._started_at = self._get_time()
                workflows = event.data.get("workflows", [])
                self._instances_total = int(event.data.get("instances", 0))
                self._workflow_count = len(workflows)
                self._multi_instance = self._instances_total > len(workflows)
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
        """The display as it stands: a snapshot of the counters, laid out for the console.

        The snapshot is taken here (`__rich__` holds the lock); the layout happens when the
        console renders it, at the console's width and height: numbers, costs, times and
        status symbols are never cut, names give way first.
        """
        now = self._get_time()
        instances = self._instance_rows() if self._instances else None
        agents = None
        if self._agents and max(self._total_agents, len(self._agents)) <= self._max_agent_rows:
            agents = self._agent_rows(now)
        return _Frame(self._header(now), self._stats_line(), instances, agents)

    def _agents_total(self) -> int | None:
        """Agents of the whole run when known; never a count that grows as instances start."""
        not_started = max(0, self._instances_total - len(self._instances))
        if not not_started:
            return max(self._total_agents, len(self._agents))
        if self._workflow_count == 1 and len(self._agents_per_workflow) == 1:
            [per_instance] = self._agents_per_workflow.values()
            return self._total_agents + not_started * per_instance
        return None

    def _eta(self, elapsed: float, agents_total: int | None) -> float | None:
        """Time left at the rate observed so far: instances for a batch, else work items."""
        if self._finished_at is not None or elapsed <= 0:
            return None
        if self._instances_total > 1:
            done, total = self._instances_done, self._instances_total
        elif agents_total is not None:
            # An agent counts one unit, a for_each agent one per item.
            total = done = 0
            for agent in self._agents.values():
                units = agent.items if agent.items is not None else 1
                total += units
                if agent.status != "running":
                    done += units
                elif agent.items_done is not None:
                    done += len(agent.items_done)
            total += max(0, agents_total - len(self._agents))
        else:
            return None
        if done <= 0 or done >= total:
            return None
        return elapsed / done * (total - done)

    def _header(self, now: float) -> Text:
        running = waiting = 0
        for agent in self._agents.values():
            if agent.status == "running":
                if agent.waiting and not agent.calls_in_flight:
                    waiting += 1
                else:
                    running += 1
        done = self._completed + self._failed + self._skipped
        total = self._agents_total()
        end = self._finished_at if self._finished_at is not None else now
        elapsed = end - self._started_at if self._started_at is not None else 0.0

        text = Text()
        text.append(f"agentflow run {self._run_id}".rstrip(), style="bold")
        if self._run_status:
            style = _INSTANCE_STYLES.get(self._run_status, "")
            text.append(f"  {self._run_status}", style=style)
        text.append("\n")
        text.append(f"{running} running", style="cyan")
        if total is not None:
            queued = max(0, total - done - running - waiting)
            text.append(f" · {queued} queued · ")
        else:
            text.append(" · ")
        text.append(f"{waiting} waiting for rate limit", style="yellow" if waiting else "")
        text.append(f" · {done}/{total} done" if total is not None else f" · {done} done")
        if self._failed:
            text.append(" · ")
            text.append(f"{self._failed} failed", style="bold red")
        if self._instances_total > 1:
            text.append(f" · instances {self._instances_done}/{self._instances_total}")
        text.append(
            f"\ntokens {format_count(self._input_tokens)} in / "
            f"{format_count(self._output_tokens)} out · cost {self._cost.text()} · "
            f"elapsed {format_duration(elapsed)}"
        )
        eta = self._eta(elapsed, total)
        if eta is not None:
            text.append(f" · ETA {format_duration(eta)}")
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

    def _instance_rows(self) -> _Rows:
        # Running instances first (oldest first), then the ones that went wrong, then the rest.
        rank = {"running": 0, "failed": 1, "budget": 1, "cancelled": 1, "partial": 2}
        instances = sorted(self._instances.values(), key=lambda i: (rank.get(i.status, 3), i.order))
        rows = [
            (
                Text(instance.label),
                Text(f"{instance.done}/{instance.agents}"),
                Text(str(instance.running)),
                Text(instance.status, style=_INSTANCE_STYLES.get(instance.status, "")),
                Text(instance.cost.text() if instance.cost is not None else "-"),
            )
            for instance in instances[: self._max_instance_rows]
        ]
        hidden = instances[self._max_instance_rows :]
        more = None
        if hidden:
            ok = sum(1 for i in hidden if i.status == "ok")
            more = f"… {len(hidden)} more ({ok} ok)"
        return _Rows(_INSTANCE_COLUMNS, rows, more)

    def _agent_rows(self, now: float) -> _Rows:
        fan_outs = any(a.items is not None for a in self._agents.values())
        rows = []
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
            items = "-"
            if agent.items is not None and agent.items_done is not None:
                done = agent.items if agent.status == "completed" else len(agent.items_done)
                items = f"{done:,}/{agent.items:,}"
            row = [
                Text(icon, style=style),
                Text(agent.label),
                Text(agent.model or "-"),
                *([Text(items)] if fan_outs else []),
                Text(tokens),
                Text(agent.cost.text() if agent.cost is not None else "-"),
                Text(format_duration(duration) if agent.status != "skipped" else "skipped"),
            ]
            rows.append(tuple(row))
        columns = (
            _AGENT_COLUMNS if fan_outs else tuple(c for c in _AGENT_COLUMNS if c.name != "Items")
        )
        return _Rows(columns, rows, None)


@dataclass(frozen=True, slots=True)
class _Column:
    name: str
    right: bool = False  # right-justified
    flex: bool = False  # may be shortened (with an ellipsis) when the console is narrow
    drop: int = 0  # dropped when the console is too narrow, lowest first; 0: never


_INSTANCE_COLUMNS: Final = (
    _Column("Workflow", flex=True),
    _Column("Agents", right=True),
    _Column("Running", right=True, drop=1),
    _Column("Status"),
    _Column("Cost", right=True),
)
_AGENT_COLUMNS: Final = (
    _Column(""),
    _Column("Agent", flex=True),
    _Column("Model", flex=True, drop=1),
    _Column("Items", right=True),
    _Column("Tokens", right=True, drop=2),
    _Column("Cost", right=True),
    _Column("Time", right=True),
)
_GAP: Final = 2  # between columns (one cell of padding on each side)
_FLEX_READABLE: Final = 24
_FLEX_MIN: Final = 8


@dataclass(frozen=True, slots=True)
class _Rows:
    """A table's cells, taken under the sink's lock; laid out later at the console's width."""

    columns: tuple[_Column, ...]
    rows: Sequence[tuple[Text, ...]]
    more: str | None

    def table(self, max_width: int, max_rows: int) -> tuple[Table, int]:
        """The table at `max_width` with at most `max_rows` rows, and how many rows it left out.

        Every column is given its width, so Rich never cuts a cell on its own: a cell of a
        column that is not `flex` is always whole. Columns marked `drop` go first, then the
        flexible ones (names) are shortened.
        """
        keep = list(range(len(self.columns)))
        widths = {
            i: max(cell_len(c.name), *(r[i].cell_len for r in self.rows))
            for i, c in enumerate(self.columns)
        }

        def needed() -> int:
            return sum(widths[i] for i in keep) + _GAP * (len(keep) - 1)

        def shrink(floor: int) -> None:
            excess = needed() - max_width
            for i in keep:
                if excess <= 0:
                    return
                if self.columns[i].flex:
                    cut = min(excess, max(0, widths[i] - floor))
                    widths[i] -= cut
                    excess -= cut

        # The model goes first, then long names are shortened to a readable length, then the
        # tokens go, then names are shortened further. Costs, times and symbols stay whole.
        for level, floor in ((1, _FLEX_READABLE), (2, _FLEX_MIN)):
            if needed() > max_width:
                keep = [i for i in keep if self.columns[i].drop != level]
            if needed() > max_width:
                shrink(floor)
        table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, collapse_padding=True)
        for i in keep:
            column = self.columns[i]
            table.add_column(
                column.name,
                justify="right" if column.right else "left",
                width=widths[i],
                no_wrap=True,
                overflow="ellipsis" if column.flex else "crop",
            )
        shown = self.rows[: max(0, max_rows)]
        for row in shown:
            table.add_row(*(row[i] for i in keep))
        return table, len(self.rows) - len(shown)

    def more_line(self, left_out: int) -> Text | None:
        """`… 80 more (80 ok)`: the rows a table had no room or no licence to show."""
        more = self.more
        if left_out:
            more = f"… {left_out} more" + (f"; {more[2:]}" if more else "")
        return Text(more, style="dim") if more else None


class _Frame:
    """One frame of the display: the header always whole, then as many rows as fit."""

    def __init__(
        self, header: Text, stats: Text | None, instances: _Rows | None, agents: _Rows | None
    ) -> None:
        self.header = header
        self.stats = stats
        self.instances = instances
        self.agents = agents

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = options.max_width
        lines = [self.header] + ([self.stats] if self.stats is not None else [])
        used = sum(len(console.render_lines(t, options, pad=False)) for t in lines)
        yield from lines
        # A table takes its two header lines, its rows and a "… more" line.
        room = max(0, options.max_height - used)
        tables = [t for t in (self.instances, self.agents) if t is not None]
        for n, rows in enumerate(tables):
            later = sum(min(len(t.rows), 3) + 3 for t in tables[n + 1 :])
            fit = max(1, room - later - 3)
            table, left_out = rows.table(width, fit)
            yield table
            more = rows.more_line(left_out)
            if more is not None:
                yield more
            room -= min(len(rows.rows), fit) + 2 + (more is not None)
