"""A report as text, Markdown or JSON: pure functions of the `Report` record.

    print(render_text(report, width=100))
    json.dumps(report_json(report))

Text never cuts a number: a table is printed whole where it fits the width, else each row
is stacked (its names on one line, its numbers after their headers on the next), as the cost
table does (`agentflow.sinks.layout`). Amounts read as in every other output (`format_usd`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agentflow.redaction import clean
from agentflow.report.model import REPORT_FORMAT, Percentiles, Report, UsageRow
from agentflow.sinks import budget_words, format_count, format_duration, format_usd
from agentflow.sinks.summary import Usage

REPORT_VERSION = 1
_MESSAGE_LIMIT = 300
COMPACT_JSON_AGENTS = 2000


def _cost(usage: Usage) -> str:
    text = format_usd(usage.known_cost_usd)
    if usage.unknown_cost_calls:
        text += f" + {usage.unknown_cost_calls} unpriced"
    if usage.unconfirmed_calls:
        text += f" + {format_usd(usage.unconfirmed_cost_usd)} unconfirmed"
    return text


def _secs(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}s" if value < 10 else format_duration(value)


def _flat(text: str | None, limit: int = _MESSAGE_LIMIT) -> str:
    flat = " ".join(clean(text or "").split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


class _Table:
    """Rows of cells; `right` columns hold numbers."""

    def __init__(self, title: str, header: Sequence[str], right: Sequence[str] = ()) -> None:
        self.title = title
        self.header = tuple(header)
        self.right = frozenset(right)
        self.rows: list[tuple[str, ...]] = []

    def add(self, *cells: str) -> None:
        self.rows.append(tuple(cells))

    def text(self, width: int | None) -> list[str]:
        widths = [max([len(h)] + [len(r[i]) for r in self.rows]) for i, h in enumerate(self.header)]

        def line(cells: Sequence[str]) -> str:
            parts = [
                c.rjust(w) if h in self.right else c.ljust(w)
                for c, w, h in zip(cells, widths, self.header, strict=True)
            ]
            return "  ".join(parts).rstrip()

        out = [self.title]
        if width is None or sum(widths) + 2 * (len(widths) - 1) <= width:
            out.append(line(self.header))
            out.append("-" * min(width or 10_000, sum(widths) + 2 * (len(widths) - 1)))
            out.extend(line(r) for r in self.rows)
            return out
        for row in self.rows:  # too wide: each row stacked, nothing cut
            names = [c for c, h in zip(row, self.header, strict=True) if h not in self.right]
            numbers = [
                f"{h} {c}" for c, h in zip(row, self.header, strict=True) if h in self.right and c
            ]
            out.append(" · ".join(n for n in names if n and n != "-"))
            out.extend(_wrapped(numbers, width))
        return out

    def markdown(self) -> list[str]:
        def cell(text: str) -> str:
            return text.replace("|", "\\|") or " "

        out = [f"### {self.title}", "", "| " + " | ".join(self.header) + " |"]
        out.append("|" + "|".join("---:" if h in self.right else "---" for h in self.header) + "|")
        out.extend("| " + " | ".join(cell(c) for c in r) + " |" for r in self.rows)
        return out


def _wrapped(pieces: Sequence[str], width: int) -> list[str]:
    """`pieces` joined by " · " on indented lines of at most `width`, never split inside one."""
    lines: list[str] = []
    current = ""
    for piece in pieces:
        joined = f"{current} · {piece}" if current else f"  {piece}"
        if current and len(joined) > width:
            lines.append(current)
            joined = f"  {piece}"
        current = joined
    if current:
        lines.append(current)
    return lines


_USAGE_HEADER = ("Calls", "In tokens", "Out tokens", "Cost", "p50", "p90", "p99")


def _usage_cells(row: UsageRow) -> tuple[str, ...]:
    u, lat = row.usage, row.latency
    return (
        format_count(u.calls),
        format_count(u.input_tokens),
        format_count(u.output_tokens),
        _cost(u),
        _secs(lat.p50),
        _secs(lat.p90),
        _secs(lat.p99),
    )


def _tables(report: Report) -> list[_Table]:
    tables = []
    wf = _Table(
        "Cost by workflow", ("Workflow", "Agents", *_USAGE_HEADER), ("Agents", *_USAGE_HEADER)
    )
    for row in report.by_workflow:
        wf.add(row.name, str(row.runs), *_usage_cells(row))
    tables.append(wf)
    agents = _Table(
        "Cost by agent",
        ("Agent", "Model", "Runs", "Failed", "Retries", *_USAGE_HEADER),
        ("Runs", "Failed", "Retries", *_USAGE_HEADER),
    )
    for row in report.by_agent:
        agents.add(
            row.name,
            row.model or "-",
            str(row.runs),
            str(row.failed),
            str(row.usage.retries),
            *_usage_cells(row),
        )
    tables.append(agents)
    models = _Table(
        "Cost by model", ("Model", "Retries", *_USAGE_HEADER), ("Retries", *_USAGE_HEADER)
    )
    for row in report.by_model:
        models.add(row.name, str(row.usage.retries), *_usage_cells(row))
    tables.append(models)
    if report.failures:
        failures = _Table(
            "Failures",
            ("Agent", "Error", "Cost", "Skipped because of it", "Message"),
            ("Cost",),
        )
        for f in report.failures:
            where = (
                f"{f.workflow}[{f.instance}]/{f.agent}"
                if report.multi_instance
                else (f"{f.workflow}/{f.agent}")
            )
            failures.add(
                where,
                f.error_class,
                _cost(f.usage),
                ", ".join(f.skipped) or "-",
                _flat(f.message),
            )
        tables.append(failures)
    return tables


def _facts(report: Report) -> list[str]:
    t = report.totals
    counts = report.counts
    lines = [
        f"Status: {report.status} (exit code {report.exit_code if report.exit_code is not None else '-'})",
        f"Total cost: {_cost(t)}",
        f"Calls: {format_count(t.calls)}; tokens in {format_count(t.input_tokens)}, "
        f"out {format_count(t.output_tokens)}",
        f"Agents: {counts['completed']} completed, {counts['failed']} failed, "
        f"{counts['skipped']} skipped",
        f"Duration: {format_duration(report.duration_s)}",
    ]
    if report.retries_by_class:
        by_class = ", ".join(f"{c} {n}" for c, n in report.retries_by_class)
        lines.append(
            f"Retries: {sum(n for _, n in report.retries_by_class)} ({by_class}); "
            f"back-off {_secs(report.retry_wait_s)}"
        )
    else:
        lines.append("Retries: 0")
    if report.waits:
        waits = ", ".join(f"{w.reason} {w.count}x {_secs(w.seconds)}" for w in report.waits)
        lines.append(f"Waiting for limits and budgets: {waits}")
    else:
        lines.append("Waiting for limits and budgets: none")
    if report.budget_warnings or report.budget_refusals:
        scopes = sorted({str(r.get("scope", "run")) for r in report.budget_refusals})
        refused = ", ".join(budget_words(s) for s in scopes)
        lines.append(
            f"Budgets: {report.budget_warnings} warning(s), {len(report.budget_refusals)} "
            f"call(s) refused" + (f" by the {refused}" if refused else "")
        )
    if report.failures or report.failed_work.calls:
        lines.append(f"Cost of failed work: {_cost(report.failed_work)}")
    if report.continue_command:
        lines.append(f"Go on with: {report.continue_command}")
    return lines


def _provenance(report: Report) -> list[str]:
    lines = []
    for part in report.runs:
        parent = f" (continues {part.parent_run_id})" if part.parent_run_id else ""
        lines.append(f"Run {part.run_id}{parent}: {part.status}, started {part.started}")
        if part.command:
            lines.append(f"  command: {clean(' '.join(part.command))}")
        if part.agentflow_version:
            lines.append(f"  agentflow {part.agentflow_version}" + (", mock" if part.mock else ""))
        for path, digest in part.files:
            lines.append(f"  file {clean(path)} sha256 {digest}")
        pm = part.price_map
        if pm:
            lines.append(
                f"  price map: litellm {pm.get('litellm_version')} sha256 {pm.get('sha256')}"
                + (
                    f", overrides {sorted(pm.get('overrides') or {})}"
                    if pm.get("overrides")
                    else ""
                )
            )
        lines.append(f"  log: {clean(part.log_path)}")
    return lines


def _title(report: Report) -> str:
    chain = " <- ".join(p.run_id for p in reversed(report.runs))
    return f"Report of run {chain}" if len(report.runs) > 1 else f"Report of run {report.run_id}"


def render_text(report: Report, width: int | None = None) -> str:
    """The report as plain text; `width` None prints every table whole."""
    out = [_title(report), "", *_facts(report)]
    for table in _tables(report):
        out += ["", *table.text(width)]
    out += ["", "Provenance", *_provenance(report)]
    return "\n".join(out) + "\n"


def render_markdown(report: Report) -> str:
    out = [f"# {_title(report)}", ""]
    out += [f"- {_md(line)}" for line in _facts(report)]
    for table in _tables(report):
        out += ["", *table.markdown()]
    out += ["", "### Provenance", "", "```", *_provenance(report), "```"]
    return "\n".join(out) + "\n"


def _md(text: str) -> str:
    if text.startswith("Go on with: "):
        return "Go on with: `" + text.removeprefix("Go on with: ") + "`"
    return text


# -- JSON --------------------------------------------------------------------------------------


def _usd(value: float | None) -> float | None:
    return None if value is None else round(value, 10)


def usage_json(usage: Usage) -> dict[str, Any]:
    return {
        "calls": usage.calls,
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cost_usd": _usd(usage.cost_usd),
        "known_cost_usd": _usd(usage.known_cost_usd),
        "unknown_cost_calls": usage.unknown_cost_calls,
        "unconfirmed_calls": usage.unconfirmed_calls,
        "unconfirmed_cost_usd": _usd(usage.unconfirmed_cost_usd),
        "retries": usage.retries,
    }


def _latency_json(p: Percentiles) -> dict[str, Any]:
    return {"count": p.count, "p50_s": p.p50, "p90_s": p.p90, "p99_s": p.p99, "max_s": p.max}


def _row_json(row: UsageRow, key: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        key: row.name,
        **usage_json(row.usage),
        "latency": _latency_json(row.latency),
    }
    if key != "model":
        out["agent_runs"] = row.runs
        out["failed"] = row.failed
    if key == "agent":
        out["model"] = row.model
    return out


def report_json(report: Report) -> dict[str, Any]:
    """The report as one JSON document (`schemas/report.schema.json`)."""
    return {
        "format": REPORT_FORMAT,
        "version": REPORT_VERSION,
        "run_id": report.run_id,
        "status": report.status,
        "exit_code": report.exit_code,
        "duration_s": report.duration_s,
        "lineage": [p.run_id for p in report.runs],
        "totals": {**usage_json(report.totals), "agents": report.counts},
        "by_workflow": [_row_json(r, "workflow") for r in report.by_workflow],
        "by_agent": [_row_json(r, "agent") for r in report.by_agent],
        "by_model": [_row_json(r, "model") for r in report.by_model],
        "retries": {
            "total": sum(n for _, n in report.retries_by_class),
            "by_class": dict(report.retries_by_class),
            "backoff_s": report.retry_wait_s,
        },
        "waits": [
            {"reason": w.reason, "count": w.count, "seconds": w.seconds} for w in report.waits
        ],
        "budgets": {
            "warnings": report.budget_warnings,
            "refused_calls": len(report.budget_refusals),
            "scopes": sorted({str(r.get("scope", "run")) for r in report.budget_refusals}),
        },
        "failures": [
            {
                "run_id": f.run_id,
                "workflow": f.workflow,
                "instance": f.instance,
                "agent": f.agent,
                "error_class": f.error_class,
                "message": clean(f.message),
                **{k: v for k, v in usage_json(f.usage).items() if k != "retries"},
                "skipped": list(f.skipped),
            }
            for f in report.failures
        ],
        "failed_work": usage_json(report.failed_work),
        "continue_command": report.continue_command,
        "provenance": [
            {
                "run_id": p.run_id,
                "parent_run_id": p.parent_run_id,
                "started": p.started,
                "status": p.status,
                "exit_code": p.exit_code,
                "duration_s": p.duration_s,
                "command": [clean(c) for c in p.command],
                "agentflow_version": p.agentflow_version,
                "mock": p.mock,
                "files": [{"path": path, "sha256": digest} for path, digest in p.files],
                "price_map": p.price_map,
                "log_path": p.log_path,
            }
            for p in report.runs
        ],
    }


def render_document(subject: Any, format: str, *, width: int | None = None) -> str:
    """`subject` (a `Report`, or a `Comparison` for text/markdown/json) in `format`."""
    import json

    from agentflow.report.compare import (
        Comparison,
        comparison_json,
        comparison_markdown,
        comparison_text,
    )

    if isinstance(subject, Comparison):
        if format == "json":
            return json.dumps(comparison_json(subject), indent=2) + "\n"
        if format == "markdown":
            return comparison_markdown(subject)
        return comparison_text(subject, width)
    if format == "json":
        # Indented for a reader; a big run's document on one line (json's C encoder only
        # works without indentation: several times faster at thousands of agents).
        indent = 2 if len(subject.agents) <= COMPACT_JSON_AGENTS else None
        return json.dumps(report_json(subject), indent=indent) + "\n"
    if format == "markdown":
        return render_markdown(subject)
    if format == "junit":
        from agentflow.report.junit import render_junit

        return render_junit(subject)
    if format == "html":
        from agentflow.report.html import render_html

        return render_html(subject)
    return render_text(subject, width)
