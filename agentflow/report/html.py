"""A report as one self-contained HTML page: timeline, DAG, cost charts, failures.

    Path("report.html").write_text(render_html(report))

The page is the Jinja2 template `report.html.j2` beside this module, with its CSS and script
inline and the report embedded as JSON; it loads nothing (no CDN, no fonts, no images), so it
opens from disk anywhere. The script draws the charts as SVG when the page loads.

A big run stays readable and small: past `MAX_ROWS` agent runs, the timeline shows one row per
agent over its instances, and past that one row per DAG level (or per slice of the run in start
order when the DAG is unknown); a click on an aggregated row lists its members.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import cache
from typing import Any

from agentflow.redaction import clean
from agentflow.report.model import AgentRun, Report, UsageRow
from agentflow.report.render import report_json

MAX_ROWS = 300
_KINDS = {"call": 0, "retry_wait": 1, "ratelimit_wait": 2, "tool": 3, "budget_wait": 4}
_STATUS = {"completed": 0, "failed": 1, "skipped": 2, "reused": 3, "running": 4}


@cache
def _template() -> Any:
    from importlib import resources

    import jinja2

    text = resources.files("agentflow.report").joinpath("report.html.j2").read_text("utf-8")
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    return env.from_string(text)


def timeline_groups(report: Report, max_rows: int = MAX_ROWS) -> list[tuple[str, list[int]]]:
    """The timeline's rows: (label, indexes into `report.agents`) each, run by run in start order."""
    runs = report.agents
    # Each run of a chain on its own clock: a run's agents together, in start order.
    chain = {p.run_id: n for n, p in enumerate(report.runs)}
    order = sorted(
        range(len(runs)), key=lambda i: (chain.get(runs[i].run_id, 0), _start(runs[i]), i)
    )
    several = len({r.run_id for r in runs}) > 1
    multi = report.multi_instance

    def prefix(run: AgentRun) -> str:
        return (f"{run.run_id}: " if several else "") + run.workflow

    if len(runs) <= max_rows:
        return [(_label(runs[i], prefix(runs[i]), multi), [i]) for i in order]
    groups = _grouped(order, lambda i: (runs[i].run_id, runs[i].workflow, runs[i].agent))
    if len(groups) <= max_rows:
        return [(f"{prefix(runs[m[0]])}/{runs[m[0]].agent}", m) for m in groups.values()]
    levels = {(dag.workflow, node.agent): node.level for dag in report.dags for node in dag.nodes}
    if all((r.workflow, r.agent) in levels for r in runs):
        by_level = _grouped(
            order,
            lambda i: (runs[i].run_id, runs[i].workflow, levels[(runs[i].workflow, runs[i].agent)]),
        )
        if len(by_level) <= max_rows:
            return [
                (f"{prefix(runs[m[0]])} level {levels[(runs[m[0]].workflow, runs[m[0]].agent)]}", m)
                for m in by_level.values()
            ]
    size = -(-len(order) // max_rows)
    return [
        (
            f"agents {n * size + 1}-{min(len(order), (n + 1) * size)} by start",
            order[n * size : (n + 1) * size],
        )
        for n in range(-(-len(order) // size))
    ]


def _grouped(order: Sequence[int], key: Any) -> dict[Any, list[int]]:
    out: dict[Any, list[int]] = {}
    for i in order:
        out.setdefault(key(i), []).append(i)
    return out


def _start(run: AgentRun) -> float:
    return run.start_s if run.start_s is not None else float("inf")


def _label(run: AgentRun, prefix: str, multi: bool) -> str:
    where = f"{prefix}[{run.instance}]" if multi else prefix
    return f"{where}/{run.agent}"


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _row(run: AgentRun, run_index: dict[str, int]) -> list[Any]:
    detail = run.message if run.status in ("failed", "reused") else run.skip_detail
    if run.status == "skipped" and run.skip_reason:
        detail = f"{run.skip_reason}: {run.skip_detail or ''}"
    return [
        run_index[run.run_id],
        run.workflow,
        run.instance,
        run.agent,
        _STATUS.get(run.status, 4),
        _r(run.start_s),
        _r(run.end_s),
        None if run.usage.cost_usd is None else round(run.usage.known_cost_usd, 8),
        run.usage.calls,
        run.model,
        run.error_class,
        clean(detail or "")[:400],
        [[_KINDS[s.kind], _r(s.start_s), _r(s.end_s), s.outcome, s.attempt] for s in run.segments],
    ]


def _usage_bars(rows: Sequence[UsageRow], limit: int = 25) -> list[list[Any]]:
    ranked = sorted(rows, key=lambda r: -(r.usage.known_cost_usd + r.usage.unconfirmed_cost_usd))
    return [
        [r.name, round(r.usage.known_cost_usd, 8), round(r.usage.unconfirmed_cost_usd, 8)]
        for r in ranked[:limit]
    ]


def html_data(report: Report) -> dict[str, Any]:
    """What the page's script draws, as JSON-ready data."""
    run_index = {p.run_id: i for i, p in enumerate(report.runs)}
    groups = timeline_groups(report)
    return {
        "report": report_json(report),
        "runs": [p.run_id for p in report.runs],
        "rows": [_row(run, run_index) for run in report.agents],
        "groups": [[label, members] for label, members in groups],
        "dags": [
            {
                "workflow": dag.workflow,
                "note": dag.note,
                "nodes": [[n.agent, n.level, list(n.depends_on)] for n in dag.nodes],
            }
            for dag in report.dags
        ],
        "cost_by_agent": _usage_bars(report.by_agent),
        "cost_by_model": _usage_bars(report.by_model),
        "agents_total": len(report.by_agent),
    }


def _embedded(value: Any) -> str:
    # Inside <script>, "</" could end the element and "<!--" open a comment: escape "<".
    return json.dumps(value, separators=(",", ":")).replace("<", "\\u003c")


def render_html(report: Report) -> str:
    """The report as one HTML document that needs nothing but itself."""
    data = html_data(report)
    return str(
        _template().render(
            title=f"agentflow report {report.run_id}",
            run_id=report.run_id,
            status=report.status,
            data_json=_embedded(data),
        )
    )
