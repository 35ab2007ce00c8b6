"""Two runs side by side: what a change did to cost, tokens, latency and failures, per agent.

    delta = compare_runs(load_report(d, "r1"), load_report(d, "r2"))
    delta.rows[0].cost_change      # +0.25 is 25% dearer in the second run

Agents are matched by name (`workflow/agent` when several workflows ran); an agent in only
one of the runs has the other side empty.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agentflow.report.model import Report, UsageRow
from agentflow.sinks import format_usd


@dataclass(frozen=True, slots=True)
class Side:
    """One agent (or the total) in one run."""

    runs: int
    failed: int
    cost_usd: float | None  # None: a price was unknown
    tokens: int
    p50_s: float | None
    p90_s: float | None


@dataclass(frozen=True, slots=True)
class DeltaRow:
    name: str
    before: Side | None
    after: Side | None

    def change(self, field: str) -> float | None:
        """Relative change of `field` (0.25 is 25% more); None when a side is missing or 0."""
        if self.before is None or self.after is None:
            return None
        old, new = getattr(self.before, field), getattr(self.after, field)
        if old is None or new is None or not old:
            return None
        return float((new - old) / old)

    def diff(self, field: str) -> float | None:
        old = getattr(self.before, field) if self.before else 0
        new = getattr(self.after, field) if self.after else 0
        if old is None or new is None:
            return None
        return float(new - old)


@dataclass(frozen=True, slots=True)
class Comparison:
    before_id: str
    after_id: str
    total: DeltaRow
    rows: tuple[DeltaRow, ...]


def _side(row: UsageRow) -> Side:
    u = row.usage
    cost = None if u.cost_usd is None else u.known_cost_usd + u.unconfirmed_cost_usd
    return Side(
        row.runs,
        row.failed,
        cost,
        u.input_tokens + u.output_tokens,
        row.latency.p50,
        row.latency.p90,
    )


def _total(report: Report) -> Side:
    u = report.totals
    cost = None if u.cost_usd is None else u.known_cost_usd + u.unconfirmed_cost_usd
    counts = report.counts
    return Side(
        sum(counts.values()), counts["failed"], cost, u.input_tokens + u.output_tokens, None, None
    )


def compare_runs(before: Report, after: Report) -> Comparison:
    """Per-agent deltas from `before` to `after` (agents of `before` first, new ones after)."""
    old = {r.name: _side(r) for r in before.by_agent}
    new = {r.name: _side(r) for r in after.by_agent}
    names = list(old) + [n for n in new if n not in old]
    rows = tuple(DeltaRow(n, old.get(n), new.get(n)) for n in names)
    return Comparison(
        before.run_id, after.run_id, DeltaRow("total", _total(before), _total(after)), rows
    )


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:+.0%}"


def _usd(value: float | None) -> str:
    if value is None:
        return "unknown"
    return ("+" if value >= 0 else "-") + format_usd(abs(value))


def _cells(row: DeltaRow) -> tuple[str, ...]:
    b, a = row.before, row.after
    tokens = row.diff("tokens")
    p50 = row.diff("p50_s")
    failed = row.diff("failed")
    return (
        row.name,
        format_usd(b.cost_usd) if b else "-",
        format_usd(a.cost_usd) if a else "-",
        _usd(row.diff("cost_usd")),
        _pct(row.change("cost_usd")),
        "-" if tokens is None else f"{tokens:+,.0f}",
        _pct(row.change("tokens")),
        "-" if p50 is None or not (b and a and b.p50_s is not None) else f"{p50:+.3f}s",
        _pct(row.change("p90_s")),
        "-" if failed is None else f"{failed:+.0f}",
    )


HEADER = (
    "Agent",
    "Cost before",
    "Cost after",
    "Cost delta",
    "Cost %",
    "Tokens delta",
    "Tokens %",
    "p50 delta",
    "p90 %",
    "Failed delta",
)


def comparison_text(c: Comparison, width: int | None = None) -> str:
    from agentflow.report.render import _Table

    table = _Table(f"Run {c.after_id} compared with run {c.before_id}", HEADER, HEADER[1:])
    for row in (*c.rows, c.total):
        table.add(*_cells(row))
    return "\n".join(table.text(width)) + "\n"


def comparison_markdown(c: Comparison) -> str:
    from agentflow.report.render import _Table

    table = _Table(f"Run {c.after_id} compared with run {c.before_id}", HEADER, HEADER[1:])
    for row in (*c.rows, c.total):
        table.add(*_cells(row))
    return "\n".join(table.markdown()) + "\n"


def _side_json(side: Side | None) -> dict[str, Any] | None:
    if side is None:
        return None
    return {
        "agent_runs": side.runs,
        "failed": side.failed,
        "cost_usd": None if side.cost_usd is None else round(side.cost_usd, 10),
        "tokens": side.tokens,
        "p50_s": side.p50_s,
        "p90_s": side.p90_s,
    }


def _row_json(row: DeltaRow) -> dict[str, Any]:
    cost = row.diff("cost_usd")
    return {
        "agent": row.name,
        "before": _side_json(row.before),
        "after": _side_json(row.after),
        "cost_delta_usd": None if cost is None else round(cost, 10),
        "cost_change": row.change("cost_usd"),
        "tokens_delta": row.diff("tokens"),
        "p50_delta_s": row.diff("p50_s") if row.before and row.after else None,
        "p90_change": row.change("p90_s"),
        "failed_delta": row.diff("failed"),
    }


def comparison_json(c: Comparison) -> dict[str, Any]:
    return {
        "format": "agentflow.report-compare/v1",
        "before": c.before_id,
        "after": c.after_id,
        "total": _row_json(c.total),
        "agents": [_row_json(r) for r in c.rows],
    }
