"""The report of a run: its log (and its parents' after resume/retry) read into one frozen record.

    report = load_report(Path(".agentflow/runs"), "latest")
    report.totals.cost_usd, report.by_agent[0].latency.p90, report.failures[0].skipped

Each run of the chain is read once, line by line. The agents' usage comes from the same
`CostSummary` the run's cost table uses (so a report and the table agree to the cent); the
timeline, latencies and waits are collected from the call events beside it. Along a chain the
latest result of an agent is its result, and the money of every run is added up: what the
chain cost is what was paid, whichever run paid it.
"""

from __future__ import annotations

import json
import re
import shlex
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentflow.defaults import DEFAULT_LOG_DIR
from agentflow.events.types import Event
from agentflow.sinks.summary import FAILURE_SKIP_REASONS, AgentRecord, CostSummary, Usage
from agentflow.state.history import UNFINISHED, parse_ts
from agentflow.state.lineage import lineage_of, sha256_of

REPORT_FORMAT = "agentflow.report/v1"
MAX_DAG_AGENTS = 1000

# The root cause named in a skip's detail: "'a' failed (timeout)", or nested,
# "'b' was skipped: 'a' failed (timeout)"; the last one is the agent that failed.
_BUDGET_WAIT = "budget"  # the reason of a wait for other calls' budget reservations
_FAILED_DEP = re.compile(r"'([^']+)' failed \(")


@dataclass(frozen=True, slots=True)
class Percentiles:
    """Latency of answered calls, in seconds (nearest-rank percentiles); None without calls."""

    count: int = 0
    p50: float | None = None
    p90: float | None = None
    p99: float | None = None
    max: float | None = None


def percentiles(values: Iterable[float]) -> Percentiles:
    ordered = sorted(values)
    if not ordered:
        return Percentiles()
    if len(ordered) == 1:
        one = round(ordered[0], 6)
        return Percentiles(1, one, one, one, one)

    def rank(p: float) -> float:
        index = max(0, min(len(ordered) - 1, -(-len(ordered) * p // 100) - 1))
        return round(ordered[int(index)], 6)

    return Percentiles(len(ordered), rank(50), rank(90), rank(99), round(ordered[-1], 6))


@dataclass(frozen=True, slots=True)
class Segment:
    """One stretch of an agent's time on the timeline, seconds from its run's start.

    `kind` is `call` (a request until its answer, error or abandonment), `retry_wait` (the
    back-off after a failed attempt), `ratelimit_wait` (held by a limit before sending),
    `budget_wait` (held until other calls' budget reservations settled) or `tool` (a tool
    call). `outcome`: `ok`, an error class, an abandonment reason, the limit's reason for a
    rate-limit wait, or `budget` for a budget wait.
    """

    kind: str
    start_s: float
    end_s: float
    outcome: str
    attempt: int | None = None
    index: int | None = None


@dataclass(frozen=True, slots=True)
class AgentRun:
    """One agent of one workflow instance in one run of the chain."""

    run_id: str
    workflow: str
    instance: int
    agent: str
    model: str | None
    status: str  # completed | failed | skipped | reused | running
    start_s: float | None
    end_s: float | None
    usage: Usage
    items: int | None = None
    attempts: int | None = None
    error_class: str | None = None
    message: str | None = None
    skip_reason: str | None = None
    skip_detail: str | None = None
    reused_from: str | None = None
    segments: tuple[Segment, ...] = ()

    def label(self, *, with_instance: bool, with_workflow: bool = True) -> str:
        name = self.workflow if with_workflow else ""
        if with_instance:
            name = f"{name}[{self.instance}]"
        return f"{name}/{self.agent}" if name else self.agent


@dataclass(frozen=True, slots=True)
class UsageRow:
    """Usage summed over a group (a workflow, an agent over its instances, a model)."""

    name: str
    usage: Usage
    latency: Percentiles
    runs: int = 0  # agent runs in the group (0 for models)
    failed: int = 0
    model: str | None = None


@dataclass(frozen=True, slots=True)
class Wait:
    """Time held back before sending, by cause (`rpm`, `tpm`, `concurrency`, `paused`, ...)."""

    reason: str
    count: int
    seconds: float


@dataclass(frozen=True, slots=True)
class Failure:
    """An agent whose latest result is a failure, and what did not run because of it."""

    run_id: str
    workflow: str
    instance: int
    agent: str
    error_class: str
    message: str
    usage: Usage
    skipped: tuple[str, ...]  # agents of the same instance skipped because of it


@dataclass(frozen=True, slots=True)
class RunPart:
    """One log of the chain, with its provenance (from its `run.started` line)."""

    run_id: str
    parent_run_id: str | None
    started: str
    status: str
    exit_code: int | None
    duration_s: float | None
    command: tuple[str, ...]
    agentflow_version: str | None
    mock: bool
    files: tuple[tuple[str, str], ...]  # (path, sha256 when the run started)
    price_map: dict[str, Any]
    log_path: str
    budget_usd: float | None = None


@dataclass(frozen=True, slots=True)
class DagNode:
    agent: str
    depends_on: tuple[str, ...]
    level: int


@dataclass(frozen=True, slots=True)
class Dag:
    """A workflow's agents and dependencies, from its file when it is unchanged since the run;
    else `note` says why it is missing."""

    workflow: str
    nodes: tuple[DagNode, ...] = ()
    note: str | None = None


@dataclass(frozen=True, slots=True)
class Report:
    """Everything `agentflow report` shows about a run and the runs it continued."""

    run_id: str
    status: str
    exit_code: int | None
    runs: tuple[RunPart, ...]  # oldest first; the last is `run_id`
    totals: Usage
    by_workflow: tuple[UsageRow, ...]
    by_agent: tuple[UsageRow, ...]
    by_model: tuple[UsageRow, ...]
    retries_by_class: tuple[tuple[str, int], ...]
    retry_wait_s: float
    waits: tuple[Wait, ...]
    budget_warnings: int
    budget_refusals: tuple[dict[str, Any], ...]
    failures: tuple[Failure, ...]
    failed_work: Usage
    agents: tuple[AgentRun, ...]  # every agent run of the chain, in order of start
    continue_command: str | None
    dags: tuple[Dag, ...] = ()
    multi_instance: bool = False
    latest: dict[tuple[str, int, str], AgentRun] = field(default_factory=dict)

    @property
    def duration_s(self) -> float:
        return round(sum(p.duration_s or 0.0 for p in self.runs), 6)

    @property
    def counts(self) -> dict[str, int]:
        seen = Counter(a.status for a in self.latest.values())
        return {s: seen.get(s, 0) for s in ("completed", "failed", "skipped", "running")}


# -- reading one log -------------------------------------------------------------------------


def _event(record: dict[str, Any], ts: float) -> Event:
    # The line itself is the data: the summary reads data fields by name, and no data field
    # shares a name with the envelope (the log writes such a one as `data_<name>`).
    return Event(
        event=str(record.get("event")),
        ts=ts,
        run_id=str(record.get("run_id")),
        seq=int(record.get("seq") or 0),
        workflow=record.get("workflow"),
        instance=record.get("instance"),
        agent=record.get("agent"),
        data=record,
    )


def read_lines(path: Path) -> Iterator[dict[str, Any]]:
    """Every complete event line of a log, in order (a line cut by a crash is passed over)."""
    with path.open(encoding="utf-8", errors="replace") as handle:
        for raw in handle:
            try:
                record = json.loads(raw)
            except ValueError:
                continue
            if isinstance(record, dict):
                yield record


@dataclass(slots=True)
class _Open:
    start: float
    attempt: int | None
    index: int | None


@dataclass(slots=True)
class _AgentTrace:
    start: float | None = None
    end: float | None = None
    items: int | None = None
    reused_from: str | None = None
    reused_status: str | None = None
    reused: dict[str, Any] | None = None
    segments: list[Segment] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)


Key = tuple[str, int, str]
CallKey = tuple[Key, Any, Any, Any]  # agent, index, round, attempt


class _LogReader:
    """One log read into a CostSummary plus the timeline and latencies beside it."""

    def __init__(self) -> None:
        self.summary = CostSummary()
        self.started: dict[str, Any] = {}
        self.completed: dict[str, Any] | None = None
        self.origin: float | None = None
        self.last_ts: float | None = None
        self.traces: dict[Key, _AgentTrace] = {}
        self.order: list[Key] = []
        self.calls: dict[CallKey, _Open] = {}
        self.waits: dict[tuple[Key, Any], tuple[float, str]] = {}
        self.tools: dict[tuple[Key, Any], tuple[float, Any]] = {}
        self.wait_totals: dict[str, list[float]] = {}
        self.retry_wait_s = 0.0
        self.model_latencies: dict[str, list[float]] = {}
        self.budget_warnings = 0

    def trace(self, key: Key) -> _AgentTrace:
        found = self.traces.get(key)
        if found is None:
            found = self.traces[key] = _AgentTrace()
            self.order.append(key)
        return found

    def read(self, lines: Iterable[dict[str, Any]]) -> None:
        seen: dict[str, float] = {}  # many lines share a millisecond
        for record in lines:
            raw_ts = record.get("ts")
            ts = seen.get(raw_ts) if isinstance(raw_ts, str) else None
            if ts is None:
                try:
                    ts = parse_ts(raw_ts).timestamp() if isinstance(raw_ts, str) else None
                except ValueError:
                    ts = None
                if ts is None:
                    ts = self.last_ts or 0.0
                elif len(seen) < 100_000:
                    seen[str(raw_ts)] = ts
            if self.origin is None:
                self.origin = ts
            self.last_ts = ts
            self.summary.handle(_event(record, ts))
            self._collect(record, round(ts - self.origin, 6))

    def _collect(self, r: dict[str, Any], t: float) -> None:
        name = r.get("event")
        if name == "run.started":
            self.started = r
            return
        if name == "run.completed":
            self.completed = r
            return
        if name == "budget.warning":
            self.budget_warnings += 1
        agent = r.get("agent")
        if agent is None or r.get("workflow") is None:
            return
        key: Key = (str(r["workflow"]), int(r.get("instance") or 0), str(agent))
        index = r.get("index")
        if name == "agent.started":
            trace = self.trace(key)
            trace.start = t
            trace.items = r.get("items")
        elif name == "llm.request":
            self.trace(key)
            self._end_wait(key, index, t, r.get("attempt"))
            self.calls[(key, index, r.get("round"), r.get("attempt"))] = _Open(
                t, r.get("attempt"), index
            )
        elif name == "llm.response":
            trace = self.trace(key)
            if r.get("replayed") or r.get("cached"):
                return
            call = self.calls.pop((key, index, r.get("round"), r.get("attempt")), None)
            if call is not None:
                trace.segments.append(Segment("call", call.start, t, "ok", call.attempt, index))
            latency = r.get("latency_s")
            if isinstance(latency, int | float):
                trace.latencies.append(float(latency))
                self.model_latencies.setdefault(str(r.get("model")), []).append(float(latency))
        elif name == "llm.abandoned":
            call = self.calls.pop((key, index, r.get("round"), r.get("attempt")), None)
            if call is not None:
                self.trace(key).segments.append(
                    Segment("call", call.start, t, str(r.get("reason")), call.attempt, index)
                )
        elif name == "llm.retry":
            trace = self.trace(key)
            attempt = r.get("attempt")
            for call_key in [c for c in self.calls if c[0] == key and c[1] == index]:
                if call_key[3] == attempt:
                    call = self.calls.pop(call_key)
                    trace.segments.append(
                        Segment("call", call.start, t, str(r.get("error_class")), attempt, index)
                    )
            delay = float(r.get("delay_s") or 0.0)
            self.retry_wait_s += delay
            trace.segments.append(
                Segment(
                    "retry_wait", t, round(t + delay, 6), str(r.get("error_class")), attempt, index
                )
            )
        elif name == "ratelimit.wait":
            self.trace(key)
            if self.waits.get((key, index), (0.0, ""))[1] == _BUDGET_WAIT:
                self._end_wait(key, index, t, None)  # the budget let it go; now a limit holds it
            self.waits.setdefault((key, index), (t, str(r.get("reason"))))
        elif name == "budget.wait":
            self.trace(key)
            self.waits.setdefault((key, index), (t, _BUDGET_WAIT))
        elif name == "tool.call":
            self.tools[(key, r.get("call_id"))] = (t, r.get("tool"))
        elif name == "tool.result":
            opened = self.tools.pop((key, r.get("call_id")), None)
            if opened is not None:
                outcome = "ok" if r.get("ok") else "error"
                self.trace(key).segments.append(
                    Segment("tool", opened[0], t, f"{opened[1]}: {outcome}", index=index)
                )
        elif name in ("agent.completed", "agent.failed", "agent.skipped"):
            trace = self.trace(key)
            trace.end = t
            for wait_key in [w for w in self.waits if w[0] == key]:  # refused after waiting
                self._end_wait(key, wait_key[1], t, None)
            if trace.start is None:
                trace.start = t
            # A call still open ends with its agent: the error that failed it, or unanswered.
            outcome = str(r.get("error_class")) if name == "agent.failed" else "unanswered"
            for call_key in [c for c in self.calls if c[0] == key]:
                call = self.calls.pop(call_key)
                trace.segments.append(
                    Segment("call", call.start, t, outcome, call.attempt, call.index)
                )
        elif name == "agent.reused":
            trace = self.trace(key)
            trace.start = trace.end = t
            trace.reused_from = str(r.get("from_run_id"))
            trace.reused = r

    def _end_wait(self, key: Key, index: Any, end: float, attempt: Any) -> None:
        """Close the wait open for this call, if any: a segment, and its reason's total."""
        wait = self.waits.pop((key, index), None)
        if wait is None:
            return
        start, reason = wait
        kind = "budget_wait" if reason == _BUDGET_WAIT else "ratelimit_wait"
        self.trace(key).segments.append(Segment(kind, start, end, reason, attempt, index))
        self.wait_totals.setdefault(reason, []).append(end - start)

    def agent_runs(self, run_id: str) -> list[AgentRun]:
        out = []
        for key in self.order:
            trace = self.traces[key]
            record = self.summary.agents.get(key)
            if trace.reused_from is not None:
                reused = trace.reused or {}
                failed = reused.get("status") == "failed"
                out.append(
                    AgentRun(
                        run_id=run_id,
                        workflow=key[0],
                        instance=key[1],
                        agent=key[2],
                        model=None,
                        status="reused",
                        start_s=trace.start,
                        end_s=trace.end,
                        usage=Usage(),
                        error_class=reused.get("error_class") if failed else None,
                        message=reused.get("message") if failed else None,
                        reused_from=trace.reused_from,
                    )
                )
                continue
            if record is None:
                record = AgentRecord(*key)
            out.append(
                AgentRun(
                    run_id=run_id,
                    workflow=key[0],
                    instance=key[1],
                    agent=key[2],
                    model=record.model,
                    status=record.status,
                    start_s=trace.start,
                    end_s=trace.end if trace.end is not None else self._end(),
                    usage=record.usage,
                    items=trace.items,
                    attempts=record.attempts,
                    error_class=record.error_class,
                    message=record.message,
                    skip_reason=record.skip_reason,
                    skip_detail=record.skip_detail,
                    segments=tuple(sorted(trace.segments, key=lambda s: (s.start_s, s.end_s))),
                )
            )
        return out

    def _end(self) -> float | None:
        if self.last_ts is None or self.origin is None:
            return None
        return round(self.last_ts - self.origin, 6)

    def part(self, run_id: str, path: Path) -> RunPart:
        s = self.started
        done = self.completed or {}
        files = tuple(
            (str(f.get("path")), str(f.get("sha256")))
            for f in s.get("files") or ()
            if isinstance(f, dict)
        )
        command = s.get("command")
        return RunPart(
            run_id=run_id,
            parent_run_id=s.get("parent_run_id"),
            started=str(s.get("ts") or ""),
            status=str(done.get("status") or UNFINISHED),
            exit_code=done.get("exit_code"),
            duration_s=done.get("duration_s", self._end()),
            command=tuple(str(c) for c in command) if isinstance(command, list) else (),
            agentflow_version=s.get("agentflow_version"),
            mock=bool(s.get("mock")),
            files=files,
            price_map=dict(s.get("price_map") or {}),
            log_path=str(path),
            budget_usd=s.get("budget_usd"),
        )


# -- combining a chain -----------------------------------------------------------------------


def _summed(usages: Iterable[Usage]) -> Usage:
    total = Usage()
    for usage in usages:
        total.add(usage)
    return total


def _root_cause(detail: str | None) -> str | None:
    found = _FAILED_DEP.findall(detail or "")
    return found[-1] if found else None


def _continue_command(run_id: str, status: str, log_dir: Path) -> str | None:
    if status == "ok":
        return None
    verb = "resume" if status in ("cancelled", "budget", UNFINISHED) else "retry"
    argv = ["agentflow", verb, run_id]
    if log_dir != DEFAULT_LOG_DIR:
        argv += ["--log-dir", str(log_dir)]
    text = shlex.join(argv)
    return text + " --budget-usd <more>" if status == "budget" else text


def _agent_counts(latest: dict[Key, AgentRun]) -> Counter[str]:
    """Distinct agents per workflow (instances counted once)."""
    return Counter(workflow for workflow, _ in {(k[0], k[2]) for k in latest})


def _dags(
    parts: Sequence[RunPart], workflows: Sequence[str], agents: Counter[str]
) -> tuple[Dag, ...]:
    """Each workflow's DAG from its file, when the file is there and unchanged since the run.

    A workflow of more than `MAX_DAG_AGENTS` agents is left out: checking its file would take
    longer than the rest of the report, and no page could draw it legibly.
    """
    from agentflow.core import load_workflow
    from agentflow.errors import AgentflowError

    big = {w for w in workflows if agents[w] > MAX_DAG_AGENTS}
    wanted = set(workflows) - big
    found: dict[str, Dag] = {
        w: Dag(w, note=f"{agents[w]:,} agents, too many to draw (agentflow graph draws its file)")
        for w in big
    }
    notes: list[str] = []
    if not wanted:
        return tuple(found[w] for w in workflows)
    for path_text, digest in parts[-1].files if parts else ():
        path = Path(path_text)
        if path.suffix not in (".yaml", ".yml"):
            continue
        try:
            if sha256_of(path) != digest:
                notes.append(f"{path_text} changed since the run")
                continue
            workflow = load_workflow(path, import_tools=False)
        except (OSError, AgentflowError):
            notes.append(f"{path_text} could not be read")
            continue
        if workflow.name not in wanted:
            continue
        depends = {a.id: tuple(a.depends_on) for a in workflow.agents}
        level = _levels(depends)
        nodes = tuple(DagNode(a, deps, level[a]) for a, deps in depends.items())
        found[workflow.name] = Dag(workflow.name, nodes)
    note = "; ".join(notes) or "its file is not recorded in the run log"
    return tuple(found.get(name) or Dag(name, note=note) for name in workflows)


def _levels(depends: dict[str, tuple[str, ...]]) -> dict[str, int]:
    """Each agent's depth: 0 without dependencies, else one more than its deepest one."""
    level: dict[str, int] = {}
    pending = dict(depends)
    while pending:
        ready = [
            a for a, deps in pending.items() if all(d in level or d not in depends for d in deps)
        ]
        if not ready:  # a cycle (validate refuses those): put the rest on one level
            ready = list(pending)
        for agent in ready:
            deps = [level[d] for d in pending[agent] if d in level]
            level[agent] = 1 + max(deps, default=-1)
            del pending[agent]
    return level


def build_report(
    logs: Sequence[tuple[str, Path, Iterable[dict[str, Any]]]],
    *,
    log_dir: Path = DEFAULT_LOG_DIR,
    with_dag: bool = True,
) -> Report:
    """The report of a chain of logs, oldest first: (run_id, path, its event lines) each."""
    readers: list[_LogReader] = []
    parts: list[RunPart] = []
    agents: list[AgentRun] = []
    for run_id, path, lines in logs:
        reader = _LogReader()
        reader.read(lines)
        readers.append(reader)
        parts.append(reader.part(run_id, path))
        agents.extend(reader.agent_runs(run_id))
    latest: dict[Key, AgentRun] = {}
    spent: dict[Key, list[Usage]] = {}
    for run in agents:
        key = (run.workflow, run.instance, run.agent)
        spent.setdefault(key, []).append(run.usage)
        if run.status != "reused":
            latest[key] = run
    newest = parts[-1]
    workflows: list[str] = []
    for reader in readers:
        for name in reader.started.get("workflows") or ():
            if str(name) not in workflows:
                workflows.append(str(name))
    for key in latest:
        if key[0] not in workflows:
            workflows.append(key[0])

    multi = any(key[1] != 0 for key in latest)
    several = len(workflows) > 1
    latencies: dict[Key, list[float]] = {}
    for reader in readers:
        for key, trace in reader.traces.items():
            latencies.setdefault(key, []).extend(trace.latencies)

    by_workflow = _rows(latest, spent, latencies, lambda k: k[0])
    by_agent = _rows(latest, spent, latencies, lambda k: f"{k[0]}/{k[2]}" if several else k[2])
    model_usage: dict[str, list[Usage]] = {}
    model_latency: dict[str, list[float]] = {}
    for reader in readers:
        for model, usage in reader.summary.models.items():
            model_usage.setdefault(model, []).append(usage)
        for model, values in reader.model_latencies.items():
            model_latency.setdefault(model, []).extend(values)
    by_model = tuple(
        UsageRow(m, _summed(u), percentiles(model_latency.get(m, ())))
        for m, u in sorted(model_usage.items())
    )
    retries: Counter[str] = Counter()
    waits: dict[str, list[float]] = {}
    refusals: list[dict[str, Any]] = []
    for reader in readers:
        retries.update(reader.summary.retries_by_class)
        for reason, values in reader.wait_totals.items():
            waits.setdefault(reason, []).extend(values)
        refusals.extend(reader.summary.budget_exceeded)

    failures = _failures(latest, spent, multi)
    # Spend that bought nothing: every failed attempt at an agent (in whichever run of the
    # chain), and agents cancelled after they had sent calls.
    failed_work = _summed(
        r.usage for r in agents if r.status == "failed" or (r.status == "skipped" and r.usage.calls)
    )
    totals = _summed(r.summary.totals() for r in readers)
    status = newest.status
    return Report(
        run_id=newest.run_id,
        status=status,
        exit_code=newest.exit_code,
        runs=tuple(parts),
        totals=totals,
        by_workflow=by_workflow,
        by_agent=by_agent,
        by_model=by_model,
        retries_by_class=tuple(sorted(retries.items())),
        retry_wait_s=round(sum(r.retry_wait_s for r in readers), 6),
        waits=tuple(
            Wait(reason, len(values), round(sum(values), 6))
            for reason, values in sorted(waits.items())
        ),
        budget_warnings=sum(r.budget_warnings for r in readers),
        budget_refusals=tuple(refusals),
        failures=failures,
        failed_work=failed_work,
        agents=tuple(agents),
        continue_command=_continue_command(newest.run_id, status, log_dir),
        dags=_dags(parts, workflows, _agent_counts(latest)) if with_dag else (),
        multi_instance=multi,
        latest=latest,
    )


def _rows(
    latest: dict[Key, AgentRun],
    spent: dict[Key, list[Usage]],
    latencies: dict[Key, list[float]],
    group: Any,
) -> tuple[UsageRow, ...]:
    keys: dict[str, list[Key]] = {}
    for key in spent:
        keys.setdefault(group(key), []).append(key)
    rows = []
    for name, members in keys.items():
        models = {latest[k].model for k in members if k in latest and latest[k].model}
        rows.append(
            UsageRow(
                name=name,
                usage=_summed(u for k in members for u in spent[k]),
                latency=percentiles(v for k in members for v in latencies.get(k, ())),
                runs=sum(1 for k in members if k in latest),
                failed=sum(1 for k in members if k in latest and latest[k].status == "failed"),
                model=models.pop() if len(models) == 1 else ("(several)" if models else None),
            )
        )
    return tuple(rows)


def _failures(
    latest: dict[Key, AgentRun], spent: dict[Key, list[Usage]], multi: bool
) -> tuple[Failure, ...]:
    skipped_by: dict[Key, list[str]] = {}
    for key, run in latest.items():
        if run.status != "skipped" or run.skip_reason not in FAILURE_SKIP_REASONS:
            continue
        cause = _root_cause(run.skip_detail)
        if cause is not None:
            skipped_by.setdefault((key[0], key[1], cause), []).append(key[2])
    out = []
    for key, run in latest.items():
        if run.status != "failed":
            continue
        out.append(
            Failure(
                run_id=run.run_id,
                workflow=key[0],
                instance=key[1],
                agent=key[2],
                error_class=run.error_class or "unknown",
                message=run.message or "",
                usage=_summed(spent[key]),
                skipped=tuple(skipped_by.get(key, ())),
            )
        )
    return tuple(out)


# -- finding the logs ------------------------------------------------------------------------


def load_report(log_dir: Path, run_id: str = "latest", *, with_dag: bool = True) -> Report:
    """The report of `run_id` (or the newest run) in `log_dir`, combined with its parents.

    Raises `UsageError` when there is no such run, or a parent's log is missing.
    """
    from agentflow.errors import UsageError
    from agentflow.state.history import find_run

    if log_dir.exists() and not log_dir.is_dir():
        raise UsageError(f"--log-dir {log_dir} is a file, not a folder")
    if run_id == "latest":
        record = find_run(log_dir, "latest")
        if record is None:
            raise UsageError(f"no runs in {log_dir}; agentflow run writes them there")
        run_id = record.run_id
    chain = lineage_of(log_dir, run_id)
    logs = [(record.run_id, record.path, read_lines(record.path)) for record, _ in reversed(chain)]
    return build_report(logs, log_dir=log_dir, with_dag=with_dag)
