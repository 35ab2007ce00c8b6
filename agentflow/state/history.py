"""Past runs, read from the run logs in a log dir.

Nothing here keeps an index: a finished log says everything `agentflow runs` needs in its
first line (`run.started`) and its last (`run.completed`), so listing reads two lines a
file, and logs copied in from another machine are listed like any other. A log whose last
line is not `run.completed` was cut short (the process was killed); its cost is summed
from its `llm.response` lines instead, and each call it shows sent and never answered
counts at its worst case (`worst_cost_usd` of its `llm.request`) as unconfirmed cost: the
provider may have billed it, and nothing says for less.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

LOG_SUFFIX = ".jsonl"
_TAIL_BYTES = 64 * 1024
UNFINISHED = "unfinished"


@dataclass(frozen=True, slots=True)
class WorkflowRun:
    """One workflow's share of a run."""

    name: str
    instances: int
    cost_usd: float | None
    duration_s: float | None


@dataclass(frozen=True, slots=True)
class RunRecord:
    """One past run as `agentflow runs` lists it."""

    run_id: str
    parent_run_id: str | None
    started: datetime
    workflows: tuple[str, ...]
    instances: int
    status: str
    exit_code: int | None
    duration_s: float | None
    cost_usd: float | None
    unknown_cost_calls: int
    calls: int
    path: Path
    unconfirmed_cost_usd: float = 0.0  # sent, never answered: may have been billed

    def as_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "parent_run_id": self.parent_run_id,
            "started": _iso(self.started),
            "workflows": list(self.workflows),
            "instances": self.instances,
            "status": self.status,
            "exit_code": self.exit_code,
            "duration_s": self.duration_s,
            "cost_usd": self.cost_usd,
            "unknown_cost_calls": self.unknown_cost_calls,
            "unconfirmed_cost_usd": self.unconfirmed_cost_usd,
            "calls": self.calls,
            "log_path": str(self.path),
        }


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_ts(text: str) -> datetime:
    """An event's `ts` (ISO-8601 UTC, `Z` suffix) as an aware datetime."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def first_event(handle: Any) -> dict[str, Any] | None:
    line = handle.readline()
    try:
        record = json.loads(line)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def _last_line(handle: Any, size: int) -> dict[str, Any] | None:
    """The last complete JSON line of the file (a line cut by a crash is passed over)."""
    start = max(0, size - _TAIL_BYTES)
    handle.seek(start)
    lines = handle.read().split(b"\n")
    if start > 0:
        lines = lines[1:]  # the first piece may be the tail of a longer line
    for raw in reversed(lines):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except ValueError:
            continue
        if isinstance(record, dict):
            return record
    return None


def iter_events(path: Path) -> Iterator[dict[str, Any]]:
    """Every complete event line of one log, in order (a cut-short last line is passed over)."""
    with path.open("rb") as handle:
        for raw in handle:
            try:
                record = json.loads(raw)
            except ValueError:
                continue
            if isinstance(record, dict):
                yield record


class OpenCalls:
    """Calls a log shows sent and not (yet) answered, each with the most it can cost.

    Fed every event of a log in order; what is left at the end was in flight when the
    log stopped. An answer, a failed attempt (`llm.retry`, whose line names the attempt but
    not its round), an abandoned call (counted by its own line) or the agent's failure
    closes a call.
    """

    def __init__(self) -> None:
        self._open: dict[tuple[Any, ...], float | None] = {}

    def see(self, event: dict[str, Any]) -> None:
        name = event.get("event")
        if name not in ("llm.request", "llm.response", "llm.abandoned", "llm.retry"):
            if name == "agent.failed":
                where = (event.get("workflow"), event.get("instance"), event.get("agent"))
                self._open = {k: v for k, v in self._open.items() if k[:3] != where}
            return
        key = (
            event.get("workflow"),
            event.get("instance"),
            event.get("agent"),
            event.get("index"),
            event.get("round"),
            event.get("attempt"),
        )
        if name == "llm.request":
            worst = event.get("worst_cost_usd")
            self._open[key] = float(worst) if isinstance(worst, (int, float)) else None
        elif name == "llm.retry":
            self._open = {
                k: v for k, v in self._open.items() if not (k[:4] == key[:4] and k[5] == key[5])
            }
        elif not (event.get("replayed") or event.get("cached")):
            self._open.pop(key, None)

    @property
    def count(self) -> int:
        return len(self._open)

    @property
    def worst_usd(self) -> float:
        """The most the open calls can cost together (unpriced calls add nothing known)."""
        return round(sum(v for v in self._open.values() if v is not None), 10)


@dataclass(frozen=True, slots=True)
class _Scan:
    cost_usd: float
    unknown_cost_calls: int
    calls: int
    unconfirmed_cost_usd: float
    last_ts: datetime | None


def _scan_unfinished(path: Path) -> _Scan:
    cost = 0.0
    unknown = 0
    calls = 0
    abandoned = 0.0
    last_ts: datetime | None = None
    in_flight = OpenCalls()
    for record in iter_events(path):
        event = record.get("event")
        in_flight.see(record)
        if event == "llm.request":
            calls += 1
        elif event == "llm.response":
            value = record.get("cost_usd")
            if value is None:
                unknown += 1
            else:
                cost += float(value)
        elif event == "llm.abandoned":
            abandoned += float(record.get("unconfirmed_cost_usd") or 0.0)
        if isinstance(record.get("ts"), str):
            moment = parse_ts(record["ts"])
            last_ts = moment if last_ts is None else max(last_ts, moment)
    unconfirmed = round(abandoned + in_flight.worst_usd, 10)
    return _Scan(round(cost, 10), unknown, calls, unconfirmed, last_ts)


def read_run(path: Path) -> RunRecord | None:
    """The record of one log, or None when the file is not an agentflow run log."""
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            first = first_event(handle)
            if first is None or first.get("event") != "run.started":
                return None
            last = _last_line(handle, size)
    except OSError:
        return None
    try:
        started = parse_ts(str(first["ts"]))
    except (KeyError, ValueError):
        return None
    run_id = str(first.get("run_id") or path.stem)
    workflows = tuple(str(w) for w in first.get("workflows") or ())
    parent = first.get("parent_run_id")
    instances = int(first.get("instances") or 0)
    if last is not None and last.get("event") == "run.completed":
        totals = last.get("totals") or {}
        return RunRecord(
            run_id=run_id,
            parent_run_id=parent,
            started=started,
            workflows=workflows,
            instances=instances,
            status=str(last.get("status")),
            exit_code=last.get("exit_code"),
            duration_s=last.get("duration_s"),
            cost_usd=totals.get("cost_usd"),
            unknown_cost_calls=int(totals.get("unknown_cost_calls") or 0),
            calls=int(totals.get("calls") or 0),
            path=path,
            unconfirmed_cost_usd=float(totals.get("unconfirmed_cost_usd") or 0.0),
        )
    scan = _scan_unfinished(path)
    last_ts = scan.last_ts
    return RunRecord(
        run_id=run_id,
        parent_run_id=parent,
        started=started,
        workflows=workflows,
        instances=instances,
        status=UNFINISHED,
        exit_code=None,
        duration_s=None if last_ts is None else round((last_ts - started).total_seconds(), 3),
        cost_usd=scan.cost_usd,
        unknown_cost_calls=scan.unknown_cost_calls,
        calls=scan.calls,
        path=path,
        unconfirmed_cost_usd=scan.unconfirmed_cost_usd,
    )


def log_files(log_dir: Path) -> list[Path]:
    """The run logs directly in `log_dir` (newest name last)."""
    try:
        names = os.listdir(log_dir)
    except FileNotFoundError:
        return []
    return sorted(log_dir / n for n in names if n.endswith(LOG_SUFFIX))


def list_runs(
    log_dir: Path,
    *,
    workflow: str | None = None,
    statuses: Sequence[str] = (),
    since: datetime | None = None,
) -> list[RunRecord]:
    """Past runs in `log_dir`, oldest first, filtered by workflow name, status and start."""
    out: list[RunRecord] = []
    for path in log_files(log_dir):
        record = read_run(path)
        if record is None:
            continue
        if workflow is not None and workflow not in record.workflows:
            continue
        if statuses and record.status not in statuses:
            continue
        if since is not None and record.started < since:
            continue
        out.append(record)
    out.sort(key=lambda r: (r.started, r.run_id))
    return out


def find_run(log_dir: Path, run_id: str) -> RunRecord | None:
    """The run `run_id` (or the newest run for `latest`)."""
    if run_id == "latest":
        runs = list_runs(log_dir)
        return runs[-1] if runs else None
    path = log_dir / f"{run_id}{LOG_SUFFIX}"
    return read_run(path) if path.is_file() else None


def workflow_trend(record: RunRecord, workflow: str) -> WorkflowRun:
    """One workflow's instances, cost and duration in a run.

    A run of that workflow alone is read from its totals; a run of several is scanned
    for that workflow's `workflow.completed` lines.
    """
    if record.workflows == (workflow,) and record.status != UNFINISHED:
        return WorkflowRun(workflow, record.instances, record.cost_usd, record.duration_s)
    cost = 0.0
    unknown = False
    count = 0
    longest: float | None = None
    for event in _workflow_lines(record.path, workflow):
        count += 1
        value = event.get("cost_usd")
        if value is None:
            unknown = True
        else:
            cost += float(value)
        duration = event.get("duration_s")
        if isinstance(duration, int | float):
            longest = duration if longest is None else max(longest, duration)
    return WorkflowRun(workflow, count, None if unknown else cost, longest)


@dataclass(frozen=True, slots=True)
class TrendPoint:
    """One run of a workflow, for its trend."""

    run_id: str
    started: datetime
    status: str
    share: WorkflowRun


@dataclass(frozen=True, slots=True)
class Trend:
    """A workflow's cost and duration over its runs, oldest first."""

    workflow: str
    points: tuple[TrendPoint, ...]

    def change(self, field: str) -> float | None:
        """Relative change of `cost_usd` or `duration_s` from the first run to the last
        (0.25 is 25% more), over runs where it is known; None with fewer than two."""
        values = [getattr(p.share, field) for p in self.points]
        known = [v for v in values if v is not None]
        if len(known) < 2 or not known[0]:
            return None
        return float((known[-1] - known[0]) / known[0])

    def as_json(self) -> dict[str, Any]:
        return {
            "workflow": self.workflow,
            "cost_change": self.change("cost_usd"),
            "duration_change": self.change("duration_s"),
            "runs": [
                {
                    "run_id": p.run_id,
                    "started": _iso(p.started),
                    "status": p.status,
                    "instances": p.share.instances,
                    "cost_usd": p.share.cost_usd,
                    "duration_s": p.share.duration_s,
                }
                for p in self.points
            ],
        }


def trend(records: Sequence[RunRecord], workflow: str) -> Trend:
    """The trend of `workflow` over `records` (runs that did not run it are passed over)."""
    points = tuple(
        TrendPoint(r.run_id, r.started, r.status, workflow_trend(r, workflow))
        for r in records
        if workflow in r.workflows
    )
    return Trend(workflow, points)


def _workflow_lines(path: Path, workflow: str) -> Iterable[dict[str, Any]]:
    for event in iter_events(path):
        if event.get("event") == "workflow.completed" and event.get("workflow") == workflow:
            yield event
