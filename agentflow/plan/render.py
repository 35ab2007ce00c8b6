"""Show a plan: a Rich table for people, a versioned JSON document for scripts.

The JSON document (`"format": "agentflow.plan/v1"`) is described by schemas/plan.schema.json.
Within v1, fields are only ever added; a removed or re-meant field makes v2.
"""

from __future__ import annotations

from typing import Any, Final

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from agentflow.model.types import thaw
from agentflow.plan.estimate import AgentPlan, Estimate, Plan, Usage
from agentflow.plan.pricing import PER_MILLION

PLAN_FORMAT: Final = "agentflow.plan/v1"

_VERDICT_STYLE: Final = {"ok": "green", "warning": "yellow", "over": "bold red"}


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


def _agent_json(a: AgentPlan) -> dict[str, Any]:
    price = None
    if a.price is not None:
        price = {
            "input_usd_per_1m": round(a.price.input_per_token * PER_MILLION, 6),
            "output_usd_per_1m": round(a.price.output_per_token * PER_MILLION, 6),
            "source": a.price.source,
        }
    return {
        "id": a.id,
        "model": a.model,
        "tokenizer": a.tokenizer,
        "price": price,
        "fan_out": {"count": a.fan_out.count, "known": a.fan_out.known, "reason": a.fan_out.reason},
        "calls": _ints(a.calls),
        "input_tokens": _ints(a.input_tokens),
        "output_tokens": _ints(a.output_tokens),
        "cost_usd": _costs(a.cost),
        "max_attempts": a.max_attempts,
        "worst_with_retries": _usage(a.worst_with_retries),
        "expected_seconds": round(a.seconds, 3),
        "conditional": a.conditional,
        "notes": list(a.notes),
    }


def plan_to_json(plan: Plan) -> dict[str, Any]:
    """The plan as a JSON-ready dict, `"format": "agentflow.plan/v1"` (see the schema)."""
    return {
        "format": PLAN_FORMAT,
        "workflow": plan.workflow,
        "path": plan.path,
        "inputs": thaw(plan.inputs),
        "price_map": dict(plan.price_map),
        "agents": [_agent_json(a) for a in plan.agents],
        "totals": {
            "calls": _ints(plan.totals.calls),
            "input_tokens": _ints(plan.totals.input_tokens),
            "output_tokens": _ints(plan.totals.output_tokens),
            "cost_usd": _costs(plan.totals.cost),
            "worst_with_retries": _usage(plan.totals.worst_with_retries),
        },
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
        "budget": {
            "verdict": plan.budget.verdict,
            "scope": plan.budget.scope,
            "checks": [
                {
                    "scope": c.scope,
                    "max_usd": c.max_usd,
                    "verdict": c.verdict,
                    "cost_usd": _costs(c.cost),
                }
                for c in plan.budget.checks
            ],
        },
        "notes": list(plan.notes),
    }


# --- table --------------------------------------------------------------------------------


def _money(value: float | None) -> str:
    if value is None:
        return "unknown"
    # Four significant digits are what a reader compares; full precision is in the JSON.
    return f"${value:,.5f}" if value < 0.01 else f"${value:,.4f}"


def _span(e: Estimate[int]) -> str:
    return f"{e.expected:,}" if e.expected == e.worst else f"{e.expected:,}-{e.worst:,}"


def _seconds(value: float) -> str:
    if value < 120:
        return f"{value:.1f} s"
    minutes, seconds = divmod(round(value), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {seconds:02d} s"


# A table of thousands of rows helps nobody (and takes Rich seconds to lay out): past this, the
# table shows the most expensive agents and says how many it left out.
MAX_TABLE_ROWS: Final = 50


def plan_table(plan: Plan, max_rows: int = MAX_TABLE_ROWS) -> RenderableType:
    """Per-agent rows, totals, critical path, wall time and the budget verdict, for a console.

    With more than `max_rows` agents only the most expensive (worst case) are listed; the
    totals always cover every agent.
    """
    table = Table(
        title=f"Plan: {plan.workflow}",
        show_footer=True,
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
    )
    totals = plan.totals
    table.add_column("agent / model", footer="total", overflow="fold", min_width=20)
    table.add_column("items", justify="right", footer="")
    table.add_column("calls", justify="right", footer=_span(totals.calls))
    table.add_column("in", justify="right", footer=f"{totals.input_tokens.expected:,}")
    table.add_column("out", justify="right", footer=f"{totals.output_tokens.expected:,}")
    for header, footer in (
        ("low", totals.cost.low),
        ("expected", totals.cost.expected),
        ("worst", totals.cost.worst),
    ):
        table.add_column(header, justify="right", footer=_money(footer), no_wrap=True)
    shown = list(plan.agents)
    if len(shown) > max_rows:
        ranked = sorted(shown, key=lambda a: -(a.cost.worst or 0.0))[:max_rows]
        keep = {id(a) for a in ranked}
        shown = [a for a in plan.agents if id(a) in keep]
    for a in shown:
        fan_out = str(a.fan_out.count) if a.fan_out.known else "?"
        name = Text(a.id + (" (if)" if a.conditional else ""))
        name.append("\n" + a.model, style="dim")
        table.add_row(
            name,
            fan_out,
            _span(a.calls),
            f"{a.input_tokens.expected:,}",
            f"{a.output_tokens.expected:,}",
            _money(a.cost.low),
            _money(a.cost.expected),
            _money(a.cost.worst),
        )
    lines: list[RenderableType] = [table]
    if len(shown) < len(plan.agents):
        hidden = len(plan.agents) - len(shown)
        lines.append(
            Text(
                f"{len(shown)} most expensive of {len(plan.agents):,} agents shown; "
                f"{hidden:,} more are in the totals (every agent: --format json)",
                style="dim",
            )
        )
    retries = totals.worst_with_retries
    lines.append(
        Text(f"Worst case with every retry: {retries.calls:,} calls, {_money(retries.cost)}")
    )
    path = " → ".join(plan.time.critical_path) or "(no agents)"
    lines.append(
        Text(f"Critical path: {path} ({_seconds(plan.time.critical_path_seconds)} expected)")
    )
    lines.append(
        Text(
            f"Estimated wall time: {_seconds(plan.time.wall_seconds)}, bound by {plan.time.bound_by}"
        )
    )
    verdict = Text("Budget: ")
    verdict.append(plan.budget.verdict.upper(), style=_VERDICT_STYLE[plan.budget.verdict])
    if plan.budget.scope is not None:
        check = next(c for c in plan.budget.checks if c.scope == plan.budget.scope)
        verdict.append(
            f" ({check.scope} budget ${check.max_usd:,.2f}: expected "
            f"{_money(check.cost.expected)}, worst {_money(check.cost.worst)})"
        )
    else:
        verdict.append(" (no budget declared)")
    lines.append(verdict)
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
    return Group(*lines)
