"""The run engine: readiness scheduling of many workflow instances on one event loop.

    engine = Engine(client=client, clock=SystemClock(), bus=bus, settings=settings)
    result = await engine.run([Instance(workflow, 0, inputs)])

Every task belongs to a TaskGroup owned here: one for the run, one per instance, one per
fanned-out agent. An agent starts the moment its last dependency finishes. All instances
share one rate limiter, one budget ledger and one in-flight cap. `request_stop()` (from a
signal handler) cancels the run at any moment, even before it starts: every agent still
pending is recorded as skipped, calls in flight as abandoned (their worst case kept as
unconfirmed cost), and the final events are written before `run()` returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import random
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agentflow.defaults import DEFAULT_MAX_CONCURRENCY
from agentflow.errors import AgentflowError, BudgetExceeded, TemplateRenderError
from agentflow.events.bus import EventBus
from agentflow.graph.compile import WorkflowGraph, compile_workflow
from agentflow.model.types import Agent, Budget, Limit, Workflow
from agentflow.plan.estimate import expected_agent_seconds
from agentflow.plan.pricing import PriceBook, load_price_book
from agentflow.plan.tokens import tokenizer_for
from agentflow.run.budget import BudgetLedger, BudgetStatistics, Ledger
from agentflow.run.calls import DEFAULT_MAX_ANSWER_BYTES, AgentContext, CallRunner, CallStatistics
from agentflow.run.clock import Clock
from agentflow.run.heap import frozen_heap
from agentflow.run.limits import Limiter, LimiterStatistics
from agentflow.run.priority import LatencyObserver, RemainingPaths, Urgency
from agentflow.run.results import (
    EXIT_CODES,
    AgentResult,
    InstanceResult,
    RunResult,
    Usage,
    WorkflowStatus,
    worst_status,
)
from agentflow.run.shared import Backends, LocalBackends
from agentflow.run.standing import StandingAccount, StandingLedger, standing_account
from agentflow.run.tools import ToolRunner
from agentflow.state.journal import RunJournal

if TYPE_CHECKING:
    from agentflow.run.mcp import McpServers
from agentflow.state.lineage import Outcome
from agentflow.templates import (
    INLINE_STEPS,
    evaluate,
    evaluate_async,
    references,
    render_async,
)

SIGNAL_EXIT_CODES = {"SIGINT": 130, "SIGTERM": 143}

# Skips that mean work was lost (a false `when`, and what only depended on it, are not).
_BROKEN_SKIPS = frozenset({"dependency_failed", "budget", "cancelled"})


@dataclass(frozen=True, slots=True)
class RunSettings:
    """Run-wide settings from the command line."""

    run_id: str
    budget_usd: float | None = None
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY
    max_workflows: int = 100
    mock: bool = False
    seed: int | None = None
    log_path: str | None = None
    parent_run_id: str | None = None
    log_prompts: bool = False  # record rendered prompts and raw answers in the log
    # What the parents of a resumed or retried run spent: it counts against the run budget.
    spent_before_usd: float = 0.0
    # For run.started: version, command line, files and their sha256, input sources.
    provenance: Mapping[str, Any] = field(default_factory=dict)
    max_answer_bytes: int | None = DEFAULT_MAX_ANSWER_BYTES
    # Hold back a key with no declared limits until the provider shows its own (adaptive
    # limits); for runs that reach a real provider.
    probe_limits: bool = False
    # A queued run's budget: `budget_usd` kept in the backends' shared store, so that all
    # the run's workers spend from one account (agentflow.run.standing.RunAccount).
    run_account: StandingAccount | None = None


@dataclass(frozen=True, slots=True)
class Instance:
    """One workflow to run with one set of inputs."""

    workflow: Workflow
    index: int
    inputs: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class EngineStatistics:
    """Live counters for the progress display and the final summary."""

    agents_total: int
    agents_running: int
    agents_done: int
    calls: CallStatistics
    limits: LimiterStatistics | None
    budgets: BudgetStatistics | None
    cost_usd: float
    input_tokens: int
    output_tokens: int

    def summary(self) -> dict[str, str]:
        """The few numbers worth a line under the progress header."""
        out = {
            "calls in flight": str(self.calls.in_flight),
            "waiting for a slot": str(self.calls.queued),
            "rate-limited": str(self.calls.rate_limited),
        }
        if self.limits is not None:
            paused = [k.key for k in self.limits.keys if k.paused_until]
            if paused:
                out["paused (429)"] = ", ".join(paused)
        if self.budgets is not None:
            for scope in self.budgets.scopes:
                if scope.name == "run" and scope.limit_usd:
                    out["run budget"] = f"${scope.spent_usd:.4f} of ${scope.limit_usd:g}"
        return out


def merge_limits(workflows: Sequence[Workflow]) -> tuple[Limit, ...]:
    """One limit per key over all workflows; where two declare the same key, the stricter wins."""
    merged: dict[str, dict[str, int | None]] = {}
    fields = ("rpm", "rph", "rpd", "tpm", "tph", "tpd", "max_concurrent", "burst")
    for workflow in workflows:
        for limit in workflow.limits:
            current = merged.setdefault(limit.key, dict.fromkeys(fields))
            for name in fields:
                value = getattr(limit, name)
                if value is not None:
                    old = current[name]
                    current[name] = value if old is None else min(old, value)
    return tuple(Limit(key=key, **values) for key, values in merged.items())


def has_token_limits(limits: Sequence[Limit]) -> bool:
    """Whether any limit counts tokens (tpm, tph or tpd)."""
    return any(
        limit.tpm is not None or limit.tph is not None or limit.tpd is not None for limit in limits
    )


class _InstanceState:
    """Mutable bookkeeping of one running instance (owned by its task)."""

    def __init__(
        self,
        instance: Instance,
        graph: WorkflowGraph,
        paths: RemainingPaths,
        deadline: float | None,
    ) -> None:
        self.instance = instance
        self.graph = graph
        self.paths = paths
        self.deadline = deadline  # on the run's monotonic time line, or None
        self.remaining = {a.id: len(a.depends_on) for a in instance.workflow.agents}
        self.results: dict[str, AgentResult] = {}
        self.outputs: dict[str, Any] = {}
        self.stopped_by_budget = False
        self.usage = Usage()
        self.cancelled_by_deadline = False

    @property
    def label(self) -> str:
        return f"{self.instance.workflow.name}#{self.instance.index}"


class Engine:
    """Runs workflow instances; see the module docstring."""

    def __init__(
        self,
        *,
        client: Any,
        clock: Clock,
        bus: EventBus,
        settings: RunSettings,
        price_book_for: Callable[[Workflow], PriceBook] | None = None,
        rng: random.Random | None = None,
        tool_runner_for: Callable[[Workflow], ToolRunner] | None = None,
        journal: RunJournal | None = None,
        reuse: Mapping[tuple[str, int, str], Outcome] | None = None,
        backends: Backends | None = None,
    ) -> None:
        self._client = client
        self._backends: Backends = backends or LocalBackends()
        self._accounts: dict[str, StandingAccount] = {}
        self._journal = journal
        self._reuse = reuse or {}
        self._clock = clock
        self._bus = bus
        self._settings = settings
        self._rng = rng or random.Random(settings.seed)
        self._price_books: dict[int, PriceBook] = {}
        self._price_book_for = price_book_for or (lambda wf: load_price_book(wf.pricing))
        self._usage = Usage()
        self._run_stopped_by_budget = False
        self._stop_signal: str | None = None
        self._main: asyncio.Task[Any] | None = None
        self._agents_total = 0
        self._agents_running = 0
        self._agents_done = 0
        self._calls: CallRunner | None = None
        self._ledger: Ledger | None = None
        self._limiter: Limiter | None = None
        self._latencies = LatencyObserver()
        self._run_started = 0.0
        self._wall_started = 0.0
        self._expected_s: dict[int, float] = {}  # id(agent) -> the plan's seconds per call
        self._mcp: dict[int, McpServers] = {}
        self._tool_runner_for = tool_runner_for or (
            lambda wf: ToolRunner(wf.tools, mcp=self._mcp.get(id(wf)))
        )

    # -- public -----------------------------------------------------------------------------

    def request_stop(self, signal_name: str) -> None:
        """Stop the run: no new work, cancel calls in flight, then write the final events."""
        if self._stop_signal is None:
            self._stop_signal = signal_name
            if self._main is not None and not self._main.done():
                self._main.cancel()

    @property
    def settings(self) -> RunSettings:
        return self._settings

    def run_started_fields(self, instances: Sequence[Instance]) -> dict[str, Any]:
        """What `run.started` says about a run of these instances (a queued run's starter
        writes the same)."""
        workflows = list({id(i.workflow): i.workflow for i in instances}.values())
        return {
            "workflows": [wf.name for wf in workflows],
            "instances": len(instances),
            "mock": self._settings.mock,
            "budget_usd": self._settings.budget_usd,
            "max_concurrency": self._settings.max_concurrency,
            "price_map": self._price_map(workflows),
            "log_path": self._settings.log_path,
            "parent_run_id": self._settings.parent_run_id,
            "spent_before_usd": round(self._settings.spent_before_usd, 10),
            "reused_agents": len(self._reuse),
            **self._settings.provenance,
        }

    def statistics(self) -> EngineStatistics:
        calls = self._calls
        return EngineStatistics(
            agents_total=self._agents_total,
            agents_running=self._agents_running,
            agents_done=self._agents_done,
            calls=calls.statistics() if calls else CallStatistics(0, 0, 0),
            limits=self._limiter.statistics() if self._limiter else None,
            budgets=self._ledger.statistics() if self._ledger else None,
            cost_usd=self._usage.cost_usd,
            input_tokens=self._usage.input_tokens,
            output_tokens=self._usage.output_tokens,
        )

    async def prepare(self, instances: Sequence[Instance]) -> None:
        """One-time set-up before `run()`: token counters and the client's per-provider
        start-up. Done inside the run, it would stall the loop right after the limiter
        admitted the first calls (and count against their timeouts)."""
        if self._stop_signal is not None:
            return
        targets = {(a.model, a.api_base) for i in instances for a in i.workflow.agents}
        if self._counts_exactly(instances):  # else no tokenizer is needed (~70 MB each)
            for model in {model for model, _ in targets}:
                tokenizer_for(model)
        warm_up = getattr(self._client, "warm_up", None)
        if warm_up is None:
            return
        async with self._stoppable():
            await warm_up(sorted(targets, key=lambda t: (t[0], t[1] or "")))

    def _counts_exactly(self, instances: Sequence[Instance]) -> bool:
        """Whether some call of the run will count its prompt with the model's tokenizer:
        a budget at any level or a token limit uses the count (see `CallRunner`)."""
        workflows = {id(i.workflow): i.workflow for i in instances}.values()
        return (
            self._settings.budget_usd is not None
            or any(w.budget is not None for w in workflows)
            or any(a.budget is not None for w in workflows for a in w.agents)
            or has_token_limits(merge_limits(list(workflows)))
        )

    async def run(self, instances: Sequence[Instance]) -> RunResult:
        """Run every instance to the end (or until stopped) and return the outcome.

        Objects alive when the run starts are hidden from the cyclic garbage collector
        until it ends (`agentflow.run.heap`): rescanning them costs a tenth of the CPU
        time of a call-heavy run.
        """
        with frozen_heap():
            try:
                return await self._run(instances)
            finally:
                await self._backends.aclose()

    async def _run(self, instances: Sequence[Instance]) -> RunResult:
        started = self._clock.monotonic()
        workflows = list({id(i.workflow): i.workflow for i in instances}.values())
        limiter_limits = merge_limits(workflows)
        limiter = self._limiter = self._backends.limiter(
            limiter_limits, self._clock, probe=self._settings.probe_limits
        )
        ledger = self._ledger = await self._open_ledger(workflows)
        self._calls = CallRunner(
            client=self._client,
            clock=self._clock,
            bus=self._bus,
            limiter=limiter,
            ledger=ledger,
            max_concurrency=self._settings.max_concurrency,
            rng=self._rng,
            run_budget=(
                Budget(max_usd=self._settings.budget_usd)
                if self._settings.budget_usd is not None  # 0 is a budget: spend nothing
                else None
            ),
            journal=self._journal,
            log_prompts=self._settings.log_prompts,
            max_answer_bytes=self._settings.max_answer_bytes,
            latencies=self._latencies,
            token_limits=has_token_limits(limiter_limits),
        )
        self._agents_total = sum(len(i.workflow.agents) for i in instances)
        graphs = {id(wf): compile_workflow(wf) for wf in workflows}
        paths = {id(wf): self._remaining_paths(wf, graphs[id(wf)]) for wf in workflows}
        wall = self._wall_started = self._clock.wall()
        self._run_started = started
        states = [
            _InstanceState(
                i,
                graphs[id(i.workflow)],
                paths[id(i.workflow)],
                i.workflow.deadline.due(started, wall) if i.workflow.deadline else None,
            )
            for i in instances
        ]
        self._bus.emit("run.started", **self.run_started_fields(instances))
        await self._charge_parents()
        workflow_slots = asyncio.Semaphore(self._settings.max_workflows)
        finished: list[InstanceResult] = []
        # The MCP servers are outside what a stop cancels: they start on first use and stop
        # (with their process groups) when the block ends, however the run ended.
        async with self._mcp_servers(workflows), self._stoppable():
            # A stop requested before the run started (a signal during start-up) starts
            # nothing: every agent is recorded as cancelled below.
            if self._stop_signal is None:
                async with asyncio.TaskGroup() as group:
                    for state in states:
                        group.create_task(self._run_instance(state, workflow_slots, finished))
        return self._finish(states, finished, started)

    @contextlib.asynccontextmanager
    async def _mcp_servers(self, workflows: Sequence[Workflow]) -> AsyncIterator[None]:
        """One pool of MCP servers per workflow that declares some, for this run."""
        with_servers = [wf for wf in workflows if wf.mcp_servers]
        if not with_servers:
            yield
            return
        from agentflow.run.mcp import McpServers

        async with contextlib.AsyncExitStack() as stack:
            for workflow in with_servers:
                pool = await stack.enter_async_context(McpServers(workflow.mcp_servers))
                self._mcp[id(workflow)] = pool
            try:
                yield
            finally:
                self._mcp.clear()

    @contextlib.asynccontextmanager
    async def _stoppable(self) -> AsyncIterator[None]:
        """The body is what `request_stop()` cancels; a stop it asked for ends the body
        quietly (the caller then writes the final events), any other cancel goes on."""
        self._main = asyncio.current_task()
        try:
            yield
        except asyncio.CancelledError:
            if self._stop_signal is None:
                raise
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
        finally:
            self._main = None

    async def _open_ledger(self, workflows: Sequence[Workflow]) -> Ledger:
        """The in-process ledger, joined by the store of standing budgets when a workflow
        has one (`budget: {per: day}`): their accounts are those of the run's start."""
        local = BudgetLedger(
            on_warning=self._on_budget_warning, on_exceeded=self._on_budget_exceeded
        )
        now = dt.datetime.fromtimestamp(self._clock.wall(), dt.UTC)
        for workflow in workflows:
            account = standing_account(workflow, now)
            if account is not None:
                self._accounts[workflow.name] = account
        shared_run = self._settings.run_account
        store = self._backends.standing(self._clock) if self._accounts or shared_run else None
        if store is None:
            return local
        ledger = StandingLedger(
            local,
            store,
            self._clock,
            on_warning=self._on_budget_warning,
            on_exceeded=self._on_budget_exceeded,
        )
        for workflow in workflows:
            account = self._accounts.get(workflow.name)
            if account is not None and workflow.budget is not None:
                ledger.add_account(account, workflow.budget)
        if shared_run is not None and self._settings.budget_usd is not None:
            ledger.add_account(shared_run, Budget(max_usd=self._settings.budget_usd))
        await ledger.refresh()
        return ledger

    async def _charge_parents(self) -> None:
        """A resumed run's budget already holds what its parents spent."""
        spent = self._settings.spent_before_usd
        calls = self._calls
        if spent <= 0 or calls is None or calls.run_scope is None or self._ledger is None:
            return
        try:
            await (await self._ledger.reserve([calls.run_scope], spent)).settle(spent)
        except BudgetExceeded:
            self._run_stopped_by_budget = True

    # -- urgency ----------------------------------------------------------------------------

    def _remaining_paths(self, workflow: Workflow, graph: WorkflowGraph) -> RemainingPaths:
        """Each agent's remaining critical path, weighted by the plan's latency estimates."""
        seconds: dict[str, float] = {}
        for agent in workflow.agents:
            per_call = self._expected_s[id(agent)] = expected_agent_seconds(agent)
            seconds[agent.id] = per_call
        return RemainingPaths(
            graph.levels,
            {agent.id: graph.successors(agent.id) for agent in workflow.agents},
            {agent.id: agent for agent in workflow.agents},
            seconds,
            self._latencies.factor,
        )

    def _urgency(self, state: _InstanceState, agent: Agent) -> Urgency:
        paths = state.paths
        start_by = None
        if state.deadline is not None:
            start_by = state.deadline - paths.expected(agent.id)
        return Urgency(
            priority=state.instance.workflow.priority,
            start_by=start_by,
            path_s=paths.planned(agent.id),
            through_s=paths.through(agent.id),
        )

    # -- instances --------------------------------------------------------------------------

    def _price_map(self, workflows: Sequence[Workflow]) -> dict[str, Any]:
        """Which prices this run's costs use, for run.started: the bundled map and overrides."""
        identity = self._price_book(workflows[0]).identity if workflows else {}
        overrides = {
            price.model: {"input": price.input, "output": price.output}
            for workflow in workflows
            for price in workflow.pricing
        }
        return {
            "litellm_version": identity.get("litellm_version"),
            "sha256": identity.get("price_map_sha256") or "",
            "overrides": overrides,
        }

    def _price_book(self, workflow: Workflow) -> PriceBook:
        book = self._price_books.get(id(workflow))
        if book is None:
            book = self._price_books[id(workflow)] = self._price_book_for(workflow)
        return book

    async def _run_instance(
        self, state: _InstanceState, slots: asyncio.Semaphore, finished: list[InstanceResult]
    ) -> None:
        if state.deadline is None:
            await self._instance_body(state, slots, finished)
            return
        started = self._clock.monotonic()
        async with asyncio.TaskGroup() as group:
            body = group.create_task(self._instance_body(state, slots, finished))
            watcher = group.create_task(self._watch_deadline(state, body))
            try:
                await asyncio.wait((body,))
            finally:
                watcher.cancel()
        if body.cancelled() and state.cancelled_by_deadline:
            detail = "the workflow missed its deadline (on_deadline: cancel)"
            self._skip_unfinished(state, detail)
            duration = self._clock.monotonic() - started
            outputs = self._outputs_after_stop(state)
            finished.append(self._record_instance(state, duration, outputs, []))

    async def _watch_deadline(self, state: _InstanceState, body: asyncio.Task[None]) -> None:
        """At the deadline, if the instance is still running: say so, and with
        `on_deadline: cancel` stop its remaining work."""
        deadline = state.instance.workflow.deadline
        assert state.deadline is not None and deadline is not None
        await self._clock.sleep(max(0.0, state.deadline - self._clock.monotonic()))
        if body.done():
            return
        workflow = state.instance.workflow
        pending = sum(1 for a in workflow.agents if a.id not in state.results)
        self._bus.emit(
            "workflow.deadline_missed",
            workflow=workflow.name,
            instance=state.instance.index,
            deadline_s=round(state.deadline - self._run_started, 6),
            at=_iso(self._wall_started + (state.deadline - self._run_started)),
            on_deadline=deadline.on_deadline,
            pending_agents=pending,
        )
        if deadline.on_deadline == "cancel":
            state.cancelled_by_deadline = True
            body.cancel()

    async def _instance_body(
        self, state: _InstanceState, slots: asyncio.Semaphore, finished: list[InstanceResult]
    ) -> None:
        async with slots:
            workflow = state.instance.workflow
            started = self._clock.monotonic()
            self._bus.emit(
                "workflow.started",
                workflow=workflow.name,
                instance=state.instance.index,
                inputs=dict(state.instance.inputs),
                agents=len(workflow.agents),
            )
            has_tools = workflow.tools or workflow.mcp_servers
            tools = self._tool_runner_for(workflow) if has_tools else None
            async with asyncio.TaskGroup() as group:
                for agent in workflow.agents:
                    if state.remaining[agent.id] == 0:
                        group.create_task(self._run_agent(state, agent, group, tools))
            finished.append(await self._complete_instance(state, self._clock.monotonic() - started))

    async def _complete_instance(self, state: _InstanceState, duration: float) -> InstanceResult:
        outputs, failed_outputs = await self._render_outputs(state)
        return self._record_instance(state, duration, outputs, failed_outputs)

    def _record_instance(
        self,
        state: _InstanceState,
        duration: float,
        outputs: dict[str, Any],
        failed_outputs: list[str],
    ) -> InstanceResult:
        workflow = state.instance.workflow
        status = self._instance_status(state)
        if state.cancelled_by_deadline:
            status = "failed"  # stopped by its own on_deadline: cancel, not by the user
        if failed_outputs and status == "ok":
            status = "partial"  # the agents' work is kept; a result the user asked for is not
        counts = {"completed": 0, "failed": 0, "skipped": 0}
        for result in state.results.values():
            counts[result.status] += 1
        self._bus.emit(
            "workflow.completed",
            workflow=workflow.name,
            instance=state.instance.index,
            status=status,
            outputs=outputs,
            cost_usd=state.usage.cost_or_none(),
            unconfirmed_cost_usd=round(state.usage.unconfirmed_cost_usd, 10),
            duration_s=round(duration, 6),
            agents=counts,
        )
        return InstanceResult(
            workflow=workflow.name,
            instance=state.instance.index,
            status=status,
            outputs=outputs,
            agents=dict(state.results),
            usage=state.usage,
            duration_s=duration,
        )

    def _instance_status(self, state: _InstanceState) -> WorkflowStatus:
        critical_failure = False
        noncritical_failure = False
        budget = state.stopped_by_budget or self._run_stopped_by_budget
        for agent in state.instance.workflow.agents:
            result = state.results.get(agent.id)
            if result is None or result.reason == "cancelled":
                return "cancelled"
            broken = result.status == "failed" or result.reason in _BROKEN_SKIPS
            if result.error_class == "budget" or result.reason == "budget":
                budget = budget or agent.critical
            if broken and agent.critical:
                critical_failure = True
            elif broken:
                noncritical_failure = True
        if budget and (critical_failure or state.stopped_by_budget or self._run_stopped_by_budget):
            return "budget"
        if critical_failure:
            return "failed"
        return "partial" if noncritical_failure else "ok"

    async def _render_outputs(self, state: _InstanceState) -> tuple[dict[str, Any], list[str]]:
        """The workflow's outputs, and the names of those whose template failed although
        every agent it reads completed (an output over a skipped or failed agent is null,
        as documented; any other failure is reported with `workflow.output_failed`)."""
        context = self._context(state)
        outputs: dict[str, Any] = {}
        failed: list[str] = []
        for name, template in state.instance.workflow.outputs:
            try:
                outputs[name] = await evaluate_async(template, context)
            except TemplateRenderError as exc:
                outputs[name] = None
                if all(agent in state.outputs for agent in references(template).agents):
                    failed.append(name)
                    self._bus.emit(
                        "workflow.output_failed",
                        workflow=state.instance.workflow.name,
                        instance=state.instance.index,
                        output=name,
                        error_class=exc.error_class,
                        message=str(exc),
                    )
        return outputs, failed

    def _outputs_after_stop(self, state: _InstanceState) -> dict[str, Any]:
        """Outputs of an instance the run stopped: what renders at once, else null (a heavy
        template must not delay the exit a signal asked for)."""
        context = self._context(state)
        outputs: dict[str, Any] = {}
        for name, template in state.instance.workflow.outputs:
            try:
                outputs[name] = evaluate(template, context, max_steps=INLINE_STEPS)
            except TemplateRenderError:
                outputs[name] = None
        return outputs

    def _context(self, state: _InstanceState) -> dict[str, Any]:
        return {
            "inputs": state.instance.inputs,
            "agents": {agent_id: {"output": value} for agent_id, value in state.outputs.items()},
        }

    # -- agents -----------------------------------------------------------------------------

    async def _run_agent(
        self,
        state: _InstanceState,
        agent: Agent,
        group: asyncio.TaskGroup,
        tools: ToolRunner | None,
    ) -> None:
        usage = Usage()
        try:
            result = await self._execute(state, agent, tools, usage)
        except asyncio.CancelledError:
            # What the agent's calls already cost counts, though the agent never finished.
            cancelled = AgentResult(agent.id, "skipped", reason="cancelled", usage=usage)
            self._record(state, agent, cancelled, emit=False)
            raise
        except Exception as exc:  # a bug must cost one agent, never the run and its log
            result = AgentResult(
                agent.id,
                "failed",
                error_class="internal_error",
                message=f"{type(exc).__name__}: {exc}",
                usage=usage,
            )
        self._record(state, agent, result)
        for successor in state.graph.successors(agent.id):
            state.remaining[successor] -= 1
            if state.remaining[successor] == 0:
                group.create_task(
                    self._run_agent(state, state.instance.workflow.agent(successor), group, tools)
                )

    def _record(
        self, state: _InstanceState, agent: Agent, result: AgentResult, *, emit: bool = True
    ) -> None:
        state.results[agent.id] = result
        state.usage.add(result.usage)
        self._usage.add(result.usage)
        self._agents_done += 1
        if result.status == "completed":
            state.outputs[agent.id] = result.output
        if not emit:
            return
        usage = result.usage
        data: dict[str, Any]
        if result.reused:
            before = self._reuse[(state.instance.workflow.name, state.instance.index, agent.id)]
            reused: dict[str, Any] = {"status": result.status}
            if result.status == "completed":
                reused["output"] = result.output
            else:
                reused.update(error_class=result.error_class, message=result.message)
            self._bus.emit(
                "agent.reused",
                workflow=state.instance.workflow.name,
                instance=state.instance.index,
                agent=agent.id,
                **reused,
                from_run_id=before.run_id,
                original_cost_usd=before.cost_usd,
            )
            return
        if result.status == "skipped":
            data = {"reason": result.reason, "detail": result.message or ""}
        else:
            data = {
                "model": agent.model,
                "cost_usd": usage.cost_or_none(),
                "unconfirmed_cost_usd": round(usage.unconfirmed_cost_usd, 10),
                "input_tokens": usage.input_tokens,
                "output_tokens": usage.output_tokens,
                "calls": usage.calls,
                "duration_s": round(result.duration_s, 6),
                "attempts": usage.calls,
            }
            if result.status == "completed":
                data["output"] = result.output
            else:
                data["error_class"] = result.error_class
                data["message"] = result.message
            fallback = (
                self._calls.answered_by(
                    state.instance.workflow.name, state.instance.index, agent.id
                )
                if self._calls is not None
                else None
            )
            if fallback is not None:
                data["answered_by"] = fallback
        self._bus.emit(
            f"agent.{result.status}",
            workflow=state.instance.workflow.name,
            instance=state.instance.index,
            agent=agent.id,
            **data,
        )

    def _skip_reason(self, state: _InstanceState, agent: Agent) -> tuple[str, str] | None:
        if self._run_stopped_by_budget or state.stopped_by_budget:
            return "budget", "the budget is spent; no new work is started"
        for dep in agent.depends_on:
            result = state.results[dep]
            if result.status == "failed":
                return "dependency_failed", f"'{dep}' failed ({result.error_class})"
            if result.reason in ("dependency_failed", "budget"):
                return result.reason, f"'{dep}' was skipped: {result.message}"
            if result.status == "skipped":
                return "dependency_skipped", f"'{dep}' was skipped ({result.reason})"
        return None

    async def _execute(
        self, state: _InstanceState, agent: Agent, tools: ToolRunner | None, usage: Usage
    ) -> AgentResult:
        reused = self._reuse.get((state.instance.workflow.name, state.instance.index, agent.id))
        if reused is not None and reused.status == "failed":
            return AgentResult(
                agent.id,
                "failed",
                error_class=reused.error_class,
                message=reused.message,
                reused=True,
            )
        if reused is not None:
            return AgentResult(agent.id, "completed", output=reused.output, reused=True)
        skip = self._skip_reason(state, agent)
        if skip is not None:
            return AgentResult(agent.id, "skipped", reason=skip[0], message=skip[1])
        context = self._context(state)
        if agent.when is not None:
            try:
                go = await evaluate_async(agent.when, context)
            except TemplateRenderError as exc:
                return AgentResult(
                    agent.id, "failed", error_class=exc.error_class, message=f"when: {exc}"
                )
            if not _truthy(go):
                return AgentResult(
                    agent.id,
                    "skipped",
                    reason="condition_false",
                    message=f"when: {agent.when.strip()}",
                )
        items: list[Any] | None = None
        if agent.for_each is not None:
            try:
                value = await evaluate_async(agent.for_each, context)
            except TemplateRenderError as exc:
                return AgentResult(
                    agent.id, "failed", error_class=exc.error_class, message=f"for_each: {exc}"
                )
            if not isinstance(value, list | tuple):
                return AgentResult(
                    agent.id,
                    "failed",
                    error_class="template_error",
                    message=f"for_each must give a list, got {type(value).__name__}",
                )
            items = list(value)

        assert self._calls is not None
        workflow = state.instance.workflow
        self._bus.emit(
            "agent.started",
            workflow=workflow.name,
            instance=state.instance.index,
            agent=agent.id,
            model=agent.model,
            items=len(items) if items is not None else None,
        )
        self._agents_running += 1
        started = self._clock.monotonic()
        ctx = AgentContext(
            workflow=workflow,
            instance=state.instance.index,
            agent=agent,
            price_book=self._price_book(workflow),
            tools=tools,
            usage=usage,
            workflow_budget_scope=self._workflow_scope(state),
            agent_budget_scope=f"agent:{state.label}.{agent.id}",
            urgency=self._urgency(state, agent),
            expected_call_s=self._expected_s.get(id(agent), 0.0),
        )
        try:
            if items is None:
                output = await self._calls.run_agent_call(
                    ctx, await self._prompts(agent, context), None
                )
            else:
                output = await self._fan_out(ctx, agent, context, items)
        except BudgetExceeded as exc:
            if self._stop_for_budget(state, agent, exc.scope):
                return self._done(
                    agent, "skipped", started, usage, reason="budget", message=str(exc)
                )
            return self._done(
                agent, "failed", started, usage, error_class="budget", message=str(exc)
            )
        except AgentflowError as exc:
            error_class = getattr(exc, "error_class", "error")
            return self._done(
                agent, "failed", started, usage, error_class=error_class, message=str(exc)
            )
        finally:
            self._agents_running -= 1
        return self._done(agent, "completed", started, usage, output=output)

    def _done(
        self, agent: Agent, status: Any, started: float, usage: Usage, **fields: Any
    ) -> AgentResult:
        return AgentResult(
            agent.id, status, usage=usage, duration_s=self._clock.monotonic() - started, **fields
        )

    async def _prompts(self, agent: Agent, context: Mapping[str, Any]) -> tuple[str | None, str]:
        system = await render_async(agent.system, context) if agent.system else None
        return system, await render_async(agent.prompt, context)

    async def _fan_out(
        self, ctx: AgentContext, agent: Agent, context: Mapping[str, Any], items: list[Any]
    ) -> list[Any]:
        assert self._calls is not None
        calls = self._calls
        outputs: list[Any] = [None] * len(items)
        limit = asyncio.Semaphore(agent.max_parallel or len(items) or 1)

        async def one(index: int, item: Any) -> None:
            async with limit:
                scoped = {**context, "item": item, "index": index}
                outputs[index] = await calls.run_agent_call(
                    ctx, await self._prompts(agent, scoped), index
                )

        try:
            async with asyncio.TaskGroup() as group:
                for index, item in enumerate(items):
                    group.create_task(one(index, item))
        except* AgentflowError as errors:
            # The first failure speaks for the agent; its siblings were cancelled.
            raise errors.exceptions[0] from None
        return outputs

    # -- budgets ----------------------------------------------------------------------------

    def _stop_for_budget(self, state: _InstanceState, agent: Agent, scope: str) -> bool:
        """Apply `on_exceeded` after a refused reservation; True when the agent is skipped."""
        assert self._calls is not None
        if scope == "run":
            self._run_stopped_by_budget = True
            return False
        if self._calls.scope_action(scope) == "skip_noncritical" and not agent.critical:
            return True
        if not scope.startswith("agent:"):
            state.stopped_by_budget = True
        return False

    def _workflow_scope(self, state: _InstanceState) -> str:
        """A standing budget is one account for every instance; otherwise one per instance."""
        account = self._accounts.get(state.instance.workflow.name)
        return account.scope_name if account is not None else f"workflow:{state.label}"

    def _on_budget_warning(self, scope: str, spent: float, limit: float) -> None:
        self._bus.emit(
            "budget.warning",
            scope=scope,
            spent_usd=round(spent, 10),
            limit_usd=limit,
            fraction=round(spent / limit, 6) if limit else 1.0,
        )

    def _on_budget_exceeded(self, scope: str, spent: float, limit: float, requested: float) -> None:
        assert self._calls is not None
        self._bus.emit(
            "budget.exceeded",
            scope=scope,
            spent_usd=round(spent, 10),
            limit_usd=limit,
            requested_usd=round(requested, 10),
            action=self._calls.scope_action(scope),
        )

    def _budget_report(self) -> list[dict[str, Any]]:
        if self._ledger is None:
            return []
        return [
            {
                "scope": scope.name,
                "limit_usd": scope.limit_usd,
                "spent_usd": round(scope.spent_usd, 10),
                "reserved_usd": round(scope.reserved_usd, 10),
            }
            for scope in self._ledger.statistics().scopes
            if scope.limit_usd is not None
        ]

    # -- the end ----------------------------------------------------------------------------

    def _skip_unfinished(self, state: _InstanceState, detail: str) -> None:
        """Record every agent of a stopped instance that did not finish as cancelled."""
        for agent in state.instance.workflow.agents:
            earlier = state.results.get(agent.id)
            if earlier is None or earlier.reason == "cancelled":
                usage = earlier.usage if earlier is not None else Usage()
                state.results[agent.id] = AgentResult(
                    agent.id, "skipped", reason="cancelled", usage=usage
                )
                spent: dict[str, Any] = {}
                if usage.calls:
                    # A cancelled agent's calls were paid for: say what they cost.
                    spent = {
                        "calls": usage.calls,
                        "cost_usd": usage.cost_or_none(),
                        "unconfirmed_cost_usd": round(usage.unconfirmed_cost_usd, 10),
                        "input_tokens": usage.input_tokens,
                        "output_tokens": usage.output_tokens,
                    }
                self._bus.emit(
                    "agent.skipped",
                    workflow=state.instance.workflow.name,
                    instance=state.instance.index,
                    agent=agent.id,
                    reason="cancelled",
                    detail=detail,
                    **spent,
                )

    def _finish(
        self, states: list[_InstanceState], finished: list[InstanceResult], started: float
    ) -> RunResult:
        done = {(r.workflow, r.instance) for r in finished}
        results = list(finished)
        for state in states:
            key = (state.instance.workflow.name, state.instance.index)
            if key in done:
                continue
            self._skip_unfinished(state, f"the run was stopped by {self._stop_signal}")
            outputs = self._outputs_after_stop(state)
            results.append(
                self._record_instance(state, self._clock.monotonic() - started, outputs, [])
            )
        results.sort(key=lambda r: (r.workflow, r.instance))
        status = worst_status([r.status for r in results])
        exit_code = EXIT_CODES[status]
        if self._stop_signal is not None:
            status = "cancelled"
            exit_code = SIGNAL_EXIT_CODES.get(self._stop_signal, 130)
            self._bus.emit("run.cancelled", signal=self._stop_signal, reason="stopped by signal")
        duration = self._clock.monotonic() - started
        counts = {"completed": 0, "failed": 0, "skipped": 0}
        workflows = {"ok": 0, "failed": 0, "partial": 0, "budget": 0, "cancelled": 0}
        for result in results:
            workflows[result.status] += 1
            for agent_result in result.agents.values():
                counts[agent_result.status] += 1
        self._bus.emit(
            "run.completed",
            status=status,
            exit_code=exit_code,
            duration_s=round(duration, 6),
            totals={
                "cost_usd": round(self._usage.cost_usd, 10),
                "unconfirmed_cost_usd": round(self._usage.unconfirmed_cost_usd, 10),
                "unconfirmed_calls": self._usage.unconfirmed_calls,
                "unknown_cost_calls": self._usage.unknown_cost_calls,
                "input_tokens": self._usage.input_tokens,
                "output_tokens": self._usage.output_tokens,
                "calls": self._usage.calls,
                "retries": self._usage.retries,
                "replayed": self._usage.replayed,
                "cached": self._usage.cached,
                "agents": counts,
                "workflows": workflows,
            },
            budgets=self._budget_report(),
        )
        return RunResult(
            run_id=self._settings.run_id,
            status=status,
            exit_code=exit_code,
            instances=tuple(results),
            usage=self._usage,
            duration_s=duration,
            log_path=self._settings.log_path,
            signal=self._stop_signal,
        )


def _iso(epoch: float) -> str:
    """Epoch seconds as ISO 8601 UTC with milliseconds, as the log writes times."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch))
    return f"{stamp}.{int(epoch % 1 * 1000):03d}Z"


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() not in ("", "false", "no", "0", "none", "null")
    return bool(value)


def new_run_id(now: float | None = None) -> str:
    """A sortable, readable run id: UTC time plus a random suffix."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now if now is not None else time.time()))
    return f"{stamp}-{random.getrandbits(24):06x}"
