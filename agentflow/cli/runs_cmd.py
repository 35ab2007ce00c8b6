"""`agentflow runs`: past runs from the log dir, and one workflow's cost and duration trend."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console

from agentflow.errors import UsageError
from agentflow.model.durations import parse_duration
from agentflow.state.history import RunRecord, Trend, list_runs, trend

RUNS_FORMAT = "agentflow.runs/v1"
# Narrower than this, each run is a short block of lines instead of a table row.
STACKED_BELOW = 100


def parse_since(text: str, now: float) -> datetime:
    """`7d`, `12h` (that long ago) or an ISO date / date-time (UTC when no zone is given)."""
    try:
        return datetime.fromtimestamp(now - parse_duration(text), UTC)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"--since {text!r}: give a duration (7d, 12h, 30m) or a date (2026-11-30)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _money(value: float | None, unknown: int = 0) -> str:
    if value is None:
        return "unknown"
    text = f"${value:.4f}" if value >= 0.0001 or value == 0 else f"${value:.2g}"
    return text + (f" +{unknown} unpriced" if unknown else "")


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.1f}s" if value < 120 else f"{value / 60:.1f}m"


def _change(value: float | None) -> str:
    return "-" if value is None else f"{value:+.0%}"


def _aligned(header: tuple[str, ...], rows: list[tuple[str, ...]], right: tuple[str, ...]) -> str:
    """Rows as columns two spaces apart, every cell whole (Rich's Table takes ~2 ms a row,
    too slow for a thousand runs)."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]

    def line(cells: tuple[str, ...]) -> str:
        parts = [
            c.rjust(w) if h in right else c.ljust(w)
            for c, w, h in zip(cells, widths, header, strict=True)
        ]
        return "  ".join(parts).rstrip()

    return "\n".join([line(header), *(line(r) for r in rows)])


def _started(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


RUN_COLUMNS = ("run", "parent", "started (UTC)", "workflows", "status", "duration", "cost", "calls")
TREND_COLUMNS = ("run", "started (UTC)", "status", "instances", "cost", "duration")
RIGHT = ("duration", "cost", "calls", "instances")


def _row(r: RunRecord) -> tuple[str, ...]:
    return (
        r.run_id,
        r.parent_run_id or "-",
        _started(r.started),
        ", ".join(r.workflows),
        r.status,
        _seconds(r.duration_s),
        _money(r.cost_usd, r.unknown_cost_calls),
        str(r.calls),
    )


def _stacked(r: RunRecord) -> str:
    parent = f" (from {r.parent_run_id})" if r.parent_run_id else ""
    return (
        f"{r.run_id}{parent}: {r.status}\n"
        f"  started {_started(r.started)} UTC, {_seconds(r.duration_s)}, "
        f"{_money(r.cost_usd, r.unknown_cost_calls)}, {r.calls} calls\n"
        f"  workflows: {', '.join(r.workflows)}"
    )


def _trend_rows(result: Trend) -> list[tuple[str, ...]]:
    return [
        (
            p.run_id,
            _started(p.started),
            p.status,
            str(p.share.instances),
            _money(p.share.cost_usd),
            _seconds(p.share.duration_s),
        )
        for p in result.points
    ]


def runs_command(
    log_dir: Path,
    *,
    workflow: str | None,
    statuses: tuple[str, ...],
    since: str | None,
    limit: int | None,
    format: str,
    out: Console,
) -> int:
    """List past runs; with a workflow, also its trend. Returns the exit code."""
    if log_dir.exists() and not log_dir.is_dir():
        raise UsageError(f"--log-dir {log_dir} is a file, not a folder")
    moment = parse_since(since, time.time()) if since else None
    records = list_runs(log_dir, workflow=workflow, statuses=statuses, since=moment)
    if limit is not None:
        records = records[-limit:]
    shown = trend(records, workflow) if workflow else None
    if format == "json":
        document = {
            "format": RUNS_FORMAT,
            "log_dir": str(log_dir),
            "runs": [r.as_json() for r in records],
            "trend": shown.as_json() if shown else None,
        }
        print(json.dumps(document, indent=2))
        return 0
    if not records:
        out.out(f"no runs in {log_dir}" + (" match" if workflow or statuses or since else ""))
        return 0
    rows = [_row(r) for r in records]
    table = _aligned(RUN_COLUMNS, rows, RIGHT)
    if out.width < STACKED_BELOW or max(map(len, table.splitlines())) > out.width:
        out.out("\n".join(_stacked(r) for r in records), highlight=False)
    else:
        out.out(table, highlight=False)
    if shown is not None and shown.points:
        out.out("")
        out.out(f"trend of {shown.workflow}")
        out.out(_aligned(TREND_COLUMNS, _trend_rows(shown), RIGHT), highlight=False)
        out.out(
            f"cost {_change(shown.change('cost_usd'))}, duration "
            f"{_change(shown.change('duration_s'))} from the first run listed to the last"
        )
    return 0
