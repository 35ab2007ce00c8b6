"""One agent's model calls: the tool loop, retries, rate limits and budget reservations.

For every attempt: take an in-flight slot, wait for the rate limiter, reserve the
worst-case cost (prompt tokens + max_tokens at the model's price) in every budget scope,
call the model under the agent's timeout, then settle the actual cost and tokens. A
failure the provider answered (an error status) releases the reservation (in `finally`);
a call that was sent and never answered (timeout, cancellation, connection lost) keeps
it as spent, "unconfirmed cost" (`llm.abandoned`), since the provider may bill it. A
retryable failure waits its backoff (or the provider's Retry-After, which pauses the
model's key for everybody on a 429).
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import itertools
import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from agentflow.errors import LLMError, LLMTimeout, OutputInvalid, RateLimited, ToolLoopExceeded
from agentflow.events.bus import EventBus
from agentflow.llm.types import (
    Delivery,
    LLMRequest,
    LLMResponse,
    Message,
    ToolCall,
    ToolSpec,
    stop_watching,
    watch_delivery,
)
from agentflow.model.types import Agent, Budget, Workflow
from agentflow.plan.pricing import PriceBook
from agentflow.plan.tokens import bound_messages, bound_tokens, count_messages, count_tokens
from agentflow.run.adaptive import Adjustment
from agentflow.run.budget import BudgetScope, Held, Ledger
from agentflow.run.clock import Clock
from agentflow.run.limits import Limiter, WaitInfo
from agentflow.run.output import json_instruction, parse_output, repair_request
from agentflow.run.priority import NOT_URGENT, LatencyObserver, PrioritySlots, Urgency
from agentflow.run.results import Usage
from agentflow.run.retry import MAX_RETRY_AFTER, backoff_delay, should_retry
from agentflow.run.tools import ToolRunner
from agentflow.state.journal import RunJournal
from agentflow.state.store import Journaled

EVENT_TEXT_LIMIT = 2000
DEFAULT_429_PAUSE_S = 1.0
MAX_HINTED_WAITS = 10
"""How many 429s that said when to come back one call may wait out without spending an
attempt; past that they count like any other retry."""
DEFAULT_MAX_ANSWER_BYTES = 32 * 1024 * 1024
"""The most of one answer kept in memory (and so in outputs): the rest is cut, and the
`llm.response` says so. The log line holding an answer is bounded further by the sink."""


@dataclass(frozen=True, slots=True)
class AgentContext:
    """What one agent's calls need to know about where they run."""

    workflow: Workflow
    instance: int
    agent: Agent
    price_book: PriceBook
    tools: ToolRunner | None
    usage: Usage
    workflow_budget_scope: str
    agent_budget_scope: str
    # where the agent's calls stand among waiting calls (limits and in-flight slots)
    urgency: Urgency = NOT_URGENT
    # the plan's expected seconds of one call, compared with observed latencies
    expected_call_s: float = 0.0


@dataclass(frozen=True, slots=True)
class CallStatistics:
    """Calls in flight, waiting for a slot, and waiting for a rate limit."""

    in_flight: int
    queued: int
    rate_limited: int
    # (priority, calls waiting for an in-flight slot), highest priority first
    queued_by_priority: tuple[tuple[int, int], ...] = ()


def first_messages(agent: Agent, system: str | None, prompt: str) -> tuple[Message, ...]:
    """The messages that open an agent's conversation: its rendered system prompt (with the
    JSON instruction its output format asks for) and its rendered prompt."""
    instruction = json_instruction(agent.output)
    if instruction:
        system = f"{system}\n\n{instruction}" if system else instruction
    opening = (Message("system", system),) if system else ()
    return (*opening, Message("user", prompt))


def tool_specs(agent: Agent, workflow: Workflow) -> tuple[ToolSpec, ...]:
    """The tools offered to the model on every call of `agent`."""
    return tuple(
        ToolSpec(t.name, t.description, t.parameters)
        for t in workflow.tools
        if t.name in agent.tools
    )


def build_request(
    agent: Agent, messages: tuple[Message, ...], specs: tuple[ToolSpec, ...]
) -> LLMRequest:
    """The request one call of `agent` sends (also what its fingerprint is made of)."""
    return LLMRequest(
        model=agent.model,
        messages=messages,
        max_tokens=agent.max_tokens,
        timeout=agent.timeout,
        temperature=agent.temperature,
        api_base=agent.api_base,
        api_key_env=agent.api_key_env,
        tools=specs,
        response_schema=agent.output.schema if agent.output.format == "json" else None,
        json_mode=agent.output.format == "json" and agent.output.schema is None,
    )


def _nothing() -> None:
    return None


def priced(book: PriceBook, model: str, response: LLMResponse) -> tuple[float | None, str | None]:
    """The cost of an answer and where it came from: `price_map` (LiteLLM's bundled
    prices), `pricing` (the workflow's `pricing:` or `--pricing FILE`), or `provider`
    (what the provider or a gateway reported, used only when no price is known)."""
    price = book.lookup(model)
    if price is not None:
        cost = response.input_tokens * price.input_per_token
        cost += response.output_tokens * price.output_per_token
        return cost, "price_map" if price.source.startswith("litellm:") else "pricing"
    if response.provider_cost_usd is not None:
        return response.provider_cost_usd, "provider"
    return None, None


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def _clip(text: str) -> str:
    return text if len(text) <= EVENT_TEXT_LIMIT else text[: EVENT_TEXT_LIMIT - 1] + "…"


class CallRunner:
    """Makes the model calls of every agent in a run; shared by all instances."""

    def __init__(
        self,
        *,
        client: Any,
        clock: Clock,
        bus: EventBus,
        limiter: Limiter,
        ledger: Ledger,
        max_concurrency: int,
        rng: random.Random,
        run_budget: Budget | None,
        journal: RunJournal | None = None,
        log_prompts: bool = False,
        max_answer_bytes: int | None = DEFAULT_MAX_ANSWER_BYTES,
        latencies: LatencyObserver | None = None,
        token_limits: bool = True,
    ) -> None:
        self._client = client
        # Whether some limit counts tokens: then every prompt is counted exactly.
        self._token_limits = token_limits
        self._journal = journal
        self._log_prompts = log_prompts
        self._max_answer = max_answer_bytes
        self._clock = clock
        self._bus = bus
        self._limiter = limiter
        self._ledger = ledger
        self._slots = PrioritySlots(max_concurrency, clock.monotonic)
        self._answered_by: dict[tuple[str, int, str], str] = {}
        self._latencies = latencies
        self._rng = rng
        self._budgets: dict[str, Budget] = {}
        self._scopes: dict[str, BudgetScope] = {}
        self._run_scope = self._scope("run", run_budget) if run_budget else None
        self._budget_event = asyncio.Event()
        self._in_flight = 0
        self._queued = 0
        self._rate_limited = 0

    def _emit(self, ctx: AgentContext, event: str, **data: Any) -> None:
        self._bus.emit(
            event, workflow=ctx.workflow.name, instance=ctx.instance, agent=ctx.agent.id, **data
        )

    @property
    def run_scope(self) -> BudgetScope | None:
        """The run-wide budget scope, when the run has a budget."""
        return self._run_scope

    def statistics(self) -> CallStatistics:
        return CallStatistics(
            self._in_flight,
            self._queued,
            self._rate_limited,
            self._slots.statistics().waiting_by_priority,
        )

    def scope_action(self, scope: str) -> str:
        """The `on_exceeded` of a budget scope ("fail" or "skip_noncritical")."""
        budget = self._budgets.get(scope)
        return budget.on_exceeded if budget else "fail"

    # -- budget scopes ----------------------------------------------------------------------

    def _scope(self, name: str, budget: Budget) -> BudgetScope:
        scope = self._scopes.get(name)
        if scope is None:
            scope = self._scopes[name] = self._ledger.scope(name, budget)
            self._budgets[name] = budget
        return scope

    def _scopes_for(self, ctx: AgentContext) -> list[BudgetScope]:
        scopes = [self._run_scope] if self._run_scope else []
        if ctx.workflow.budget is not None:
            scopes.append(self._scope(ctx.workflow_budget_scope, ctx.workflow.budget))
        if ctx.agent.budget is not None:
            scopes.append(self._scope(ctx.agent_budget_scope, ctx.agent.budget))
        return scopes

    async def _reserve(
        self, ctx: AgentContext, scopes: Sequence[BudgetScope], amount: float, index: int | None
    ) -> Held:
        """Reserve `amount` in every scope; while only other calls' outstanding reservations
        stand in the way, wait for them to settle (they usually cost less than reserved)
        instead of giving up on money that is not spent. A call that waits says so once
        (`budget.wait`), here or in a shared ledger. Raises `BudgetExceeded`."""
        waited = False

        def on_wait(scope: str) -> None:
            nonlocal waited
            if not waited:
                waited = True
                self._emit(
                    ctx,
                    "budget.wait",
                    scope=scope,
                    requested_usd=_round(amount),
                    model=ctx.agent.model,
                    index=index,
                )

        while (blocking := self._blocked_by_reservations(scopes, amount)) is not None:
            on_wait(blocking)
            moved = self._budget_event
            await moved.wait()
        return await self._ledger.reserve(scopes, amount, on_wait=on_wait)

    @staticmethod
    def _blocked_by_reservations(scopes: Sequence[BudgetScope], amount: float) -> str | None:
        """The scope whose outstanding reservations alone keep `amount` out, if any."""
        blocked = None
        for scope in scopes:
            stats = scope.statistics()
            if stats.limit_usd is None:
                continue
            if stats.spent_usd + stats.reserved_usd + amount <= stats.limit_usd:
                continue
            if stats.reserved_usd <= 0 or stats.spent_usd + amount > stats.limit_usd:
                return None  # no settling can make room: let reserve() refuse it
            blocked = blocked or scope.name
        return blocked

    def _budget_moved(self) -> None:
        self._budget_event.set()
        self._budget_event = asyncio.Event()

    # -- the agent's conversation -----------------------------------------------------------

    async def run_agent_call(
        self, ctx: AgentContext, prompts: tuple[str | None, str], index: int | None
    ) -> Any:
        """Run one conversation (one item of a fan-out) to its final, parsed answer.

        Every request of the conversation has its own `round`: tool rounds and repairs (an
        answer that did not parse, asked again with the error, `output.repair` times).
        """
        agent = ctx.agent
        messages = list(first_messages(agent, *prompts))
        specs = tool_specs(agent, ctx.workflow)
        if ctx.tools is not None:
            # MCP tools are known once their server runs: it starts here, on first use.
            mcp = await ctx.tools.mcp_tools(agent)
            specs += tuple(ToolSpec(t.name, t.description, t.parameters) for t in mcp)
        offered = tuple(spec.name for spec in specs)
        tool_rounds = repairs = 0
        fallbacks = list(agent.fallbacks)
        for round_no in itertools.count():
            while True:
                try:
                    response, keep = await self._call(ctx, tuple(messages), specs, round_no, index)
                    break
                except LLMError as error:
                    if not fallbacks or error.error_class not in agent.fallback_on:
                        raise
                    ctx = self._fall_back(ctx, fallbacks.pop(0), error, round_no, index)
            if not response.tool_calls:
                try:
                    output = parse_output(agent.output, response.content)
                except OutputInvalid as error:
                    if repairs >= agent.output.repair or agent.output.format != "json":
                        raise
                    repairs += 1
                    self._emit(
                        ctx,
                        "llm.repair",
                        model=agent.model,
                        round=round_no,
                        index=index,
                        repair=repairs,
                        of=agent.output.repair,
                        error_class=error.error_class,
                        message=_clip(str(error)),
                    )
                    messages.append(Message("assistant", response.content))
                    messages.append(Message("user", repair_request(agent.output, error)))
                    continue
                keep()  # only an answer that parsed is worth caching
                return output
            keep()
            if tool_rounds == agent.max_tool_rounds:
                raise ToolLoopExceeded(
                    f"the model still called tools after {agent.max_tool_rounds} rounds "
                    f"(max_tool_rounds); raise it or make the prompt more direct"
                )
            tool_rounds += 1
            messages.append(Message("assistant", response.content, tool_calls=response.tool_calls))
            messages.extend(
                await self._run_tools(ctx, response.tool_calls, round_no, index, offered)
            )
        raise AssertionError("unreachable")  # the loop returns or raises

    def _fall_back(
        self, ctx: AgentContext, model: str, error: LLMError, round_no: int, index: int | None
    ) -> AgentContext:
        """The context of the agent's calls on its next fallback model, from now on in this
        conversation (the model that failed is not asked again)."""
        self._emit(
            ctx,
            "llm.fallback",
            model=ctx.agent.model,
            to_model=model,
            error_class=error.error_class,
            message=_clip(str(error)),
            round=round_no,
            index=index,
        )
        key = (ctx.workflow.name, ctx.instance, ctx.agent.id)
        self._answered_by[key] = model
        return dataclasses.replace(ctx, agent=dataclasses.replace(ctx.agent, model=model))

    def answered_by(self, workflow: str, instance: int, agent_id: str) -> str | None:
        """The fallback model the agent's last calls went to, or None (its own model)."""
        return self._answered_by.get((workflow, instance, agent_id))

    async def _run_tools(
        self,
        ctx: AgentContext,
        calls: Sequence[ToolCall],
        round_no: int,
        index: int | None,
        offered: Sequence[str],
    ) -> list[Message]:
        results: list[Message | None] = [None] * len(calls)

        async def one(i: int, call: ToolCall) -> None:
            self._emit(
                ctx,
                "tool.call",
                tool=call.name,
                call_id=call.id,
                arguments=_clip(call.arguments),
                round=round_no,
                index=index,
            )
            if ctx.tools is None or call.name not in offered:
                ok, content, duration = (
                    False,
                    f"unknown tool '{call.name}'; available: {', '.join(offered) or 'none'}",
                    0.0,
                )
            else:
                ok, content, duration = await self._tool_call(ctx, call, round_no, index)
            self._emit(
                ctx,
                "tool.result",
                tool=call.name,
                call_id=call.id,
                ok=ok,
                duration_s=round(duration, 6),
                output=_clip(content),
                index=index,
            )
            text = content if ok else f"ERROR: {content}"
            results[i] = Message("tool", text, tool_call_id=call.id, name=call.name)

        async with asyncio.TaskGroup() as group:
            for i, call in enumerate(calls):
                group.create_task(one(i, call))
        return [m for m in results if m is not None]

    async def _tool_call(
        self, ctx: AgentContext, call: ToolCall, round_no: int, index: int | None
    ) -> tuple[bool, str, float]:
        """Run one tool call; a side-effecting tool's result is journaled, and replayed
        instead of run again when an earlier run of this lineage completed it."""
        assert ctx.tools is not None
        journal = self._journal
        tool = next((t for t in ctx.workflow.tools if t.name == call.name), None)
        durable = journal is not None and tool is not None and tool.side_effects
        if durable:
            assert journal is not None
            place = journal.place(ctx.workflow.name, ctx.instance, ctx.agent.id, index, round_no)
            found = journal.replayed_tool(place, call.name, call.arguments)
            if found is not None:
                return found[0], found[1], 0.0
        outcome = await ctx.tools.call(call.name, call.arguments)
        if durable:
            assert journal is not None
            await journal.record_tool(place, call.name, call.arguments, outcome.ok, outcome.content)
        return outcome.ok, outcome.content, outcome.duration_s

    # -- --log-prompts ----------------------------------------------------------------------

    def _prompt_fields(self, request: LLMRequest) -> dict[str, Any]:
        """With --log-prompts, the messages sent (the log redacts secrets in them)."""
        if not self._log_prompts:
            return {}
        return {
            "messages": [
                {
                    "role": m.role,
                    "content": m.content,
                    **(
                        {"tool_calls": [[c.name, c.arguments] for c in m.tool_calls]}
                        if m.tool_calls
                        else {}
                    ),
                }
                for m in request.messages
            ]
        }

    def _answer_fields(self, response: LLMResponse) -> dict[str, Any]:
        """With --log-prompts, the raw answer: its text and the tool calls it asked for."""
        if not self._log_prompts:
            return {}
        return {
            "content": response.content,
            "requested_tools": [[c.name, c.arguments] for c in response.tool_calls],
        }

    # -- answers from the journal or the cache ----------------------------------------------

    def _reused(
        self,
        ctx: AgentContext,
        found: Journaled,
        source: str,
        round_no: int,
        index: int | None,
    ) -> LLMResponse:
        """Report an answer that costs nothing now: replayed from the journal or cached."""
        response = found.response
        if source == "replayed":
            ctx.usage.replayed += 1
        else:
            ctx.usage.cached += 1
        self._emit(
            ctx,
            "llm.response",
            model=ctx.agent.model,
            attempt=0,
            round=round_no,
            index=index,
            input_tokens=response.input_tokens,
            output_tokens=response.output_tokens,
            cost_usd=0.0,
            latency_s=0.0,
            finish_reason=response.finish_reason,
            tool_calls=len(response.tool_calls),
            **{source: True},
            original_cost_usd=found.cost_usd,
        )
        return response

    # -- one call, with retries -------------------------------------------------------------

    def _estimate_prompt_tokens(self, request: LLMRequest, exact: bool) -> int:
        """The prompt's tokens: counted by the model's tokenizer when a budget or a token
        limit decides with the number (`exact`), else a bound that loads no tokenizer.
        Tool definitions and the output schema travel with every call and count too, as
        `plan` counts them (their JSON text)."""
        model, messages = request.model, request.messages
        pairs = [(m.role, m.content or "") for m in messages]
        for m in messages:
            for call in m.tool_calls:
                pairs.append(("assistant", call.name + call.arguments))
        tokens = count_messages(model, pairs) if exact else bound_messages(model, pairs)
        extra = [
            json.dumps(
                {
                    "type": "function",
                    "function": {
                        "name": s.name,
                        "description": s.description,
                        "parameters": s.parameters,
                    },
                },
                default=dict,
            )
            for s in request.tools
        ]
        if request.response_schema is not None:
            extra.append(json.dumps(request.response_schema, default=dict))
        count = count_tokens if exact else bound_tokens
        return tokens + sum(count(model, text) for text in extra)

    async def _call(
        self,
        ctx: AgentContext,
        messages: tuple[Message, ...],
        specs: tuple[ToolSpec, ...],
        round_no: int,
        index: int | None,
    ) -> tuple[LLMResponse, Callable[[], None]]:
        """The answer to one request, and a function that caches it once it proved good."""
        agent = ctx.agent
        request = build_request(agent, messages, specs)
        journal = self._journal
        request_fp = None
        if journal is not None:
            request_fp = journal.fingerprint(request)
            place = journal.place(ctx.workflow.name, ctx.instance, agent.id, index, round_no)
            found = journal.replayed(place, request_fp)
            if found is not None:
                return self._reused(ctx, found, "replayed", round_no, index), _nothing
            found = journal.cached(agent, request_fp)
            if found is not None:
                return self._reused(ctx, found, "cached", round_no, index), _nothing
        scopes = self._scopes_for(ctx)
        prompt_tokens = self._estimate_prompt_tokens(
            request, exact=bool(scopes) or self._token_limits
        )
        attempt = 1
        hinted_waits = 0
        while True:
            try:
                response, cost = await self._attempt(
                    ctx, request, prompt_tokens, scopes, attempt, round_no, index, request_fp
                )
                if journal is None or request_fp is None:
                    return response, _nothing
                return response, functools.partial(journal.keep, agent, request_fp, response, cost)
            except LLMError as error:
                hint = error.retry_after
                if isinstance(error, RateLimited):
                    pause = min(hint, MAX_RETRY_AFTER) if hint is not None else DEFAULT_429_PAUSE_S
                    self._limiter.pause(agent.model, pause)
                    if hint is not None and hinted_waits < MAX_HINTED_WAITS:
                        # The provider said when to come back: its schedule, not a failure.
                        # The key is paused until then for everybody; the call waits for
                        # it in the limiter's queue without spending an attempt.
                        hinted_waits += 1
                        ctx.usage.retries += 1
                        self._retry_event(ctx, attempt, pause, error, index, counted=False)
                        continue
                if not should_retry(error, attempt, agent.retry):
                    raise
                delay = backoff_delay(agent.retry, attempt, self._rng, error.retry_after)
                ctx.usage.retries += 1
                self._retry_event(ctx, attempt, delay, error, index, counted=True)
                await self._clock.sleep(delay)
                attempt += 1

    def _retry_event(
        self,
        ctx: AgentContext,
        attempt: int,
        delay: float,
        error: LLMError,
        index: int | None,
        *,
        counted: bool,
    ) -> None:
        self._emit(
            ctx,
            "llm.retry",
            model=ctx.agent.model,
            attempt=attempt,
            delay_s=round(delay, 6),
            error_class=error.error_class,
            message=_clip(str(error)),
            index=index,
            **({} if counted else {"counted": False}),
        )

    async def _attempt(
        self,
        ctx: AgentContext,
        request: LLMRequest,
        prompt_tokens: int,
        scopes: Sequence[BudgetScope],
        attempt: int,
        round_no: int,
        index: int | None,
        request_fp: str | None = None,
    ) -> tuple[LLMResponse, float | None]:
        agent = ctx.agent
        worst = ctx.price_book.cost(agent.model, prompt_tokens, agent.max_tokens)
        reservation = await self._reserve(ctx, scopes, worst or 0.0, index) if scopes else None
        settled = False
        try:
            self._queued += 1
            try:
                await self._slots.acquire(ctx.urgency)
            finally:
                self._queued -= 1
            try:
                waited = False

                def on_wait(info: WaitInfo) -> None:
                    nonlocal waited
                    waited = True
                    self._rate_limited += 1
                    self._emit(
                        ctx,
                        "ratelimit.wait",
                        key=info.key,
                        reason=info.reason,
                        expected_wait_s=_round(info.expected_wait_s),
                        model=agent.model,
                    )

                # Let every task made ready with this one finish its own preparation first:
                # otherwise a call admitted now waits behind that work (hundreds of agents
                # starting together) and reaches the provider late, bunched with calls the
                # limiter admitted after it, and the declared limit breaks on the wire.
                await asyncio.sleep(0)
                try:
                    permit = await self._limiter.acquire(
                        agent.model,
                        prompt_tokens + agent.max_tokens,
                        on_wait,
                        urgency=ctx.urgency,
                    )
                finally:
                    if waited:
                        self._rate_limited -= 1
                call = {"attempt": attempt, "round": round_no, "index": index}
                try:
                    self._emit(
                        ctx,
                        "llm.request",
                        model=agent.model,
                        **call,
                        prompt_tokens_est=prompt_tokens,
                        max_tokens=agent.max_tokens,
                        worst_cost_usd=round(worst, 10) if worst is not None else None,
                        **self._prompt_fields(request),
                    )
                    self._in_flight += 1
                    ctx.usage.calls += 1
                    started = self._clock.monotonic()
                    delivery, watching = watch_delivery()
                    try:
                        async with asyncio.timeout(agent.timeout):
                            response: LLMResponse = await self._client.complete(request)
                    except TimeoutError:
                        permit.settle(prompt_tokens)
                        settled = await self._abandon(
                            ctx, reservation, worst, "timeout", started, call, delivery
                        )
                        raise LLMTimeout(f"no answer within {agent.timeout:g}s (timeout)") from None
                    except LLMError as error:
                        permit.settle(prompt_tokens)
                        throttled = isinstance(error, RateLimited)
                        if throttled or error.rate_limits is not None:
                            self._adjusted(
                                ctx, permit.report(error.rate_limits, throttled=throttled)
                            )
                        if error.unanswered:
                            settled = await self._abandon(
                                ctx, reservation, worst, error.error_class, started, call, delivery
                            )
                        raise
                    except asyncio.CancelledError:
                        settled = await self._abandon(
                            ctx, reservation, worst, "cancelled", started, call, delivery
                        )
                        raise
                    finally:
                        stop_watching(watching)
                        self._in_flight -= 1
                    latency = self._clock.monotonic() - started
                    if self._latencies is not None:
                        self._latencies.observe(agent.model, ctx.expected_call_s, latency)
                    permit.settle(response.input_tokens + response.output_tokens)
                    self._adjusted(ctx, permit.report(response.rate_limits, throttled=False))
                finally:
                    permit.release()
            finally:
                self._slots.release()
            response, cut_from = self._bounded(response)
            cost, cost_source = priced(ctx.price_book, agent.model, response)
            if reservation is not None:
                await reservation.settle(cost or 0.0)
                settled = True
                self._budget_moved()
            usage = ctx.usage
            usage.answered += 1
            usage.input_tokens += response.input_tokens
            usage.output_tokens += response.output_tokens
            if cost is None:
                usage.unknown_cost_calls += 1
            else:
                usage.cost_usd += cost
            answered = functools.partial(
                self._emit,
                ctx,
                "llm.response",
                model=agent.model,
                attempt=attempt,
                round=round_no,
                index=index,
                input_tokens=response.input_tokens,
                output_tokens=response.output_tokens,
                cost_usd=round(cost, 10) if cost is not None else None,
                cost_source=cost_source,
                latency_s=round(latency, 6),
                finish_reason=response.finish_reason,
                tool_calls=len(response.tool_calls),
                **self._answer_fields(response),
                **({"truncated": True, "original_bytes": cut_from} if cut_from else {}),
            )
            if self._journal is not None and request_fp is not None:
                # On disk before the event that reports it: a crash may lose the log line,
                # never the paid answer.
                place = self._journal.place(
                    ctx.workflow.name, ctx.instance, agent.id, index, round_no
                )
                try:
                    await self._journal.record(place, request_fp, response, cost)
                except asyncio.CancelledError:
                    answered()  # a stop while the commit ran: the answer is paid and kept
                    raise
            answered()
            return response, cost
        finally:
            if reservation is not None and not settled:
                await reservation.release()
                self._budget_moved()

    def _adjusted(self, ctx: AgentContext, adjustment: Adjustment | None) -> None:
        """Report a change of the model key's effective limits (adaptive limits)."""
        if adjustment is None:
            return
        self._emit(
            ctx,
            "ratelimit.adjusted",
            model=ctx.agent.model,
            reason=adjustment.reason,
            rpm=adjustment.rpm,
            tpm=adjustment.tpm,
            max_concurrent=adjustment.max_concurrent,
            provider_rpm=adjustment.provider_rpm,
            provider_tpm=adjustment.provider_tpm,
        )

    def _bounded(self, response: LLMResponse) -> tuple[LLMResponse, int | None]:
        """`response` with its text cut to `max_answer_bytes`, and the size it had if cut."""
        content, limit = response.content, self._max_answer
        if content is None or limit is None or len(content) * 4 <= limit:
            return response, None
        raw = content.encode("utf-8", "surrogatepass")
        if len(raw) <= limit:
            return response, None
        kept = raw[:limit].decode("utf-8", "ignore")
        return dataclasses.replace(response, content=kept), len(raw)

    async def _abandon(
        self,
        ctx: AgentContext,
        reservation: Held | None,
        worst: float | None,
        reason: str,
        started: float,
        call: dict[str, Any],
        delivery: Delivery,
    ) -> bool:
        """Record a call that got no answer; returns True when its reservation was settled.

        A call that went out may have been generated (and billed) though nobody waited for
        the answer, and nothing proves it cost less than the worst case: the reservation
        stays spent in every budget, and the agent's usage keeps it as unconfirmed cost.
        A call its client saw never leave (stopped while it waited to be sent) cost nothing:
        it is not counted as sent, and its reservation is released.
        """
        sent = delivery.sent or not delivery.known
        usage = ctx.usage
        if sent:
            if reservation is not None:
                await reservation.settle(worst or 0.0)
                self._budget_moved()
            usage.unconfirmed_calls += 1
            if worst is not None:
                usage.unconfirmed_cost_usd += worst
        else:
            usage.calls -= 1
        unconfirmed = (worst if sent else 0.0) if worst is not None else None
        self._emit(
            ctx,
            "llm.abandoned",
            model=ctx.agent.model,
            **call,
            reason=reason,
            sent=sent,
            unconfirmed_cost_usd=round(unconfirmed, 10) if unconfirmed is not None else None,
            waited_s=round(self._clock.monotonic() - started, 6),
        )
        return sent
