"""`agentflow worker`: claim queued instances, run them, relay their events; any host.

    worker = Worker(WorkerSettings(queue_url="redis://redis:6379/0"), warn=print)
    report = await worker.run()          # until idle (--exit-when-idle) or stopped
    worker.request_stop("SIGTERM")       # from a signal handler: finish or hand back

A worker loops over the open runs (`agentflow:queue:runs`, or the one run it was given):
it claims up to `max_workflows` instances of a run (those whose holder's lease ran out
first), runs them with one `Engine` per claimed batch, keeps their leases renewed while
they run, and relays the batch's events (agentflow.sinks.relay), acknowledging each
instance with its `workflow.completed`. Answers are journaled in the queue's Redis
(agentflow.state.redis_journal) before they are reported, so an instance claimed again
after its holder died replays them at $0.

A stop (SIGTERM, SIGINT) ends claiming at once; what is held may finish for `grace_s`;
then the engine is stopped, and what it had not finished is handed back to the queue
(claimable at once by another worker) instead of being reported cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import os
import socket
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentflow.defaults import DEFAULT_MAX_CONCURRENCY
from agentflow.errors import SharedStateUnreachable, StateError, WorkflowInvalid
from agentflow.events.bus import EventBus
from agentflow.model.types import Workflow
from agentflow.plan.pricing import load_price_book
from agentflow.redaction import configure
from agentflow.run.clock import SystemClock
from agentflow.run.engine import Engine, Instance, RunSettings
from agentflow.run.queue import Claim, QueueSpec, SpecFile, WorkQueue, open_runs
from agentflow.run.shared import Backends, open_backends
from agentflow.run.standing import run_account
from agentflow.sinks.relay import RelaySink
from agentflow.state.journal import CacheChoice
from agentflow.state.redis_conn import QUEUE_HINT, RedisConnection, parse_redis_url
from agentflow.state.redis_journal import RedisJournal
from agentflow.state.store import StateStore

DEFAULT_POLL_S = 0.5
DEFAULT_GRACE_S = 20.0
DEFAULT_IDLE_WAIT_S = 30.0


@dataclass(frozen=True, slots=True)
class WorkerSettings:
    """What `agentflow worker` (or the starter's own worker) was asked to do."""

    queue_url: str
    state_path: Path = Path(".agentflow/state.db")
    shared_state: str | None = None  # --state redis://: limits and standing budgets
    max_workflows: int = 100
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY
    run_id: str | None = None  # only this run; leave when it is done
    exit_when_idle: bool = False
    lease_s: float | None = None  # None: the lease the run was enqueued with
    poll_s: float = DEFAULT_POLL_S
    grace_s: float = DEFAULT_GRACE_S
    idle_wait_s: float = DEFAULT_IDLE_WAIT_S  # exit_when_idle: how long to wait for a first run
    name: str | None = None


@dataclass
class WorkerReport:
    """What a worker did, for its last line."""

    consumer: str
    instances: int = 0
    handed_back: int = 0
    runs: set[str] = field(default_factory=set)
    stopped_by: str | None = None


@dataclass
class _Run:
    queue: WorkQueue
    spec: QueueSpec
    workflows: list[Workflow]
    pricing: Path | None  # the starter's --pricing file, here


def make_client(mock: bool, mock_latency: float, max_concurrency: int) -> Any:
    """The LLM client a run's instances use (the mock one with `--mock`)."""
    from agentflow.llm.litellm_client import LiteLLMClient

    client = LiteLLMClient(max_connections=max(max_concurrency, 16))
    if not mock:
        return client
    from agentflow.llm.mock import MockLLMClient

    return MockLLMClient(client, latency_s=mock_latency)


def _consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{os.urandom(3).hex()}"


class Worker:
    """One worker process's loop; see the module docstring."""

    def __init__(self, settings: WorkerSettings, *, warn: Callable[[str], None]) -> None:
        self.settings = settings
        self._warn = warn
        self._target = parse_redis_url(settings.queue_url)
        self.report = WorkerReport(settings.name or _consumer_name())
        self._stop = asyncio.Event()
        self._stop_signal: str | None = None
        self._engine: Engine | None = None
        self._runs: dict[str, _Run] = {}
        self._skipped: set[str] = set()  # runs whose workflows do not load here
        self._secret_env: set[str] = set()
        self._shared_display = (
            parse_redis_url(settings.shared_state).display() if settings.shared_state else None
        )
        self._clients: dict[tuple[bool, float], Any] = {}
        self._folder: tempfile.TemporaryDirectory[str] | None = None

    def request_stop(self, signal_name: str) -> None:
        """Stop claiming; finish what is held within the grace, hand back the rest."""
        if self._stop_signal is None:
            self._stop_signal = signal_name
            self.report.stopped_by = signal_name
            self._stop.set()

    async def run(self) -> WorkerReport:
        """Work until idle (`exit_when_idle`, or the given run is done) or stopped."""
        store = StateStore.open(self.settings.state_path)
        try:
            backends = open_backends(self.settings.shared_state, store, [], warn=self._warn)
        except BaseException:
            store.close()
            raise
        try:
            async with RedisConnection(self._target, hint=QUEUE_HINT) as redis:
                await redis.ping()
                await self._loop(redis, store, backends)
        finally:
            for client in self._clients.values():
                with contextlib.suppress(Exception):
                    await client.aclose()
            await backends.aclose()
            store.close()
            if self._folder is not None:
                self._folder.cleanup()
        return self.report

    async def _loop(self, redis: RedisConnection, store: StateStore, backends: Backends) -> None:
        settings = self.settings
        started = time.monotonic()
        while not self._stop.is_set():
            run_ids = [settings.run_id] if settings.run_id else await open_runs(redis)
            worked = False
            unfinished = 0
            for run_id in run_ids:
                if self._stop.is_set():
                    return
                if run_id in self._skipped:
                    continue
                run = await self._run_of(redis, run_id)
                if run is None:
                    # the run it was given is not enqueued yet; a listed run without a
                    # description has expired (its starter never closed it)
                    unfinished += settings.run_id is not None and run_id not in self._skipped
                    continue
                if await run.queue.stopped():
                    continue
                lease = settings.lease_s or run.spec.lease_s
                claims = await run.queue.claim(
                    self.report.consumer, count=settings.max_workflows, block_ms=0, lease_s=lease
                )
                if claims:
                    worked = True
                    await self._work(run, claims, store, backends, redis)
                    break  # look at the open runs again, oldest first
                if await run.queue.done_count() < run.spec.instances:
                    unfinished += 1
            if worked:
                continue
            if settings.run_id is not None and unfinished == 0:
                return  # the one run it was given is done (or gone)
            waited = time.monotonic() - started >= settings.idle_wait_s
            if settings.exit_when_idle and unfinished == 0 and (self.report.runs or waited):
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), settings.poll_s)

    async def _run_of(self, redis: RedisConnection, run_id: str) -> _Run | None:
        run = self._runs.get(run_id)
        if run is not None:
            return run
        queue = WorkQueue(redis, run_id)
        spec = await queue.spec()
        if spec is None:
            return None  # not enqueued yet, or expired: asked again next time
        try:
            workflows = self._load(spec)
        except WorkflowInvalid as exc:
            first = exc.diagnostics[0] if exc.diagnostics else None
            where = f"{first.file}:{first.line}:{first.column}: {first.message}" if first else ""
            self._warn(f"run {run_id}: its workflows do not load here ({where}); skipped")
            self._skipped.add(run_id)
            return None
        if spec.budget_usd is not None and spec.budget_state != self._shared_display:
            self._warn(
                f"run {run_id} has a run budget kept in the shared state at "
                f"{spec.budget_state}; this worker names "
                f"{self._shared_display or 'none'} (--state), so it leaves the run to others"
            )
            self._skipped.add(run_id)
            return None
        pricing = self._here(spec, spec.pricing, "pricing") if spec.pricing else None
        run = self._runs[run_id] = _Run(queue, spec, workflows, pricing)
        self._secret_env |= set(spec.secret_env)  # the run's secrets are hidden here too
        configure(sorted(self._secret_env))
        await self.warm(spec, workflows)
        return run

    async def warm(self, spec: QueueSpec, workflows: list[Workflow]) -> None:
        """Load the LLM client and its providers now (seconds of blocking, once): inside a
        batch that would stall the loop that renews leases and relays events."""
        client = self._client(spec)
        warm_up = getattr(client, "warm_up", None)
        if warm_up is not None:
            targets = {(a.model, a.api_base) for wf in workflows for a in wf.agents}
            await warm_up(sorted(targets, key=lambda t: (t[0], t[1] or "")))

    def _load(self, spec: QueueSpec) -> list[Workflow]:
        """The run's workflows: from the starter's path when this host has the same file
        (its tools import beside it), else from the text the spec carries."""
        from agentflow.core import load_workflow

        return [
            load_workflow(self._here(spec, file, str(index)), import_tools=True)
            for index, file in enumerate(spec.files)
        ]

    def _here(self, spec: QueueSpec, file: SpecFile, slot: str) -> Path:
        """`file` on this host: the starter's path when it holds the same bytes here, else a
        copy of the text the spec carries, in this worker's own folder."""
        path = Path(file.path)
        if path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == file.sha256:
            return path
        if self._folder is None:
            self._folder = tempfile.TemporaryDirectory(prefix="agentflow-worker-")
        path = Path(self._folder.name) / spec.run_id / slot / path.name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(file.text, encoding="utf-8")
        return path

    def _client(self, spec: QueueSpec) -> Any:
        key = (spec.mock, spec.mock_latency)
        client = self._clients.get(key)
        if client is None:
            client = self._clients[key] = make_client(
                spec.mock, spec.mock_latency, self.settings.max_concurrency
            )
        return client

    async def _work(
        self,
        run: _Run,
        claims: list[Claim],
        store: StateStore,
        backends: Backends,
        redis: RedisConnection,
    ) -> None:
        queue, spec = run.queue, run.spec
        done = await queue.done_among(claims)
        if done:  # finished by a holder that lost its lease but not its life
            await queue.ack([c.entry_id for c in claims if c.tag in done])
            claims = [c for c in claims if c.tag not in done]
        if not claims:
            return
        self.report.runs.add(spec.run_id)
        instances = [Instance(run.workflows[c.file_index], c.instance, c.inputs) for c in claims]
        by_key = {(i.workflow.name, i.index): c for i, c in zip(instances, claims, strict=True)}
        journal = RedisJournal(
            store,
            redis,
            run_id=spec.run_id,
            lineage=(spec.run_id, *spec.lineage),  # this run too: a claimed-again instance
            fresh=spec.fresh,
            cache=CacheChoice(spec.cache),
            mock=spec.mock,
        )
        await journal.load(by_key)
        relay = RelaySink(queue, by_key)
        bus = EventBus(spec.run_id, time.time, [relay])
        engine = self._engine = Engine(
            backends=backends,
            price_book_for=lambda wf: load_price_book(wf.pricing, run.pricing),
            journal=journal,
            client=self._client(spec),
            clock=SystemClock(),
            bus=bus,
            settings=RunSettings(
                run_id=spec.run_id,
                budget_usd=spec.budget_usd,
                max_concurrency=self.settings.max_concurrency,
                max_workflows=self.settings.max_workflows,
                mock=spec.mock,
                probe_limits=not spec.mock,
                log_prompts=spec.log_prompts,
                max_answer_bytes=spec.max_answer_bytes,
                run_account=(
                    run_account(spec.run_id, spec.budget_usd, dt.datetime.now(dt.UTC))
                    if spec.budget_usd is not None
                    else None
                ),
            ),
        )
        lease = self.settings.lease_s or spec.lease_s
        try:
            async with asyncio.TaskGroup() as group:
                pump = group.create_task(relay.pump())
                body = group.create_task(self._run_engine(engine, instances, bus))
                keeper = group.create_task(self._keep(queue, relay, by_key, body, engine, lease))
                await asyncio.wait((body,))
                keeper.cancel()
                await asyncio.wait((pump,))
        finally:
            self._engine = None
            await journal.aclose()
        left = [c for key, c in by_key.items() if key not in relay.finished]
        self.report.instances += len(claims) - len(left)
        if left:
            await queue.hand_back(self.report.consumer, [c.entry_id for c in left], lease_s=lease)
            self.report.handed_back += len(left)

    async def _run_engine(self, engine: Engine, instances: list[Instance], bus: EventBus) -> None:
        try:
            await engine.prepare(instances)
            await engine.run(instances)
        finally:
            bus.close()

    async def _keep(
        self,
        queue: WorkQueue,
        relay: RelaySink,
        claims: dict[tuple[str, int], Claim],
        body: asyncio.Task[None],
        engine: Engine,
        lease_s: float,
    ) -> None:
        """While the batch runs: renew its leases; on a stop, wait out the grace, then stop
        the engine with what it holds withheld (it goes back to the queue)."""
        every = max(0.05, lease_s / 3)
        grace_ends: float | None = None
        while True:
            if grace_ends is None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), every)
                if self._stop.is_set():
                    grace_ends = time.monotonic() + self.settings.grace_s
            else:
                await asyncio.sleep(max(0.0, min(every, grace_ends - time.monotonic())))
            stopped = await queue.stopped()
            if stopped or (grace_ends is not None and time.monotonic() >= grace_ends):
                relay.withhold({key for key in claims if key not in relay.finished})
                engine.request_stop(self._stop_signal or "SIGTERM")
                return
            held = [c.entry_id for key, c in claims.items() if key not in relay.finished]
            try:
                await queue.renew(self.report.consumer, held)
            except (SharedStateUnreachable, StateError) as exc:
                self._warn(f"could not renew the leases of {len(held)} instances: {exc}")
