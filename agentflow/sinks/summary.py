"""The end-of-run summary: a sink that adds events up, and the three ways to show the result.

    summary = CostSummary()
    bus = EventBus(run_id, time.time, [JsonlSink(path), summary, ...])
    ... the run ...
    console.print(cost_table(summary))
    if summary.failed_agents():
        console.print(failure_report(summary, "agentflow run hr.yaml --input role=SRE"))
    json.dumps(summary_json(summary))          # --format json

A cost is `None` ("unknown") as soon as one call behind it had no known price; it is never
shown as $0. Totals keep the known part and count the calls without a price.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from agentflow.events.types import Event
from agentflow.redaction import clean, neutralise
from agentflow.sinks import (
    budget_words,
    format_count,
    format_duration,
    format_usd,
    provider_message,
)
from agentflow.sinks.layout import WholeTable, data_cells

SUMMARY_FORMAT_VERSION = 1

AgentKey = tuple[str | None, int | None, str]

# Skip reasons that are consequences of something going wrong. A false condition is not, and
# neither is dependency_skipped: the engine gives that reason only to agents downstream of a
# false condition (a failure propagates as dependency_failed through the whole chain).
FAILURE_SKIP_REASONS = frozenset({"dependency_failed", "budget", "cancelled"})


@dataclass(slots=True)
class Usage:
    """Calls, tokens and cost; `known_cost_usd` leaves out the `unknown_cost_calls`."""

    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    known_cost_usd: float = 0.0
    unknown_cost_calls: int = 0
    retries: int = 0
    # Calls sent and never answered: their worst case, kept apart from the known cost.
    unconfirmed_calls: int = 0
    unconfirmed_cost_usd: float = 0.0
    # Calls whose cost is the one the provider or a gateway reported (no price known here).
    provider_priced_calls: int = 0

    @property
    def cost_usd(self) -> float | None:
        """The cost, or None when any call behind it had an unknown price."""
        return None if self.unknown_cost_calls else self.known_cost_usd

    def add(self, other: Usage) -> None:
        self.calls += other.calls
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.known_cost_usd += other.known_cost_usd
        self.unknown_cost_calls += other.unknown_cost_calls
        self.retries += other.retries
        self.unconfirmed_calls += other.unconfirmed_calls
        self.unconfirmed_cost_usd += other.unconfirmed_cost_usd
        self.provider_priced_calls += other.provider_priced_calls


@dataclass(slots=True)
class AgentRecord:
    """One agent of one workflow instance, as far as the events tell."""

    workflow: str | None
    instance: int | None
    agent: str
    model: str | None = None
    status: str = "running"  # running | completed | failed | skipped
    usage: Usage = field(default_factory=Usage)
    duration_s: float | None = None
    attempts: int | None = None
    error_class: str | None = None
    message: str | None = None
    skip_reason: str | None = None
    skip_detail: str | None = None

    def label(self, *, with_instance: bool) -> str:
        name = self.workflow or ""
        if with_instance and self.instance is not None:
            name = f"{name}[{self.instance}]"
        return f"{name}/{self.agent}" if name else self.agent


@dataclass(slots=True)
class WorkflowRecord:
    workflow: str | None
    instance: int | None
    status: str = "running"
    cost_usd: float | None = None
    duration_s: float | None = None


class CostSummary:
    """A sink that aggregates a run's events into per-agent, per-model and run totals."""

    label = "the cost summary"

    def __init__(self) -> None:
        self.run_id: str | None = None
        self.status: str | None = None
        self.exit_code: int | None = None
        self.duration_s: float | None = None
        self.cancelled: dict[str, Any] | None = None
        self.budget_exceeded: list[dict[str, Any]] = []
        self.output_failures: list[tuple[str, str]] = []  # (where, message)
        self.deadlines_missed: list[tuple[str, float | None, str]] = []  # where, s, action
        self.agents: dict[AgentKey, AgentRecord] = {}
        self.models: dict[str, Usage] = {}
        self.workflows: dict[tuple[str | None, int | None], WorkflowRecord] = {}
        self.retries_by_class: Counter[str] = Counter()

    # -- Sink -------------------------------------------------------------------------------

    def handle(self, event: Event) -> None:
        name = event.event
        d = event.data
        if name == "llm.request":
            self._agent(event).usage.calls += 1
            self._model(d.get("model")).calls += 1
        elif name == "llm.response":
            cost = d.get("cost_usd")
            for usage in (self._agent(event).usage, self._model(d.get("model"))):
                usage.input_tokens += int(d.get("input_tokens") or 0)
                usage.output_tokens += int(d.get("output_tokens") or 0)
                if cost is None:
                    usage.unknown_cost_calls += 1
                else:
                    usage.known_cost_usd += float(cost)
                if d.get("cost_source") == "provider":
                    usage.provider_priced_calls += 1
        elif name == "llm.abandoned":
            unconfirmed = float(d.get("unconfirmed_cost_usd") or 0.0)
            for usage in (self._agent(event).usage, self._model(d.get("model"))):
                if d.get("sent", True):
                    usage.unconfirmed_calls += 1
                    usage.unconfirmed_cost_usd += unconfirmed
                else:  # it never left: not a call sent
                    usage.calls -= 1
        elif name == "llm.retry":
            self._agent(event).usage.retries += 1
            self._model(d.get("model")).retries += 1
            self.retries_by_class[str(d.get("error_class"))] += 1
        elif name == "agent.started":
            record = self._agent(event)
            record.model = d.get("model")
            record.status = "running"
        elif name in ("agent.completed", "agent.failed"):
            self._finish_agent(event)
        elif name == "agent.skipped":
            record = self._agent(event)
            record.status = "skipped"
            record.skip_reason = d.get("reason")
            record.skip_detail = d.get("detail")
        elif name == "workflow.started":
            self.workflows[(event.workflow, event.instance)] = WorkflowRecord(
                event.workflow, event.instance
            )
        elif name == "workflow.completed":
            wf = self.workflows.setdefault(
                (event.workflow, event.instance), WorkflowRecord(event.workflow, event.instance)
            )
            wf.status = d.get("status", "failed")
            wf.cost_usd = d.get("cost_usd")
            wf.duration_s = d.get("duration_s")
        elif name == "run.started":
            self.run_id = event.run_id
        elif name == "run.completed":
            self.run_id = event.run_id
            self.status = d.get("status")
            self.exit_code = d.get("exit_code")
            self.duration_s = d.get("duration_s")
        elif name == "run.cancelled":
            self.cancelled = {"signal": d.get("signal"), "reason": d.get("reason")}
        elif name == "budget.exceeded":
            self.budget_exceeded.append({"workflow": event.workflow, "agent": event.agent, **d})
        elif name == "workflow.deadline_missed":
            where = f"{event.workflow}[{event.instance}]" if event.instance else event.workflow
            action = str(d.get("on_deadline", "warn"))
            self.deadlines_missed.append((str(where), d.get("deadline_s"), action))
        elif name == "workflow.output_failed":
            where = f"{event.workflow}[{event.instance}]" if event.instance else event.workflow
            self.output_failures.append((f"{where} output {d.get('output')}", d.get("message", "")))

    def close(self) -> None:
        pass

    def _agent(self, event: Event) -> AgentRecord:
        key = (event.workflow, event.instance, event.agent or "?")
        record = self.agents.get(key)
        if record is None:
            record = self.agents[key] = AgentRecord(*key)
        return record

    def _model(self, model: Any) -> Usage:
        key = str(model)
        usage = self.models.get(key)
        if usage is None:
            usage = self.models[key] = Usage()
        return usage

    def _finish_agent(self, event: Event) -> None:
        d = event.data
        record = self._agent(event)
        record.status = "completed" if event.event == "agent.completed" else "failed"
        record.model = d.get("model", record.model)
        if d.get("answered_by"):  # a fallback answered: show both
            record.model = f"{record.model} → {d['answered_by']}"
        record.duration_s = d.get("duration_s")
        record.attempts = d.get("attempts")
        if event.event == "agent.failed":
            record.error_class = d.get("error_class")
            record.message = d.get("message")
        # The engine's own totals for the agent win over what the call events added up to.
        usage = record.usage
        usage.calls = int(d.get("calls", usage.calls))
        usage.input_tokens = int(d.get("input_tokens", usage.input_tokens))
        usage.output_tokens = int(d.get("output_tokens", usage.output_tokens))
        if "cost_usd" in d:
            if d["cost_usd"] is None:
                usage.unknown_cost_calls = max(usage.unknown_cost_calls, 1)
            else:
                usage.known_cost_usd = float(d["cost_usd"])
                usage.unknown_cost_calls = 0

    # -- queries ----------------------------------------------------------------------------

    @property
    def multi_instance(self) -> bool:
        """True when some workflow ran more than one instance."""
        return any(instance not in (None, 0) for _, instance in self.workflows) or any(
            instance not in (None, 0) for _, instance, _ in self.agents
        )

    def totals(self) -> Usage:
        """Calls, tokens, cost and retries over every agent."""
        total = Usage()
        for record in self.agents.values():
            total.add(record.usage)
        return total

    def agent_counts(self) -> dict[str, int]:
        counts = Counter(record.status for record in self.agents.values())
        return {k: counts.get(k, 0) for k in ("completed", "failed", "skipped", "running")}

    def failed_agents(self) -> list[AgentRecord]:
        return [r for r in self.agents.values() if r.status == "failed"]

    def skipped_by_failures(self) -> list[AgentRecord]:
        return [
            r
            for r in self.agents.values()
            if r.status == "skipped" and r.skip_reason in FAILURE_SKIP_REASONS
        ]

    def grouped_agents(self) -> list[tuple[str, str | None, list[AgentRecord]]]:
        """Agents grouped across instances: (label, model, records), in first-seen order."""
        groups: dict[tuple[str | None, str], list[AgentRecord]] = {}
        for record in self.agents.values():
            groups.setdefault((record.workflow, record.agent), []).append(record)
        several_workflows = len({wf for wf, _ in groups}) > 1
        out = []
        for (workflow, agent), records in groups.items():
            label = f"{workflow}/{agent}" if several_workflows and workflow else agent
            models = {r.model for r in records if r.model}
            model = models.pop() if len(models) == 1 else ("(several)" if models else None)
            out.append((label, model, records))
        return out


# -- rendering ------------------------------------------------------------------------------

_STATUS_ORDER = ("completed", "failed", "skipped", "running")
_STATUS_WORDS = {"completed": "ok", "failed": "failed", "skipped": "skipped", "running": "running"}
_STATUS_STYLES = {
    "completed": "green",
    "failed": "bold red",
    "skipped": "yellow",
    "running": "cyan",
}


def _status_text(records: Iterable[AgentRecord]) -> Text:
    counts = Counter(r.status for r in records)
    if len(counts) == 1:
        [(status, n)] = counts.items()
        word = _STATUS_WORDS.get(status, status)
        return Text(word if n == 1 else f"{n} {word}", style=_STATUS_STYLES.get(status, ""))
    parts = [
        Text(f"{counts[s]} {_STATUS_WORDS[s]}", style=_STATUS_STYLES[s])
        for s in _STATUS_ORDER
        if counts[s]
    ]
    return Text(", ").join(parts)


def _total_cost(usage: Usage) -> str:
    text = format_usd(usage.known_cost_usd)
    if usage.unknown_cost_calls:
        # Unknown is not $0: what is known is a floor (the caption counts the unpriced calls).
        text = f"at least {text}"
    if usage.unconfirmed_calls:
        text += f" + {format_usd(usage.unconfirmed_cost_usd)} unconfirmed"
    return text


def _table(title: str | None = None) -> Table:
    return Table(
        title=title,
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        collapse_padding=True,
    )


def cost_table(summary: CostSummary) -> WholeTable:
    """Per-agent rows (grouped over instances), per-model rows, and the run total.

    Whole at the console's width, or stacked row by row below it: no number is ever cut.
    """
    table = _table(title="Cost")
    table.add_column("Agent", no_wrap=True)
    table.add_column("Model", no_wrap=True)
    table.add_column("Status")
    for name in ("Calls", "In tokens", "Out tokens", "Cost", "Time"):
        table.add_column(name, justify="right", no_wrap=True)

    for label, model, records in summary.grouped_agents():
        usage = Usage()
        for record in records:
            usage.add(record.usage)
        durations = [r.duration_s for r in records if r.duration_s is not None]
        if len(records) > 1:
            label = f"{label} x{len(records)}"
        table.add_row(
            *data_cells(
                label,
                neutralise(model) if model else "-",
                _status_text(records),
                format_count(usage.calls),
                format_count(usage.input_tokens),
                format_count(usage.output_tokens),
                format_usd(usage.cost_usd) if usage.calls or usage.unknown_cost_calls else "-",
                format_duration(sum(durations)) if durations else "-",
            )
        )
    if summary.models:
        table.add_section()
        for model, usage in sorted(summary.models.items()):
            retries = f"{usage.retries} {'retry' if usage.retries == 1 else 'retries'}"
            table.add_row(
                *data_cells(
                    Text("by model", style="dim"),
                    neutralise(model),
                    Text(retries if usage.retries else "", style="dim"),
                    format_count(usage.calls),
                    format_count(usage.input_tokens),
                    format_count(usage.output_tokens),
                    format_usd(usage.cost_usd),
                    "",
                )
            )
    total = summary.totals()
    table.add_section()
    table.add_row(
        *data_cells(
            Text("Total", style="bold"),
            "",
            "",
            format_count(total.calls),
            format_count(total.input_tokens),
            format_count(total.output_tokens),
            Text(_total_cost(total), style="bold"),
            format_duration(summary.duration_s),
        )
    )
    notes = []
    if summary.agents:
        notes.append(Text("Agents: ").append_text(_status_text(summary.agents.values())))
    if total.unconfirmed_calls:
        notes.append(
            Text(
                f"unconfirmed: {total.unconfirmed_calls} call(s) were sent and never answered "
                "(timeout, cancel, lost connection); the provider may bill them, so each counts "
                "at its worst case against budgets"
            )
        )
    if total.unknown_cost_calls:
        notes.append(
            Text(
                f"unpriced: {total.unknown_cost_calls} call(s) used a model without a known "
                "price; give it one under `pricing:` to count it"
            )
        )
    if summary.deadlines_missed:
        missed = summary.deadlines_missed
        names = ", ".join(
            f"{where} ({format_duration(seconds)}{', cancelled' if action == 'cancel' else ''})"
            for where, seconds, action in missed[:4]
        )
        more = f" +{len(missed) - 4} more" if len(missed) > 4 else ""
        notes.append(Text(f"deadline missed: {names}{more}", style="yellow"))
    if total.provider_priced_calls:
        notes.append(
            Text(
                f"provider: {total.provider_priced_calls} call(s) have no price here and are "
                "counted at the cost the provider or gateway reported"
            )
        )
    if notes:
        table.caption = Text("\n").join(notes)
        table.caption_justify = "left"
    return WholeTable(table)


def _shorten(text: str | None, limit: int) -> str:
    # Text from outside (a provider's error, a tool's output): redacted before a table can
    # fold it across lines, and no control character reaches the terminal.
    flat = " ".join(clean(text or "").split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _names(records: list[AgentRecord], *, with_instance: bool, limit: int = 4) -> str:
    names = [r.label(with_instance=with_instance) for r in records[:limit]]
    if len(records) > limit:
        names.append(f"+{len(records) - limit} more")
    return ", ".join(names)


def _budget_stops(summary: CostSummary) -> list[str]:
    """One line per budget that refused calls, however many calls it refused."""
    by_scope: dict[str, list[dict[str, Any]]] = {}
    for stop in summary.budget_exceeded:
        by_scope.setdefault(str(stop.get("scope", "run")), []).append(stop)
    lines = []
    for scope, stops in by_scope.items():
        spent = max(float(s.get("spent_usd") or 0.0) for s in stops)
        needed = max(float(s.get("requested_usd") or 0.0) for s in stops)
        refused = "a call" if len(stops) == 1 else f"{len(stops):,} calls"
        lines.append(
            f"Stopped by the {budget_words(scope)}: {format_usd(spent)} of "
            f"{format_usd(stops[0].get('limit_usd'))} spent; {refused} reserving up to "
            f"{format_usd(needed)} (prompt + max_tokens) did not fit: lower max_tokens or "
            "raise the budget"
        )
    return lines


def failure_report(summary: CostSummary, rerun_command: str) -> RenderableType:
    """What failed and why, what it cost, and the exact command to run again.

    Agents stopped by the user's own cancel (Ctrl-C, SIGTERM) are reported as cancelled,
    not as failures.
    """
    failed = summary.failed_agents()
    broken = summary.skipped_by_failures()
    skipped = [r for r in broken if r.skip_reason != "cancelled"]
    cancelled = [r for r in broken if r.skip_reason == "cancelled"]
    multi = summary.multi_instance
    parts: list[RenderableType] = []
    outputs = summary.output_failures
    if (
        not failed
        and not broken
        and not summary.budget_exceeded
        and not summary.cancelled
        and not outputs
    ):
        return Text("No failures.")

    if failed or skipped or summary.budget_exceeded or not summary.cancelled:
        headline = f"Failures: {len(failed)} agent{'s' if len(failed) != 1 else ''} failed"
        if skipped:
            headline += f", {len(skipped)} skipped because of failures"
        parts.append(Text(headline, style="bold red"))
    if summary.cancelled:
        signal = summary.cancelled.get("signal")
        line = f"Cancelled{' by ' + signal if signal else ''}: {summary.cancelled.get('reason')}"
        if cancelled:
            line += f" ({len(cancelled)} agent{'s' if len(cancelled) != 1 else ''} not run)"
        parts.append(Text(line, style="bold yellow"))

    if failed:
        by_class: dict[str, list[AgentRecord]] = {}
        for record in failed:
            by_class.setdefault(record.error_class or "unknown error", []).append(record)
        table = _table()
        table.add_column("Error")
        table.add_column("Agents", justify="right")
        table.add_column("Which")
        table.add_column("First message", overflow="fold")
        for error_class, records in sorted(by_class.items(), key=lambda kv: (-len(kv[1]), kv[0])):
            table.add_row(
                *data_cells(
                    Text(error_class, style="red"),
                    str(len(records)),
                    _names(records, with_instance=multi),
                    _shorten(provider_message(records[0].message or ""), 200),
                )
            )
        parts.append(table)

    if outputs:
        lines = Text("Outputs left null because their template failed:\n")
        for where, message in outputs[:10]:
            lines.append(f"  {where}: {_shorten(message, 160)}\n")
        if len(outputs) > 10:
            lines.append(f"  … and {len(outputs) - 10} more\n")
        lines.rstrip()
        parts.append(lines)

    if skipped:
        lines = Text("Skipped because of failures:\n")
        for record in skipped[:10]:
            detail = f" ({clean(record.skip_detail)})" if record.skip_detail else ""
            lines.append(f"  {record.label(with_instance=multi)}: {record.skip_reason}{detail}\n")
        if len(skipped) > 10:
            lines.append(f"  … and {len(skipped) - 10} more\n")
        lines.rstrip()
        parts.append(lines)

    failed_usage = Usage()
    for record in _failed_work(summary):
        failed_usage.add(record.usage)
    facts = Text()
    if failed or failed_usage.calls:  # work cancelled mid-way was paid for too
        facts.append(f"Cost spent on failed work: {_total_cost(failed_usage)}\n")
    retries = sum(summary.retries_by_class.values())
    by_class_text = ", ".join(f"{k} {n}" for k, n in sorted(summary.retries_by_class.items()))
    if retries:
        facts.append(f"Retries used: {retries}" + (f" ({by_class_text})" if retries else "") + "\n")
    for line in _budget_stops(summary):
        facts.append(line + "\n", style="yellow")
    facts.append("Go on with: ")
    facts.append(rerun_command, style="bold")
    parts.append(facts)
    return Group(*parts)


def _failed_work(summary: CostSummary) -> list[AgentRecord]:
    """Agents whose spend bought nothing: failed ones, and skipped ones that had made calls
    (cancelled mid-work)."""
    return [
        r
        for r in summary.agents.values()
        if r.status == "failed" or (r.status == "skipped" and r.usage.calls)
    ]


def _failures_json(summary: CostSummary) -> dict[str, Any]:
    """The failure analysis of the screen report, for scripts."""
    failed = summary.failed_agents()
    multi = summary.multi_instance
    by_class: dict[str, list[AgentRecord]] = {}
    for record in failed:
        by_class.setdefault(record.error_class or "unknown error", []).append(record)
    spent = Usage()
    for record in _failed_work(summary):
        spent.add(record.usage)
    return {
        "by_class": [
            {
                "error_class": error_class,
                "agents": [r.label(with_instance=multi) for r in records],
                "first_message": records[0].message,
            }
            for error_class, records in sorted(
                by_class.items(), key=lambda kv: (-len(kv[1]), kv[0])
            )
        ],
        "skipped_because_of_failures": [
            r.label(with_instance=multi) for r in summary.skipped_by_failures()
        ],
        "cost_usd_on_failed_work": _usd_json(spent.cost_usd),
        "unconfirmed_cost_usd_on_failed_work": _usd_json(spent.unconfirmed_cost_usd),
        "retries": {
            "total": sum(summary.retries_by_class.values()),
            "by_class": dict(sorted(summary.retries_by_class.items())),
        },
    }


def _usd_json(value: float | None) -> float | None:
    # Sums of float prices pick up noise in the last digits (0.008729999999999998).
    return None if value is None else round(value, 10)


def _usage_json(usage: Usage) -> dict[str, Any]:
    return {
        "calls": usage.calls,
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cost_usd": _usd_json(usage.cost_usd),
        "unknown_cost_calls": usage.unknown_cost_calls,
        "retries": usage.retries,
        "unconfirmed_calls": usage.unconfirmed_calls,
        "unconfirmed_cost_usd": _usd_json(usage.unconfirmed_cost_usd),
    }


def summary_json(summary: CostSummary) -> dict[str, Any]:
    """The summary as one JSON-ready document (`agentflow run --format json`).

    Costs are null when unknown (any call behind them unpriced); `totals.known_cost_usd`
    is the known part, a floor, with `totals.unknown_cost_calls` saying how many calls it
    leaves out.
    """
    total = summary.totals()
    counts = summary.agent_counts()
    return {
        "version": SUMMARY_FORMAT_VERSION,
        "run_id": summary.run_id,
        "status": summary.status,
        "exit_code": summary.exit_code,
        "duration_s": summary.duration_s,
        "totals": {
            **_usage_json(total),
            # null when any call was unpriced: unknown is not $0; the known part is a floor
            "cost_usd": _usd_json(total.cost_usd),
            "known_cost_usd": _usd_json(total.known_cost_usd),
            "provider_priced_calls": total.provider_priced_calls,
            "agents": {k: counts[k] for k in ("completed", "failed", "skipped")},
        },
        "workflows": [
            {
                "workflow": wf.workflow,
                "instance": wf.instance,
                "status": wf.status,
                "cost_usd": wf.cost_usd,
                "duration_s": wf.duration_s,
            }
            for wf in summary.workflows.values()
        ],
        "agents": [
            {
                "workflow": r.workflow,
                "instance": r.instance,
                "agent": r.agent,
                "model": r.model,
                "status": r.status,
                **_usage_json(r.usage),
                "duration_s": r.duration_s,
                "attempts": r.attempts,
                "error_class": r.error_class,
                "message": r.message,
                "skip_reason": r.skip_reason,
                "skip_detail": r.skip_detail,
            }
            for r in summary.agents.values()
        ],
        "models": [{"model": m, **_usage_json(u)} for m, u in sorted(summary.models.items())],
        "failures": _failures_json(summary),
        "cancelled": summary.cancelled,
        "budget_exceeded": summary.budget_exceeded,
    }
