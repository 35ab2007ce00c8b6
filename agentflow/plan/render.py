"""Show a plan: a Rich table for people, a versioned JSON document for scripts.

The JSON document (`"format": "agentflow.plan/v1"`) is described by schemas/plan.schema.json.
Within v1, fields are only ever added; a removed or re-meant field makes v2. A batch plan is one
such document whose totals cover every instance, with the instances' own plans in `instances`.

The table never drops a digit: when the console is too narrow for it, the same numbers are
stacked, one agent a few lines. `plan_markdown` renders the plan for a pull-request comment.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, Final, TypeVar

from rich import box
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from agentflow.model.types import thaw
from agentflow.plan.estimate import AgentPlan, BudgetCheck, Estimate, FanOut, Plan, Usage
from agentflow.plan.pricing import PER_MILLION, ModelPrice
from agentflow.sinks import format_usd

PLAN_FORMAT: Final = "agentflow.plan/v1"

_VERDICT_STYLE: Final = {"ok": "green", "warning": "yellow", "over": "bold red"}
R = TypeVar("R")


# --- JSON ---------------------------------------------------------------------------------


def _usd(value: float | None) -> float | None:
    return None if value is None else round(value, 8)


def _ints(e: Estimate[int]) -> dict[str, int]:
    return {"low": e.low, "expected": e.expected, "worst": e.worst}


def _costs(e: Estimate[float | None] | Estimate[float]) -> dict[str, float | None]:
    return {"low": _usd(e.low), "expected": _usd(e.expected), "worst": _usd(e.worst)}


def _usage(u: Usage) -> dict[str, Any]:
    return {
        "calls": u.calls,
        "input_tokens": u.input_tokens,
        "output_tokens": u.output_tokens,
        "cost_usd": _usd(u.cost),
    }


def _price(p: ModelPrice) -> dict[str, Any]:
    return {
        "input_usd_per_1m": round(p.input_per_token * PER_MILLION, 6),
        "output_usd_per_1m": round(p.output_per_token * PER_MILLION, 6),
        "source": p.source,
    }


def _fan_out(f: FanOut) -> dict[str, Any]:
    return {"count": f.count, "known": f.known, "reason": f.reason}


class _Objects:
    """The JSON object of each record, made once and copied for every agent holding it.

    The planner shares its frozen records among agents alike (a price, a fan-out, usage
    with the same numbers): a copy of a flat object costs less than rounding and building
    it again. Each agent still gets its own dicts.
    """

    def __init__(self) -> None:
        # by id: the record is kept beside its object, so the id stays its own
        self._made: dict[int, tuple[object, dict[str, Any]]] = {}

    def of(self, record: R, make: Callable[[R], dict[str, Any]]) -> dict[str, Any]:
        made = self._made.get(id(record))
        if made is None:
            made = self._made[id(record)] = (record, make(record))
        return dict(made[1])


def _agent_json(a: AgentPlan, objects: _Objects) -> dict[str, Any]:
    return {
        "id": a.id,
        "model": a.model,
        "tokenizer": a.tokenizer,
        "price": None if a.price is None else objects.of(a.price, _price),
        "fan_out": objects.of(a.fan_out, _fan_out),
        "calls": objects.of(a.calls, _ints),
        "input_tokens": objects.of(a.input_tokens, _ints),
        "output_tokens": objects.of(a.output_tokens, _ints),
        "cost_usd": objects.of(a.cost, _costs),
        "max_attempts": a.max_attempts,
        "worst_with_retries": objects.of(a.worst_with_retries, _usage),
        "expected_seconds": round(a.seconds, 3),
        "conditional": a.conditional,
        "notes": list(a.notes),
    }


def _totals_json(plan: Plan) -> dict[str, Any]:
    """Totals; a cost over unpriced calls is null (unknown is not $0), its known part a floor."""
    t = plan.totals
    unpriced = t.unpriced_calls
    known = _costs(t.cost)
    cost = {k: (None if getattr(unpriced, k) else v) for k, v in known.items()}
    retries = _usage(t.worst_with_retries)
    retries["known_cost_usd"] = retries["cost_usd"]
    retries["unpriced_calls"] = t.worst_unpriced_calls
    if t.worst_unpriced_calls:
        retries["cost_usd"] = None
    return {
        "calls": _ints(t.calls),
        "input_tokens": _ints(t.input_tokens),
        "output_tokens": _ints(t.output_tokens),
        "cost_usd": cost,
        "known_cost_usd": known,
        "unpriced_calls": _ints(unpriced),
        "worst_with_retries": retries,
    }


def plan_to_json(plan: Plan) -> dict[str, Any]:
    """The plan as a JSON-ready dict, `"format": "agentflow.plan/v1"` (see the schema)."""
    objects = _Objects()
    return {
        "format": PLAN_FORMAT,
        "workflow": plan.workflow,
        "path": plan.path,
        "inputs": thaw(plan.inputs),
        "price_map": dict(plan.price_map),
        "agents": [_agent_json(a, objects) for a in plan.agents],
        "totals": _totals_json(plan),
        "unknown_price_agents": list(plan.unknown_price_agents),
        "unknown_fan_out_agents": list(plan.unknown_fan_out_agents),
        "time": {
            "critical_path": list(plan.time.critical_path),
            "critical_path_seconds": round(plan.time.critical_path_seconds, 3),
            "limit_bounds": [
                {
                    "key": b.key,
                    "limit": b.limit,
                    "seconds": round(b.seconds, 3),
                    "agents": list(b.agents),
                }
                for b in plan.time.limit_bounds
            ],
            "wall_seconds": round(plan.time.wall_seconds, 3),
            "bound_by": plan.time.bound_by,
        },
        "deadline": _deadline_json(plan),
        "budget": {
            "verdict": plan.budget.verdict,
            "scope": plan.budget.scope,
            "checks": [
                {
                    "scope": c.scope,
                    "max_usd": c.max_usd,
                    "verdict": c.verdict,
                    "cost_usd": _costs(c.cost),
                    **({"instance": c.instance} if c.instance is not None else {}),
                }
                for c in plan.budget.checks
            ],
        },
        "notes": list(plan.notes),
        **(
            {
                "instances": [
                    {"origin": i.origin, "line": i.line, "plan": plan_to_json(i.plan)}
                    for i in plan.instances
                ]
            }
            if plan.instances
            else {}
        ),
    }


# --- table ---------------------------------------------------------------------------------


def _money(value: float | None) -> str:
    # One formatter for money everywhere (plan, progress, plain lines, cost table): amounts
    # below a cent keep their significant digits. Formatted from the value the JSON shows, so
    # both always agree.
    return format_usd(_usd(value))


def _span(e: Estimate[int]) -> str:
    return f"{e.expected:,}" if e.expected == e.worst else f"{e.expected:,}-{e.worst:,}"


def _deadline_json(plan: Plan) -> dict[str, Any] | None:
    check = plan.deadline
    if check is None:
        return None
    return {
        "deadline_s": round(check.deadline_s, 3),
        "at": check.at,
        "predicted_s": round(check.predicted_s, 3),
        "meets": check.meets,
        "on_deadline": check.on_deadline,
    }


def deadline_line(plan: Plan) -> Text | None:
    """One line: the predicted wall time against the deadline (None without a deadline)."""
    check = plan.deadline
    if check is None:
        return None
    given = check.at if check.at is not None else f"{_seconds(check.deadline_s)} after the start"
    if check.meets:
        spare = _seconds(check.deadline_s - check.predicted_s)
        return Text(f"Deadline: {given}; predicted to finish with {spare} to spare")
    late = _seconds(check.predicted_s - check.deadline_s)
    return Text(
        f"Deadline: {given}; predicted to MISS it by {late} ({_seconds(check.predicted_s)}, "
        f"bound by {plan.time.bound_by}): raise the limits, trim the work or move the deadline",
        style="bold yellow",
    )


def _seconds(value: float) -> str:
    value = round(value, 3)  # as in the JSON
    if value < 120:
        return f"{value:.1f} s"
    minutes, seconds = divmod(round(value), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {seconds:02d} s"


# A table of thousands of rows helps nobody (and takes Rich seconds to lay out): past this, the
# table shows the most expensive agents and says how many it left out.
MAX_TABLE_ROWS: Final = 50

_COLUMNS: Final = ("items", "calls", "in", "out", "low", "expected", "worst")
_COST_COLUMNS: Final = frozenset({"low", "expected", "worst"})


def _row(a: AgentPlan) -> tuple[str, ...]:
    return (
        str(a.fan_out.count) if a.fan_out.known else "?",
        _span(a.calls),
        f"{a.input_tokens.expected:,}",
        f"{a.output_tokens.expected:,}",
        _money(a.cost.low),
        _money(a.cost.expected),
        _money(a.cost.worst),
    )


def _floor(known: float, unpriced: int, calls: int) -> str:
    """A total over unpriced calls: unknown is not $0, the known part is a floor."""
    if not unpriced:
        return _money(known)
    return "unknown" if unpriced >= calls else f"≥{_money(known)}"


def _total_row(plan: Plan) -> tuple[str, ...]:
    t = plan.totals
    u = t.unpriced_calls
    return (
        "",
        _span(t.calls),
        f"{t.input_tokens.expected:,}",
        f"{t.output_tokens.expected:,}",
        _floor(t.cost.low, u.low, t.calls.low),
        _floor(t.cost.expected, u.expected, t.calls.expected),
        _floor(t.cost.worst, u.worst, t.calls.worst),
    )


def _instance_row(plan: Plan) -> tuple[str, ...]:
    return (plan.budget.verdict if plan.budget.scope else "-", *_total_row(plan)[1:])


def _ranked(items: Sequence[Any], worst: Any, max_rows: int) -> list[Any]:
    if len(items) <= max_rows:
        return list(items)
    keep = {id(x) for x in sorted(items, key=lambda x: -(worst(x) or 0.0))[:max_rows]}
    return [x for x in items if id(x) in keep]


class _Fitted:
    """A table where it fits whole, else the same cells stacked: no cell is ever cut."""

    def __init__(
        self,
        title: str,
        headers: Sequence[str],
        rows: Sequence[tuple[Text, tuple[str, ...]]],
        footer: tuple[str, tuple[str, ...]] | None,
    ) -> None:
        self.title = title
        self.headers = tuple(headers)
        self.rows = list(rows)
        self.footer = footer

    def table(self) -> Table:
        table = Table(
            title=self.title,
            show_footer=self.footer is not None,
            title_justify="left",
            box=box.SIMPLE_HEAD,
            pad_edge=False,
            collapse_padding=True,
        )
        label, cells = self.footer or ("", ("",) * len(self.headers[1:]))
        table.add_column(self.headers[0], footer=label, no_wrap=True)
        for header, cell in zip(self.headers[1:], cells, strict=True):
            table.add_column(header, justify="right", footer=cell, no_wrap=True)
        for name, row in self.rows:
            table.add_row(name, *row)
        return table

    def stacked(self) -> Iterator[Text]:
        yield Text(self.title, style="italic")
        entries = [*self.rows]
        if self.footer is not None:
            entries.append((Text(self.footer[0], style="bold"), self.footer[1]))
        for name, row in entries:
            yield name
            pairs = [(h, c) for h, c in zip(self.headers[1:], row, strict=True) if c]
            counts = [f"{h} {c}" for h, c in pairs if h not in _COST_COLUMNS]
            costs = [f"{h} {c}" for h, c in pairs if h in _COST_COLUMNS]
            yield Text("  " + " · ".join(counts))
            yield Text("  cost " + " · ".join(costs))

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        table = self.table()
        # Measured unbounded: Measurement.get clamps to the width it is given.
        needed = Measurement.get(console, options.update_width(10_000), table).maximum
        if needed <= options.max_width:
            yield table
        else:
            yield from self.stacked()

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement.get(console, options, self.table())


def _agent_name(a: AgentPlan) -> Text:
    name = Text(a.id + (" (if)" if a.conditional else ""))
    name.append("\n" + a.model, style="dim")
    return name


def _budget_line(plan: Plan) -> Text:
    verdict = Text("Budget: ")
    verdict.append(plan.budget.verdict.upper(), style=_VERDICT_STYLE[plan.budget.verdict])
    if plan.budget.scope is not None:
        check = plan.budget.deciding()
        assert check is not None
        verdict.append(
            f" ({_scope_words(check)} {_money(check.max_usd)}: expected "
            f"{_money(check.cost.expected)}, worst {_money(check.cost.worst)})"
        )
    else:
        verdict.append(" (no budget declared)")
    return verdict


def _scope_words(check: BudgetCheck) -> str:
    scope = check.scope
    words = f"agent {scope[6:]} budget" if scope.startswith("agent:") else f"{scope} budget"
    return f"{words} of {check.instance}" if check.instance else words


def _summary_lines(plan: Plan) -> list[RenderableType]:
    totals = plan.totals
    lines: list[RenderableType] = []
    retries = totals.worst_with_retries
    cost = _money(retries.cost)
    unpriced = totals.worst_unpriced_calls
    if unpriced:
        cost = "unknown" if unpriced >= retries.calls else f"at least {cost}"
        cost += f", {unpriced:,} call{'' if unpriced == 1 else 's'} unpriced"
    lines.append(Text(f"Worst case with every retry: {retries.calls:,} calls, {cost}"))
    path = " → ".join(plan.time.critical_path) or "(no agents)"
    lines.append(
        Text(f"Critical path: {path} ({_seconds(plan.time.critical_path_seconds)} expected)")
    )
    lines.append(
        Text(
            f"Estimated wall time: {_seconds(plan.time.wall_seconds)}, bound by {plan.time.bound_by}"
        )
    )
    deadline = deadline_line(plan)
    if deadline is not None:
        lines.append(deadline)
    lines.append(_budget_line(plan))
    if plan.unknown_price_agents:
        lines.append(
            Text(
                "Unknown price (left out of the totals): " + ", ".join(plan.unknown_price_agents),
                style="yellow",
            )
        )
    for a in plan.agents:
        lines.extend(Text(f"{a.id}: {note}", style="dim") for note in a.notes)
    lines.extend(Text(note, style="dim") for note in plan.notes)
    return lines


def plan_table(plan: Plan, max_rows: int = MAX_TABLE_ROWS) -> RenderableType:
    """Per-agent rows, totals, critical path, wall time and the budget verdict, for a console.

    With more than `max_rows` agents (or batch instances) only the most expensive (worst case)
    are listed; the totals always cover every one. Below the table's width the rows are
    stacked instead, so every number is shown whole at any console width.
    """
    lines: list[RenderableType] = []
    if plan.instances:
        shown_i = _ranked(plan.instances, lambda i: i.plan.totals.cost.worst, max_rows)
        lines.append(
            _Fitted(
                f"Plan: {plan.workflow}, {len(plan.instances):,} instances",
                ("instance", "budget", *_COLUMNS[1:]),
                [(Text(i.origin), _instance_row(i.plan)) for i in shown_i],
                ("batch total", _total_row(plan)),
            )
        )
        if len(shown_i) < len(plan.instances):
            lines.append(_hidden_note(len(shown_i), len(plan.instances), "instances"))
        title = "By agent, all instances"
    else:
        title = f"Plan: {plan.workflow}"
    shown = _ranked(plan.agents, lambda a: a.cost.worst, max_rows)
    lines.append(
        _Fitted(
            title,
            ("agent / model", *_COLUMNS),
            [(_agent_name(a), _row(a)) for a in shown],
            ("total", _total_row(plan)),
        )
    )
    if len(shown) < len(plan.agents):
        lines.append(_hidden_note(len(shown), len(plan.agents), "agents"))
    lines.extend(_summary_lines(plan))
    return Group(*lines)


def _hidden_note(shown: int, total: int, what: str) -> Text:
    return Text(
        f"{shown} most expensive of {total:,} {what} shown; "
        f"{total - shown:,} more are in the totals (every one: --format json)",
        style="dim",
    )


# --- Markdown -------------------------------------------------------------------------------


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def _md_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |"]
    lines.append("|" + "|".join([" --- "] + [" ---: "] * (len(headers) - 1)) + "|")
    lines.extend("| " + " | ".join(_md(c) for c in row) + " |" for row in rows)
    return lines


def plan_markdown(plan: Plan, max_rows: int = MAX_TABLE_ROWS) -> str:
    """The plan as GitHub-flavoured Markdown, for a pull-request comment."""
    out: list[str] = []
    if plan.instances:
        out.append(f"### Plan: `{plan.workflow}`, {len(plan.instances):,} instances")
        out.append("")
        shown_i = _ranked(plan.instances, lambda i: i.plan.totals.cost.worst, max_rows)
        rows = [[f"`{i.origin}`", *_instance_row(i.plan)] for i in shown_i]
        rows.append(["**batch total**", *(f"**{c}**" if c else "" for c in _total_row(plan))])
        out.extend(_md_table(("instance", "budget", *_COLUMNS[1:]), rows))
        if len(shown_i) < len(plan.instances):
            out += ["", _hidden_note(len(shown_i), len(plan.instances), "instances").plain]
        out += ["", "#### By agent, all instances", ""]
    else:
        out += [f"### Plan: `{plan.workflow}`", ""]
    shown = _ranked(plan.agents, lambda a: a.cost.worst, max_rows)
    rows = [[f"`{a.id}`{' (if)' if a.conditional else ''}<br>{a.model}", *_row(a)] for a in shown]
    rows.append(["**total**", *(f"**{c}**" if c else "" for c in _total_row(plan))])
    out.extend(_md_table(("agent / model", *_COLUMNS), rows))
    if len(shown) < len(plan.agents):
        out += ["", _hidden_note(len(shown), len(plan.agents), "agents").plain]
    out.append("")
    for line in _summary_lines(plan):
        assert isinstance(line, Text)
        text = _md(line.plain)
        if line.plain.startswith("Budget: "):
            verdict = plan.budget.verdict.upper()
            text = text.replace(f"Budget: {verdict}", f"**Budget: {verdict}**", 1)
        out.append(f"- {text}")
    return "\n".join(out) + "\n"
