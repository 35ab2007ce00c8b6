"""The starter's side of a queued run: the events workers relay become the one run log.

    collector = Collector(queue, bus, stamp, instances, settings)
    result = await collector.run()       # until every instance's workflow.completed is in

The collector writes `run.started`, reads the run's events stream (XREAD BLOCK, at most
every 20 ms) and emits every relayed event into the starter's `EventBus` (renumbered, with
the time the worker stamped it), so the log, the summary, progress and metrics see one
run. An instance's `workflow.completed` is taken once: one that a worker which lost its lease sends again is
dropped, with everything else that instance reports afterwards except what may have been
paid. An answer whose worker died after journaling it and before relaying its event is
reported, with its cost, by the replay that finds it. A call a worker sent and never
reported on (it died with the call in flight, or the run ended first) is closed here with
`llm.abandoned` (reason `worker_lost`), its worst case kept as unconfirmed cost: once
another attempt at its instance has finished it, or when the run ends. It ends with
`run.completed` (and `run.cancelled` when stopped), whose totals and the `RunResult` it
returns are built from the events, as the engine builds its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from agentflow.errors import SharedStateUnreachable
from agentflow.events.bus import EventBus
from agentflow.model.types import Workflow
from agentflow.run.engine import SIGNAL_EXIT_CODES, Instance, RunSettings
from agentflow.run.queue import QueueSpec, WorkQueue
from agentflow.run.results import (
    EXIT_CODES,
    AgentResult,
    InstanceResult,
    RunResult,
    Usage,
    WorkflowStatus,
    worst_status,
)
from agentflow.run.worker import Worker

_READ_ATTEMPTS = 30
_READ_COUNT = 1000  # stream entries per read
# After a read that emptied the stream, let entries gather this long before the next one:
# a read per relayed entry would cost the starter (and Redis) a round trip per worker flush.
_GATHER_S = 0.02
_PAID = frozenset({"llm.request", "llm.response", "llm.abandoned"})
_CLOSES_CALL = frozenset({"llm.response", "llm.retry", "llm.abandoned"})
_OpenCall = tuple[str, str | None, int, str | None, Any]  # src, workflow, instance, agent, index


class Stamp:
    """The bus's wall clock: the worker's time for a relayed event, else now."""

    __slots__ = ("at",)

    def __init__(self) -> None:
        self.at: float | None = None

    def __call__(self) -> float:
        return self.at if self.at is not None else time.time()


@dataclass
class _Pending:
    usage: Usage = field(default_factory=Usage)
    agents: dict[str, AgentResult] = field(default_factory=dict)


class Collector:
    """Turns a queued run's relayed events into its log and result; see the module docstring."""

    def __init__(
        self,
        queue: WorkQueue,
        bus: EventBus,
        stamp: Stamp,
        instances: Sequence[Instance],
        settings: RunSettings,
        *,
        run_started: Mapping[str, Any],
        poll_ms: int = 500,
    ) -> None:
        self._queue = queue
        self._bus = bus
        self._stamp = stamp
        self._instances = list(instances)
        self._settings = settings
        self._run_started = dict(run_started)
        self._poll_ms = poll_ms
        self._pending: dict[tuple[str, int], _Pending] = {}
        self._results: dict[tuple[str, int], InstanceResult] = {}
        self._usage = Usage()
        self._paid: set[tuple[Any, ...]] = set()  # places whose paid answer was reported
        # Calls sent and not yet answered, retried or abandoned, per attempt (`src`): at most
        # one per agent item in one engine, whose request event is kept.
        self._open: dict[_OpenCall, tuple[float, dict[str, Any]]] = {}
        self._stop_signal: str | None = None
        self._woken = asyncio.Event()
        self.relayed = 0

    def request_stop(self, signal_name: str) -> None:
        """Stop: the workers are told to stop this run, and the run ends cancelled."""
        if self._stop_signal is None:
            self._stop_signal = signal_name
            self._woken.set()

    @property
    def stopped(self) -> str | None:
        """The signal that stopped the run, or None."""
        return self._stop_signal

    async def run(self) -> RunResult:
        started = time.monotonic()
        self._bus.emit("run.started", **self._run_started)
        after = "0"
        wanted = {(i.workflow.name, i.index) for i in self._instances}
        while self._stop_signal is None and not wanted <= self._results.keys():
            read = asyncio.ensure_future(self._read(after))
            stop = asyncio.ensure_future(self._woken.wait())
            await asyncio.wait((read, stop), return_when=asyncio.FIRST_COMPLETED)
            stop.cancel()
            if not read.done():
                read.cancel()
                break
            entries = read.result()
            for entry_id, events in entries:
                after = entry_id
                for event in events:
                    self._feed(event)
            if entries and len(entries) < _READ_COUNT:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(_GATHER_S):
                        await self._woken.wait()
        if self._stop_signal is not None:
            await self._queue.stop()
        self._close_lost_calls(None)  # whatever no worker reported on by now
        return self._finish(started)

    async def _read(self, after: str) -> list[tuple[str, list[dict[str, Any]]]]:
        """The next relayed events; a Redis that stops answering is asked again for a while
        (a restart, a stalled loop) before the run gives up on it."""
        failures = 0
        while True:
            try:
                return await self._queue.read_events(
                    after, count=_READ_COUNT, block_ms=self._poll_ms
                )
            except SharedStateUnreachable:
                failures += 1
                if failures >= _READ_ATTEMPTS:
                    raise
                await asyncio.sleep(1.0)

    def _feed(self, record: Mapping[str, Any]) -> None:
        name = record["event"]
        workflow, instance = record.get("workflow"), record.get("instance")
        data: dict[str, Any] = dict(record.get("data") or {})
        key = (workflow or "", instance if instance is not None else -1)
        self._track_call(record, name, data)
        if key in self._results and name not in _PAID:
            return  # a second attempt at a finished instance: only money is news
        if name == "llm.response":
            self._first_report(record, data)
        elif name == "workflow.completed":
            self._close_lost_calls(key)  # before the instance ends: its money first
        pending = self._pending.setdefault(key, _Pending())
        self._account(pending.usage, name, data)
        self._account(self._usage, name, data)
        agent = record.get("agent")
        if agent is not None and name in ("agent.completed", "agent.failed", "agent.skipped"):
            pending.agents[agent] = _agent_result(agent, name, data)
        self._stamp.at = float(record["ts"])
        try:
            self._bus.emit(name, workflow=workflow, instance=instance, agent=agent, **data)
        finally:
            self._stamp.at = None
        self.relayed += 1
        if name == "workflow.completed" and key not in self._results:
            self._results[key] = InstanceResult(
                workflow=key[0],
                instance=key[1],
                status=data.get("status", "failed"),
                outputs=data.get("outputs") or {},
                agents=dict(pending.agents),
                usage=pending.usage,
                duration_s=float(data.get("duration_s") or 0.0),
            )

    def _track_call(self, record: Mapping[str, Any], name: str, data: Mapping[str, Any]) -> None:
        src = record.get("src")
        if src is None or (name != "llm.request" and name not in _CLOSES_CALL):
            return
        instance = record.get("instance")
        call: _OpenCall = (
            str(src),
            record.get("workflow"),
            instance if instance is not None else -1,
            record.get("agent"),
            data.get("index"),
        )
        if name == "llm.request":
            self._open[call] = (float(record["ts"]), dict(data))
            return
        self._open.pop(call, None)
        if name == "llm.response" and data.get("replayed"):
            # The answer an earlier attempt received and journaled, then died before
            # reporting: that attempt's open call is this answer, not a loss.
            for other in [
                c
                for c, (_, request) in self._open.items()
                if c[1:] == call[1:] and request.get("round") == data.get("round")
            ]:
                del self._open[other]

    def _close_lost_calls(self, key: tuple[str, int] | None) -> None:
        """Report the calls left open by attempts at instance `key` (every instance when
        None) as abandoned: sent, never reported on, their worst case unconfirmed."""
        lost = [c for c in self._open if key is None or (c[1] or "", c[2]) == key]
        now = time.time()
        for call in lost:
            sent_at, request = self._open.pop(call)
            _, workflow, instance, agent, index = call
            worst = request.get("worst_cost_usd")
            self._feed(
                {
                    "event": "llm.abandoned",
                    "ts": max(now, sent_at),
                    "workflow": workflow,
                    "instance": instance,
                    "agent": agent,
                    "data": {
                        "model": request.get("model"),
                        "attempt": request.get("attempt"),
                        "round": request.get("round"),
                        "index": index,
                        "reason": "worker_lost",
                        "sent": True,
                        "unconfirmed_cost_usd": worst,
                        "waited_s": round(max(0.0, now - sent_at), 6),
                    },
                }
            )

    def _first_report(self, record: Mapping[str, Any], data: dict[str, Any]) -> None:
        """An answer a worker received, journaled and died before relaying was paid in this
        run: the replay that reports it first carries its cost (money is never
        under-reported). A resumed run cannot tell its own answers from its parents' here,
        and counts replays at $0 as a local resume does."""
        place = (
            record.get("workflow"),
            record.get("instance"),
            record.get("agent"),
            data.get("index"),
            data.get("round"),
        )
        if not data.get("replayed"):
            self._paid.add(place)
        elif self._settings.parent_run_id is None and place not in self._paid:
            self._paid.add(place)
            if data.get("original_cost_usd"):
                data["cost_usd"] = data["original_cost_usd"]

    @staticmethod
    def _account(usage: Usage, name: str, data: Mapping[str, Any]) -> None:
        if name == "llm.request":
            usage.calls += 1
        elif name == "llm.retry":
            usage.retries += 1
        elif name == "llm.response":
            usage.answered += 1
            usage.input_tokens += int(data.get("input_tokens") or 0)
            usage.output_tokens += int(data.get("output_tokens") or 0)
            cost = data.get("cost_usd")
            if data.get("replayed"):
                usage.replayed += 1
            elif data.get("cached"):
                usage.cached += 1
            elif cost is None:
                usage.unknown_cost_calls += 1
            if cost is not None:
                usage.cost_usd += float(cost)
        elif name == "llm.abandoned":
            usage.unconfirmed_calls += 1
            usage.unconfirmed_cost_usd += float(data.get("unconfirmed_cost_usd") or 0.0)

    def _finish(self, started: float) -> RunResult:
        results = []
        for instance in self._instances:
            key = (instance.workflow.name, instance.index)
            found = self._results.get(key)
            if found is None:
                pending = self._pending.get(key, _Pending())
                found = InstanceResult(
                    workflow=key[0],
                    instance=key[1],
                    status="cancelled",
                    outputs={},
                    agents=dict(pending.agents),
                    usage=pending.usage,
                    duration_s=0.0,
                )
            results.append(found)
        results.sort(key=lambda r: (r.workflow, r.instance))
        status: WorkflowStatus = worst_status([r.status for r in results])
        exit_code = EXIT_CODES[status]
        if self._stop_signal is not None:
            status = "cancelled"
            exit_code = SIGNAL_EXIT_CODES.get(self._stop_signal, 130)
            self._bus.emit("run.cancelled", signal=self._stop_signal, reason="stopped by signal")
        duration = time.monotonic() - started
        agents = {"completed": 0, "failed": 0, "skipped": 0}
        workflows = {"ok": 0, "failed": 0, "partial": 0, "budget": 0, "cancelled": 0}
        for result in results:
            workflows[result.status] += 1
            for agent_result in result.agents.values():
                agents[agent_result.status] += 1
        usage = self._usage
        self._bus.emit(
            "run.completed",
            status=status,
            exit_code=exit_code,
            duration_s=round(duration, 6),
            totals={
                "cost_usd": round(usage.cost_usd, 10),
                "unconfirmed_cost_usd": round(usage.unconfirmed_cost_usd, 10),
                "unconfirmed_calls": usage.unconfirmed_calls,
                "unknown_cost_calls": usage.unknown_cost_calls,
                "input_tokens": usage.input_tokens,
                "output_tokens": usage.output_tokens,
                "calls": usage.calls,
                "retries": usage.retries,
                "replayed": usage.replayed,
                "cached": usage.cached,
                "agents": agents,
                "workflows": workflows,
            },
            budgets=[],
        )
        return RunResult(
            run_id=self._settings.run_id,
            status=status,
            exit_code=exit_code,
            instances=tuple(results),
            usage=usage,
            duration_s=duration,
            log_path=self._settings.log_path,
            signal=self._stop_signal,
        )


def _agent_result(agent: str, name: str, data: Mapping[str, Any]) -> AgentResult:
    if name == "agent.completed":
        return AgentResult(agent, "completed", output=data.get("output"))
    if name == "agent.failed":
        return AgentResult(
            agent, "failed", error_class=data.get("error_class"), message=data.get("message")
        )
    return AgentResult(agent, "skipped", reason=data.get("reason"), message=data.get("detail"))


async def run_through_queue(
    queue: WorkQueue,
    spec: QueueSpec,
    instances: Sequence[Instance],
    workflows: Sequence[Workflow],
    collector: Collector,
    worker: Worker | None,
) -> RunResult:
    """Enqueue the run, work on it here too (unless `worker` is None), collect its events.

    The starter's own worker leaves once the run is done or stopped; the run is closed
    (no worker looks for it again) only when it ends, so a starter that dies leaves it
    open for the workers to finish and for `resume` to find.
    """
    index = {id(workflow): n for n, workflow in enumerate(workflows)}
    await queue.enqueue(spec, ((index[id(i.workflow)], i.index, dict(i.inputs)) for i in instances))
    async with asyncio.TaskGroup() as group:
        working = group.create_task(worker.run()) if worker is not None else None
        result = await collector.run()
        if worker is not None and working is not None:
            if collector.stopped:
                worker.request_stop(collector.stopped)
            await asyncio.wait((working,))
    await queue.close()
    return result
