"""What `resume` and `retry` continue from: a past run, its parents, and what they finished.

    plan = continue_run(log_dir, "r1", mode="resume")
    plan.reuse      # (workflow, instance, agent) -> the result to take instead of running
    plan.lineage    # r1 and its parents: whose journaled answers may be replayed

Resume continues a run that was killed, cancelled or stopped by a budget: every agent
that ended (completed, or failed for good) keeps its result; agents that never ran, were
cancelled or were skipped for the budget run now, and answers already paid for are
replayed from the journal. Retry re-runs what failed and what was skipped because of it
(or, with `select`, the named agents and with `AGENT+` their dependants too): those are
asked afresh, everything else that completed is reused.

The runs form a chain through `parent_run_id`; no log is ever rewritten, so the latest
result of an agent along the chain is its result.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentflow.errors import UsageError
from agentflow.state.history import (
    LOG_SUFFIX,
    UNFINISHED,
    OpenCalls,
    RunRecord,
    first_event,
    iter_events,
    read_run,
)

AgentKey = tuple[str, int, str]  # workflow, instance, agent

# Run statuses after which calls may have been in flight, unanswered.
UNSETTLED = frozenset({UNFINISHED, "cancelled", "budget"})


@dataclass(frozen=True, slots=True)
class Outcome:
    """The latest result of one agent along a lineage."""

    status: str  # completed | failed | skipped
    run_id: str
    output: Any = None
    cost_usd: float | None = None
    error_class: str | None = None
    message: str | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Continuation:
    """Everything a resumed or retried run needs from the runs before it."""

    mode: str
    parent: RunRecord
    lineage: tuple[str, ...]
    files: tuple[Path, ...]
    settings: Mapping[str, Any]
    reuse: Mapping[AgentKey, Outcome]
    fresh: frozenset[AgentKey]
    spent_usd: float
    changed_files: tuple[str, ...]
    in_flight_at_stop: int = 0


def unanswered(path: Path) -> int:
    """Calls a log shows sent and never answered: in flight when the run stopped."""
    in_flight = OpenCalls()
    for event in iter_events(path):
        in_flight.see(event)
    return in_flight.count


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _run_started(path: Path) -> dict[str, Any]:
    with path.open("rb") as handle:
        return first_event(handle) or {}


def lineage_of(log_dir: Path, run_id: str) -> list[tuple[RunRecord, dict[str, Any]]]:
    """The run and its parents, newest first, each with its `run.started` line."""
    chain: list[tuple[RunRecord, dict[str, Any]]] = []
    seen: set[str] = set()
    current: str | None = run_id
    while current is not None and current not in seen:
        seen.add(current)
        path = log_dir / f"{current}{LOG_SUFFIX}"
        record = read_run(path) if path.is_file() else None
        if record is None:
            if not chain:
                raise UsageError(
                    f"no run '{current}' in {log_dir} (agentflow runs --log-dir {log_dir} "
                    "lists the runs there)"
                )
            raise UsageError(
                f"run '{chain[-1][0].run_id}' continues run '{current}', whose log is not in "
                f"{log_dir}; copy it there to continue"
            )
        chain.append((record, _run_started(path)))
        current = record.parent_run_id
    return chain


def outcomes(paths: Iterable[Path]) -> dict[AgentKey, Outcome]:
    """The latest result of every agent in these logs, oldest log first."""
    out: dict[AgentKey, Outcome] = {}
    for path in paths:
        for event in iter_events(path):
            name = event.get("event")
            if name not in ("agent.completed", "agent.failed", "agent.skipped", "agent.reused"):
                continue
            key = (
                str(event.get("workflow")),
                int(event.get("instance") or 0),
                str(event.get("agent")),
            )
            run_id = str(event.get("run_id"))
            if name == "agent.completed":
                out[key] = Outcome("completed", run_id, event.get("output"), event.get("cost_usd"))
            elif name == "agent.failed":
                out[key] = Outcome(
                    "failed",
                    run_id,
                    cost_usd=event.get("cost_usd"),
                    error_class=event.get("error_class"),
                    message=event.get("message"),
                )
            elif name == "agent.skipped":
                out[key] = Outcome("skipped", run_id, reason=event.get("reason"))
            else:  # agent.reused repeats a result from an older log of the chain
                origin = str(event.get("from_run_id"))
                if event.get("status") == "failed":
                    out[key] = Outcome(
                        "failed",
                        origin,
                        cost_usd=event.get("original_cost_usd"),
                        error_class=event.get("error_class"),
                        message=event.get("message"),
                    )
                else:
                    out[key] = Outcome(
                        "completed", origin, event.get("output"), event.get("original_cost_usd")
                    )
    return out


def _selection(
    select: Sequence[str], finished: Mapping[AgentKey, Outcome], dependants: Mapping[str, set[str]]
) -> set[str]:
    chosen: set[str] = set()
    known = {key[2] for key in finished}
    for item in select:
        name = item.removesuffix("+")
        if name not in known:
            from agentflow.schema.suggest import did_you_mean

            near = did_you_mean(name, sorted(known))
            hint = f"; did you mean '{near}'?" if near else ""
            raise UsageError(f"--select {item}: no agent '{name}' in that run{hint}")
        chosen.add(name)
        if item.endswith("+"):
            stack = [name]
            while stack:
                for child in dependants.get(stack.pop(), ()):
                    if child not in chosen:
                        chosen.add(child)
                        stack.append(child)
    return chosen


def continue_run(
    log_dir: Path,
    run_id: str,
    *,
    mode: str,
    select: Sequence[str] = (),
    dependants: Mapping[str, set[str]] | None = None,
) -> Continuation:
    """What a `resume` (mode "resume") or `retry` (mode "retry") of `run_id` must do.

    `dependants` maps an agent id to the ids that depend on it directly (needed for
    `AGENT+` selections). Raises `UsageError` when the run cannot be continued.
    """
    chain = lineage_of(log_dir, run_id)
    parent, started = chain[0]
    files_field = started.get("files")
    settings = started.get("settings")
    if not isinstance(files_field, list) or not isinstance(settings, dict):
        raise UsageError(
            f"run '{run_id}' was logged by an agentflow that did not record its files and "
            "settings; it cannot be resumed or retried (run it again)"
        )
    files = tuple(Path(str(f["path"])) for f in files_field)
    changed = tuple(
        str(f["path"])
        for f in files_field
        if not Path(str(f["path"])).is_file() or sha256_of(Path(str(f["path"]))) != f["sha256"]
    )
    finished = outcomes(record.path for record, _ in reversed(chain))
    reuse: dict[AgentKey, Outcome] = {}
    fresh: set[AgentKey] = set()
    if mode == "resume":
        for key, outcome in finished.items():
            # A refusal by the budget is work cut off, not a failure of the agent's own.
            if outcome.status == "completed" or (
                outcome.status == "failed" and outcome.error_class != "budget"
            ):
                reuse[key] = outcome
    elif mode == "retry":
        chosen = _selection(select, finished, dependants or {}) if select else None
        for key, outcome in finished.items():
            if chosen is None:
                if outcome.status == "completed":
                    reuse[key] = outcome
                elif outcome.status == "failed":
                    fresh.add(key)
            elif key[2] in chosen:
                fresh.add(key)
            elif outcome.status in ("completed", "failed"):
                reuse[key] = outcome
    else:  # pragma: no cover - the CLI offers only the two
        raise ValueError(mode)
    spent = 0.0
    for record, _ in chain:
        spent += (record.cost_usd or 0.0) + record.unconfirmed_cost_usd
    return Continuation(
        mode=mode,
        parent=parent,
        lineage=tuple(record.run_id for record, _ in chain),
        files=files,
        settings=settings,
        reuse=reuse,
        fresh=frozenset(fresh),
        spent_usd=round(spent, 10),
        changed_files=changed,
        in_flight_at_stop=unanswered(parent.path) if parent.status in UNSETTLED else 0,
    )
