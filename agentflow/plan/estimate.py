"""Estimate a workflow before it runs: calls, tokens, cost, wall time and budget verdict.

Every rule and default is documented in docs/plan.md; the constants below carry the numbers.
Three scenarios are estimated per agent:

- low: the model answers directly (no tool round) with `LOW_OUTPUT_FRACTION` of max_tokens;
  upstream outputs referenced by the prompt are that size too.
- expected: one tool round when the agent has tools; `EXPECTED_OUTPUT_FRACTION` of
  max_tokens, or for `output.format: json` with a schema, the size of a sample instance of
  the schema (clamped to [low, max_tokens]).
- worst: `max_tool_rounds` tool rounds, each re-sending the growing conversation, and
  max_tokens of output; upstream outputs referenced by the prompt are their max_tokens.

Retries are not in the three scenarios: `worst_with_retries` is the worst case with every
call attempted `retry.max_attempts` times. `when:` conditions are assumed true.

    >>> plan = make_plan(workflow, {"role": "SRE"}, load_price_book(workflow.pricing))
    >>> plan.totals.cost.expected, plan.budget.verdict
"""

from __future__ import annotations

import fnmatch
import json
import math
import re
import time as _time_module
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Final, Generic, Literal, TypeVar

from agentflow.errors import TemplateRenderError
from agentflow.graph.compile import WorkflowGraph, compile_workflow
from agentflow.model.types import Agent, FrozenDict, Limit, Workflow, freeze, thaw
from agentflow.plan.pricing import ModelPrice, PriceBook
from agentflow.plan.tokens import count_messages, count_tokens, tokenizer_for
from agentflow.templates import (
    TemplateSyntax,
    as_text,
    evaluate,
    references,
    render,
    simple_lookups,
)

LOW_OUTPUT_FRACTION: Final = 0.10
EXPECTED_OUTPUT_FRACTION: Final = 0.40
# A value the plan cannot see (an input not given, an item of an unknown list) is counted as
# this many tokens wherever a template uses it.
UNKNOWN_VALUE_TOKENS: Final = 100
# Each tool round adds the model's tool call (output) and the tool's result (input) to the
# conversation, which is re-sent in full on the next call.
TOOL_CALL_TOKENS: Final = 50
TOOL_RESULT_TOKENS: Final = 200
REPAIR_ERROR_TOKENS: Final = 120  # the repair request: the validation error and the ask
# A fan-out's prompts are rendered for at most this many items; the rest are extrapolated.
FAN_OUT_SAMPLE: Final = 20
# Sample instance of an output schema: strings of this many words, arrays of this many items.
SCHEMA_STRING_WORDS: Final = 12
SCHEMA_ARRAY_ITEMS: Final = 3

Verdict = Literal["ok", "warning", "over"]
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class LatencyModel:
    """Expected seconds of one call: `base_seconds + per_output_token * output tokens`."""

    base_seconds: float
    per_output_token: float

    def seconds(self, output_tokens: int) -> float:
        return self.base_seconds + self.per_output_token * output_tokens


# Default latency per model family, first match on the name without its provider prefix.
# Rough medians of public measurements; override with `latency={"glob": seconds_per_call}`.
LATENCY_FAMILIES: Final[tuple[tuple[str, re.Pattern[str], LatencyModel], ...]] = (
    (
        "local",
        re.compile(r"^(?:ollama|ollama_chat|hosted_vllm|lm_studio|llamafile)/"),
        LatencyModel(0.2, 0.02),
    ),
    ("reasoning", re.compile(r"(?:^|/)(?:o1|o3|o4|gpt-5)"), LatencyModel(2.0, 0.015)),
    ("small", re.compile(r"mini|nano|haiku|flash|lite|small"), LatencyModel(0.4, 0.006)),
)
DEFAULT_LATENCY: Final = LatencyModel(0.8, 0.015)

_SENTINEL = re.compile("\ue000([^\ue001]*)\ue001")


@dataclass(frozen=True, slots=True)
class Estimate(Generic[T]):
    """One quantity in the low, expected and worst scenario."""

    low: T
    expected: T
    worst: T


@dataclass(frozen=True, slots=True)
class Usage:
    """Calls, tokens and cost of one scenario (cost None when a price is unknown)."""

    calls: int
    input_tokens: int
    output_tokens: int
    cost: float | None


@dataclass(frozen=True, slots=True)
class FanOut:
    """How many instances of an agent run; `known` is False when the plan could not tell."""

    count: int
    known: bool
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class AgentPlan:
    """The estimate for one agent, all its fan-out instances and tool rounds included."""

    id: str
    model: str
    tokenizer: str
    price: ModelPrice | None
    fan_out: FanOut
    calls: Estimate[int]
    input_tokens: Estimate[int]
    output_tokens: Estimate[int]
    cost: Estimate[float | None]
    max_attempts: int
    worst_with_retries: Usage
    seconds: float
    conditional: bool
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Totals:
    """Sums over agents; costs leave out the agents whose price is unknown.

    `cost` is therefore the known part, a floor: `unpriced_calls` counts the calls it
    leaves out (per scenario, and `worst_unpriced_calls` with every retry). Unknown is
    not $0: renderers show a total with unpriced calls as "at least" or unknown.
    """

    calls: Estimate[int]
    input_tokens: Estimate[int]
    output_tokens: Estimate[int]
    cost: Estimate[float]
    worst_with_retries: Usage
    unpriced_calls: Estimate[int] = Estimate(0, 0, 0)
    worst_unpriced_calls: int = 0


@dataclass(frozen=True, slots=True)
class LimitBound:
    """The least time a declared limit needs to admit the expected calls or tokens."""

    key: str
    limit: str
    seconds: float
    agents: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TimeEstimate:
    """Expected wall time: the latency-weighted critical path or a limit, whichever is longer."""

    critical_path: tuple[str, ...]
    critical_path_seconds: float
    limit_bounds: tuple[LimitBound, ...]
    wall_seconds: float
    bound_by: str


@dataclass(frozen=True, slots=True)
class DeadlineCheck:
    """The predicted wall time against the workflow's `deadline:`.

    `deadline_s` counts from the run's start; for a deadline given as a time (`at`), from
    the moment the plan was made.
    """

    deadline_s: float
    at: str | None
    predicted_s: float
    meets: bool
    on_deadline: str


@dataclass(frozen=True, slots=True)
class BudgetCheck:
    """One budget against the costs it covers."""

    scope: str
    max_usd: float
    verdict: Verdict
    cost: Estimate[float]
    # In a batch plan, the instance a workflow or agent budget belongs to (`batch.jsonl:3`).
    instance: str | None = None


@dataclass(frozen=True, slots=True)
class BudgetVerdict:
    """The most severe check, the tightest of equals (`scope` None when no budget applies)."""

    verdict: Verdict
    scope: str | None
    checks: tuple[BudgetCheck, ...]

    def deciding(self) -> BudgetCheck | None:
        """The check the verdict comes from (None when no budget applies)."""
        return _tightest(self.checks) if self.checks else None


@dataclass(frozen=True, slots=True)
class Plan:
    """A dry-run estimate of one workflow instance."""

    workflow: str
    path: str
    inputs: FrozenDict
    agents: tuple[AgentPlan, ...]
    totals: Totals
    time: TimeEstimate
    budget: BudgetVerdict
    unknown_price_agents: tuple[str, ...]
    unknown_fan_out_agents: tuple[str, ...]
    price_map: FrozenDict
    notes: tuple[str, ...] = field(default=())
    # A batch plan (`--inputs F.jsonl`): every instance's own plan; the fields above are then
    # the sums over instances, and `budget` checks the run budget against the batch total.
    instances: tuple[InstancePlan, ...] = ()
    deadline: DeadlineCheck | None = None


@dataclass(frozen=True, slots=True)
class InstancePlan:
    """One workflow instance of a batch: where its inputs came from and its own plan."""

    origin: str
    line: int | None
    plan: Plan


# --- template rendering with stand-ins for what the plan cannot know ------------------------


class _Unknown:
    """Stands in for a value the plan cannot see; renders as a sentinel counted afterwards.

    Any attribute, item or iteration gives the same stand-in, so `agents.x.output.name` and
    `{% for s in agents.x.output.skills %}` render (one occurrence per use).
    """

    __slots__ = ("key",)

    def __init__(self, key: str) -> None:
        self.key = key

    def __str__(self) -> str:
        return f"\ue000{self.key}\ue001"

    def __getattr__(self, name: str) -> _Unknown:
        if name.startswith("__"):
            raise AttributeError(name)
        return self

    def __getitem__(self, key: object) -> _Unknown:
        return self

    def __iter__(self) -> Iterator[_Unknown]:
        yield self

    def __len__(self) -> int:
        return 1

    def __bool__(self) -> bool:
        return True

    def __lt__(self, other: object) -> bool:
        return True

    __le__ = __gt__ = __ge__ = __lt__


class _Agents(Mapping[str, Any]):
    """`agents.<id>.output` for every agent, without building ten thousand dicts."""

    def __getitem__(self, key: str) -> Any:
        return {"output": _Unknown(f"agent:{key}")}

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return self[name]

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


_AGENTS = _Agents()


def _lookup(value: Any, path: tuple[str | int, ...]) -> Any:
    for key in path:
        if isinstance(value, _Unknown):
            return value
        if isinstance(key, int) or isinstance(value, Mapping):
            value = value[key]
        else:
            raise KeyError(key)
    return value


def _fast_render(source: str, context: Mapping[str, Any]) -> str | None:
    """Render a template made only of `{{ a.b[0] }}` lookups; None when it is anything else.

    Compiling a Jinja template costs ~0.5 ms: too much for ten thousand prompts.
    """
    lookups = simple_lookups(source)
    if lookups is None:
        return None
    if not lookups:
        return source
    parts: list[str] = []
    last = 0
    for lookup in lookups:
        parts.append(source[last : lookup.start])
        if lookup.head not in context:
            return None
        try:
            value = _lookup(context[lookup.head], lookup.path)
        except (KeyError, IndexError, TypeError):
            return None
        parts.append(as_text(thaw(value)) if not isinstance(value, _Unknown) else str(value))
        last = lookup.end
    parts.append(source[last:])
    return "".join(parts)


def _render(source: str, context: Mapping[str, Any]) -> str:
    text = _fast_render(source, context)
    return text if text is not None else render(source, context)


@dataclass(frozen=True, slots=True)
class _Rendered:
    """A prompt's own tokens and how often each unknown value appears in it."""

    tokens: int
    unknowns: Mapping[str, int]


def _render_messages(agent: Agent, context: Mapping[str, Any], notes: list[str]) -> _Rendered:
    messages: list[tuple[str, str]] = []
    unknowns: dict[str, int] = {}  # how often each unknown value appears
    for role, source in (("system", agent.system), ("user", agent.prompt)):
        if source is None:
            continue
        try:
            text = _render(source, context)
        except (TemplateRenderError, TemplateSyntax) as exc:
            note = f"{role} template not rendered ({exc}); its source text was counted"
            if note not in notes:
                notes.append(note)
            text = source
            for ref in _refs(source):
                unknowns[ref] = unknowns.get(ref, 0) + 1
        if "\ue000" in text:  # an unknown value's sentinel
            for ref in _SENTINEL.findall(text):
                unknowns[ref] = unknowns.get(ref, 0) + 1
            text = _SENTINEL.sub("", text)
        messages.append((role, text))
    return _Rendered(count_messages(agent.model, messages), unknowns)


def _refs(source: str) -> list[str]:
    try:
        refs = references(source)
    except TemplateSyntax:
        return []
    return [f"agent:{a}" for a in refs.agents]


# --- per-agent estimate ---------------------------------------------------------------------


_ONE_INSTANCE: Final = FanOut(1, True)
_NO_TOOL_ROUNDS: Final = Estimate(0, 0, 0)


def _fan_out(agent: Agent, inputs: Mapping[str, Any]) -> tuple[FanOut, list[Any] | None]:
    if agent.for_each is None:
        return _ONE_INSTANCE, None
    try:
        refs = references(agent.for_each)
    except TemplateSyntax as exc:
        return FanOut(1, False, f"for_each does not parse: {exc.message}"), None
    if refs.agents:
        names = ", ".join(refs.agents)
        return FanOut(1, False, f"for_each depends on the output of {names}"), None
    missing = [name for name in refs.inputs if isinstance(inputs.get(name), _Unknown)]
    if missing:
        return FanOut(1, False, f"for_each needs input {', '.join(missing)}, not given"), None
    try:
        value = evaluate(agent.for_each, {"inputs": inputs, "agents": _AGENTS})
    except TemplateRenderError as exc:
        return FanOut(1, False, f"for_each could not be evaluated: {exc}"), None
    if isinstance(value, list | tuple):
        return FanOut(len(value), True), list(value)
    return FanOut(1, False, f"for_each is a {type(value).__name__}, not a list"), None


def _schema_sample(schema: Any, depth: int = 0) -> Any:
    if not isinstance(schema, Mapping) or depth > 6:
        return "value"
    if schema.get("enum"):
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    kind = schema.get("type")
    if isinstance(kind, list | tuple):
        kind = next((k for k in kind if k != "null"), "string")
    if kind == "object" or "properties" in schema:
        props = schema.get("properties", {})
        return {k: _schema_sample(v, depth + 1) for k, v in props.items()}
    if kind == "array":
        return [_schema_sample(schema.get("items", {}), depth + 1)] * SCHEMA_ARRAY_ITEMS
    if kind == "integer":
        return 42
    if kind == "number":
        return 3.14
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return " ".join(["word"] * SCHEMA_STRING_WORDS)


def _final_output(agent: Agent) -> Estimate[int]:
    fractions = _output_fractions(agent.max_tokens)
    schema = agent.output.schema
    if agent.output.format != "json" or schema is None:
        return fractions
    sample = _schema_sample(schema)
    if sample in ({}, [], "value"):
        return fractions
    low = fractions.low
    tokens = count_tokens(agent.model, json.dumps(sample))
    return Estimate(low, max(low, min(agent.max_tokens, tokens)), agent.max_tokens)


@lru_cache(maxsize=1024)  # every agent asks; a file has few max_tokens
def _output_fractions(max_tokens: int) -> Estimate[int]:
    """The answer's size without a schema to size it: fractions of max_tokens."""
    low = max(1, math.ceil(max_tokens * LOW_OUTPUT_FRACTION))
    expected = math.ceil(max_tokens * EXPECTED_OUTPUT_FRACTION)
    return Estimate(low, max(low, expected), max_tokens)


def _fixed_prompt_tokens(agent: Agent, workflow: Workflow) -> int:
    """Tokens sent with every call besides the messages: tool definitions, output schema."""
    if not agent.tools and agent.output.schema is None:
        return 0
    parts: list[str] = []
    for name in agent.tools:
        try:
            tool = workflow.tool(name)
        except KeyError:
            continue
        parts.append(
            json.dumps(
                {
                    "type": "function",
                    "function": {
                        "name": tool.name,
                        "description": tool.description,
                        "parameters": thaw(tool.parameters),
                    },
                }
            )
        )
    if agent.output.format == "json" and agent.output.schema is not None:
        parts.append(json.dumps(thaw(agent.output.schema)))
    return sum(count_tokens(agent.model, p) for p in parts)


@lru_cache(maxsize=1024)  # every agent asks; a file names few models
def _latency(model: str, overrides: tuple[tuple[str, float], ...]) -> LatencyModel:
    for pattern, seconds in overrides:
        if fnmatch.fnmatchcase(model, pattern):
            return LatencyModel(seconds, 0.0)
    for _name, regex, latency in LATENCY_FAMILIES:
        if regex.search(model):
            return latency
    return DEFAULT_LATENCY


def _instance_seconds(
    agent: Agent,
    rounds: Estimate[int],
    final: Estimate[int],
    overrides: tuple[tuple[str, float], ...],
) -> float:
    latency = _latency(agent.model, overrides)
    return rounds.expected * latency.seconds(TOOL_CALL_TOKENS) + latency.seconds(final.expected)


def expected_agent_seconds(agent: Agent, latency: Mapping[str, float] | None = None) -> float:
    """The expected seconds of one instance of `agent` (its tool rounds and its answer), as
    `plan` weighs it on the critical path; the run's scheduler uses it too."""
    return _instance_seconds(
        agent, _tool_rounds(agent), _final_output(agent), _latency_overrides(latency)
    )


def _tool_rounds(agent: Agent) -> Estimate[int]:
    if not agent.tools:
        return _NO_TOOL_ROUNDS
    return Estimate(0, min(1, agent.max_tool_rounds), agent.max_tool_rounds)


def _instance_usage(
    base: int, rounds: int, final_output: int, repairs: int = 0
) -> tuple[int, int, int]:
    """Calls, input and output tokens of one instance with `rounds` tool rounds and
    `repairs` answers asked again (each resends the conversation, the unusable answer and
    the error, and gets a new answer)."""
    growth = TOOL_CALL_TOKENS + TOOL_RESULT_TOKENS
    calls = rounds + 1
    input_tokens = calls * base + growth * rounds * (rounds + 1) // 2
    output_tokens = rounds * TOOL_CALL_TOKENS + final_output
    conversation = base + growth * rounds
    for repair in range(1, repairs + 1):
        input_tokens += conversation + repair * (final_output + REPAIR_ERROR_TOKENS)
        output_tokens += final_output
    return calls + repairs, input_tokens, output_tokens


def _dearest(
    prices: Sequence[ModelPrice | None], input_tokens: int, output_tokens: int
) -> float | None:
    costs = [_cost(p, input_tokens, output_tokens) for p in prices]
    known = [c for c in costs if c is not None]
    return max(known) if len(known) == len(costs) else None  # one unknown: unknown


def _summed(
    prices: Sequence[ModelPrice | None], input_tokens: int, output_tokens: int
) -> float | None:
    costs = [_cost(p, input_tokens, output_tokens) for p in prices]
    known = [c for c in costs if c is not None]
    return sum(known) if len(known) == len(costs) else None


def _cost(price: ModelPrice | None, input_tokens: int, output_tokens: int) -> float | None:
    if price is None:
        return None
    return input_tokens * price.input_per_token + output_tokens * price.output_per_token


_UNKNOWN_SIZE: Final = Estimate(UNKNOWN_VALUE_TOKENS, UNKNOWN_VALUE_TOKENS, UNKNOWN_VALUE_TOKENS)


@dataclass(frozen=True, slots=True)
class _UsageRecords:
    """An agent's usage records, shared by the agents with the same numbers."""

    calls: Estimate[int]
    input_tokens: Estimate[int]
    output_tokens: Estimate[int]
    cost: Estimate[float | None]
    worst_with_retries: Usage


def _usage_records(
    prices: Sequence[ModelPrice | None],
    attempts: int,
    low: tuple[int, int, int],
    exp: tuple[int, int, int],
    worst: tuple[int, int, int],
) -> _UsageRecords:
    price = prices[0]
    return _UsageRecords(
        calls=Estimate(low[0], exp[0], worst[0]),
        input_tokens=Estimate(low[1], exp[1], worst[1]),
        output_tokens=Estimate(low[2], exp[2], worst[2]),
        # The worst case may be answered by any fallback: priced at the dearest of them.
        cost=Estimate(
            _cost(price, low[1], low[2]),
            _cost(price, exp[1], exp[2]),
            _dearest(prices, worst[1], worst[2]),
        ),
        # every model of the chain tried `attempts` times
        worst_with_retries=Usage(
            worst[0] * attempts * len(prices),
            worst[1] * attempts * len(prices),
            worst[2] * attempts * len(prices),
            _summed(prices, worst[1] * attempts, worst[2] * attempts),
        ),
    )


@dataclass(slots=True)
class _Planner:
    workflow: Workflow
    inputs: dict[str, Any]
    price_book: PriceBook
    latency: tuple[tuple[str, float], ...]
    # An upstream agent's whole output (all fan-out instances), per scenario.
    output_size: dict[str, Estimate[int]] = field(default_factory=dict)
    _usage: dict[tuple[Any, ...], _UsageRecords] = field(default_factory=dict)

    def unknown_size(self, key: str) -> Estimate[int]:
        if key.startswith("agent:"):
            size = self.output_size.get(key[6:])
            if size is not None:
                return size
        return _UNKNOWN_SIZE

    def usage(
        self,
        models: tuple[str, ...],
        attempts: int,
        low: tuple[int, int, int],
        exp: tuple[int, int, int],
        worst: tuple[int, int, int],
    ) -> _UsageRecords:
        """Calls, tokens, costs and the worst case with retries of (calls, input, output) in
        the three scenarios, priced for `models` (the agent's, then its fallbacks).

        The same numbers give the same records: agents alike share them (in a big file,
        most do), instead of building and pricing five records each.
        """
        key = (models, attempts, low, exp, worst)
        records = self._usage.get(key)
        if records is None:
            records = self._usage[key] = _usage_records(
                [self.price_book.lookup(m) for m in models], attempts, low, exp, worst
            )
        return records

    def agent(self, agent: Agent) -> AgentPlan:
        notes: list[str] = []
        fan_out, items = _fan_out(agent, self.inputs)
        if not fan_out.known:
            notes.append(f"fan-out unknown ({fan_out.reason}); counted as 1 instance")
        context: dict[str, Any] = {"inputs": self.inputs, "agents": _AGENTS}
        if agent.for_each is not None:
            context["index"] = 0
            context["item"] = _Unknown("item")
        samples = (items or [])[:FAN_OUT_SAMPLE]
        rendered: list[_Rendered] = []
        if samples:
            for index, item in enumerate(samples):
                rendered.append(
                    _render_messages(agent, {**context, "item": item, "index": index}, notes)
                )
        elif fan_out.count:
            rendered.append(_render_messages(agent, context, notes))
        instances = fan_out.count
        fixed = _fixed_prompt_tokens(agent, self.workflow)
        final = _final_output(agent)
        rounds = _tool_rounds(agent)
        price = self.price_book.lookup(agent.model)

        # Each prompt's input per scenario (low, expected, worst): its own tokens, the fixed
        # ones and its unknown values at their sizes, looked up once for all scenarios.
        bases: list[tuple[int, int, int]] = []
        for r in rendered:
            low_in = expected_in = worst_in = r.tokens + fixed
            for key, n in r.unknowns.items():
                size = self.unknown_size(key)
                low_in += size.low * n
                expected_in += size.expected * n
                worst_in += size.worst * n
            bases.append((low_in, expected_in, worst_in))
        scale = instances / len(rendered) if rendered else 0.0
        # only the worst case counts answers that must be asked again
        worst_repairs = agent.output.repair if agent.output.format == "json" else 0

        def scenario(which: int, rounds: int, final: int, repairs: int) -> tuple[int, int, int]:
            calls = inp = out = 0
            for base in bases:
                c, i, o = _instance_usage(base[which], rounds, final, repairs)
                calls, inp, out = calls + c, inp + i, out + o
            return round(calls * scale), math.ceil(inp * scale), math.ceil(out * scale)

        low = scenario(0, rounds.low, final.low, 0)
        exp = scenario(1, rounds.expected, final.expected, 0)
        worst = scenario(2, rounds.worst, final.worst, worst_repairs)
        attempts = agent.retry.max_attempts
        usage = self.usage((agent.model, *agent.fallbacks), attempts, low, exp, worst)
        self.output_size[agent.id] = (
            final
            if instances == 1
            else Estimate(
                final.low * instances, final.expected * instances, final.worst * instances
            )
        )
        per_instance = _instance_seconds(agent, rounds, final, self.latency)
        waves = math.ceil(instances / agent.max_parallel) if agent.max_parallel else 1
        return AgentPlan(
            id=agent.id,
            model=agent.model,
            tokenizer=tokenizer_for(agent.model)[0],
            price=price,
            fan_out=fan_out,
            calls=usage.calls,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cost=usage.cost,
            max_attempts=attempts,
            worst_with_retries=usage.worst_with_retries,
            seconds=waves * per_instance,
            conditional=agent.when is not None,
            notes=tuple(notes),
        )


# --- time, limits, budgets ------------------------------------------------------------------

_WINDOWS: Final = (("m", 60.0), ("h", 3600.0), ("d", 86400.0))


def _limit_bounds(
    limits: Sequence[Limit], agents: Sequence[AgentPlan], latency: tuple[tuple[str, float], ...]
) -> list[LimitBound]:
    bounds: list[LimitBound] = []
    for limit in limits:
        matched = [a for a in agents if limit.key == "*" or fnmatch.fnmatchcase(a.model, limit.key)]
        if not matched:
            continue
        ids = tuple(a.id for a in matched)
        calls = sum(a.calls.expected for a in matched)
        tokens = sum(a.input_tokens.expected + a.output_tokens.expected for a in matched)
        for suffix, window in _WINDOWS:
            for kind, amount, burst_given in (("r", calls, True), ("t", tokens, False)):
                n = getattr(limit, f"{kind}p{suffix}")
                if not n:
                    continue
                rate = n / window
                # The bucket starts full: `burst` requests (default one second's worth).
                burst = limit.burst if burst_given and limit.burst is not None else rate
                seconds = max(0.0, amount - burst) / rate
                bounds.append(LimitBound(limit.key, f"{kind}p{suffix}", seconds, ids))
        if limit.max_concurrent:
            busy = sum(a.calls.expected * _mean_call_seconds(a, latency) for a in matched)
            bounds.append(LimitBound(limit.key, "max_concurrent", busy / limit.max_concurrent, ids))
    return bounds


def _mean_call_seconds(agent: AgentPlan, latency: tuple[tuple[str, float], ...]) -> float:
    mean_output = agent.output_tokens.expected // max(1, agent.calls.expected)
    return _latency(agent.model, latency).seconds(mean_output)


def _time(
    workflow: Workflow,
    agents: Sequence[AgentPlan],
    latency: tuple[tuple[str, float], ...],
    graph: WorkflowGraph | None = None,
) -> TimeEstimate:
    seconds = {a.id: a.seconds for a in agents}
    graph = graph if graph is not None else compile_workflow(workflow)
    path, path_seconds = graph.critical_path(lambda n: seconds.get(n, 0.0))
    bounds = _limit_bounds(workflow.limits, agents, latency)
    binding = max(bounds, key=lambda b: b.seconds, default=None)
    if binding is not None and binding.seconds > path_seconds:
        wall, bound_by = binding.seconds, f'limit "{binding.key}" {binding.limit}'
    else:
        wall, bound_by = path_seconds, "critical path"
    return TimeEstimate(path, path_seconds, tuple(bounds), wall, bound_by)


_SEVERITY: Final[dict[Verdict, int]] = {"ok": 0, "warning": 1, "over": 2}


def deadline_check(workflow: Workflow, time: TimeEstimate, now: float) -> DeadlineCheck | None:
    """Whether the predicted wall time fits the workflow's deadline (`now`: epoch seconds,
    for a deadline given as a time)."""
    deadline = workflow.deadline
    if deadline is None:
        return None
    if deadline.after_s is not None:
        seconds, at = deadline.after_s, None
    else:
        assert deadline.at is not None
        seconds = deadline.at - now
        at = datetime.fromtimestamp(deadline.at, tz=UTC).isoformat().replace("+00:00", "Z")
    return DeadlineCheck(
        deadline_s=seconds,
        at=at,
        predicted_s=time.wall_seconds,
        meets=time.wall_seconds <= seconds,
        on_deadline=deadline.on_deadline,
    )


def _check(scope: str, max_usd: float, cost: Estimate[float]) -> BudgetCheck:
    verdict: Verdict = "ok"
    if cost.expected > max_usd or cost.low > max_usd:
        verdict = "over"
    elif cost.worst > max_usd:
        verdict = "warning"
    return BudgetCheck(scope, max_usd, verdict, cost)


def _budget(
    workflow: Workflow, agents: Sequence[AgentPlan], total: Estimate[float], run_usd: float | None
) -> BudgetVerdict:
    checks: list[BudgetCheck] = []
    if run_usd is not None:
        checks.append(_check("run", run_usd, total))
    if workflow.budget is not None:
        checks.append(_check("workflow", workflow.budget.max_usd, total))
    by_id = {a.id: a for a in agents}
    for agent in workflow.agents:
        plan = by_id[agent.id]
        if agent.budget is None or plan.price is None:
            continue
        cost = Estimate(plan.cost.low or 0.0, plan.cost.expected or 0.0, plan.cost.worst or 0.0)
        checks.append(_check(f"agent:{agent.id}", agent.budget.max_usd, cost))
    return _verdict(checks)


def _headroom(check: BudgetCheck) -> float:
    """How much of the budget the deciding scenario uses (over: expected or low; else worst)."""
    used = max(check.cost.low, check.cost.expected) if check.verdict == "over" else check.cost.worst
    return used / max(check.max_usd, 1e-12)


def _verdict(checks: Sequence[BudgetCheck]) -> BudgetVerdict:
    if not checks:
        return BudgetVerdict("ok", None, ())
    worst = _tightest(checks)
    return BudgetVerdict(worst.verdict, worst.scope, tuple(checks))


def _tightest(checks: Sequence[BudgetCheck]) -> BudgetCheck:
    # The most severe verdict; among equals the scope with the least headroom left.
    return max(checks, key=lambda c: (_SEVERITY[c.verdict], _headroom(c)))


def _ints_total(parts: Sequence[Estimate[int]]) -> Estimate[int]:
    return Estimate(
        sum(e.low for e in parts), sum(e.expected for e in parts), sum(e.worst for e in parts)
    )


def _totals(agents: Sequence[AgentPlan]) -> Totals:
    # Costs are summed in the agents' order: float sums depend on it.
    unpriced = [a for a in agents if a.price is None]
    costs = [a.cost for a in agents if a.price is not None]
    retries = [a.worst_with_retries for a in agents]
    return Totals(
        unpriced_calls=_ints_total([a.calls for a in unpriced]),
        worst_unpriced_calls=sum(a.worst_with_retries.calls for a in unpriced),
        calls=_ints_total([a.calls for a in agents]),
        input_tokens=_ints_total([a.input_tokens for a in agents]),
        output_tokens=_ints_total([a.output_tokens for a in agents]),
        cost=Estimate(
            sum(c.low or 0.0 for c in costs),
            sum(c.expected or 0.0 for c in costs),
            sum(c.worst or 0.0 for c in costs),
        ),
        worst_with_retries=Usage(
            sum(u.calls for u in retries),
            sum(u.input_tokens for u in retries),
            sum(u.output_tokens for u in retries),
            sum(a.worst_with_retries.cost or 0.0 for a in agents if a.price is not None),
        ),
    )


def _now(now: float | None) -> float:
    return _time_module.time() if now is None else now


def _latency_overrides(latency: Mapping[str, float] | None) -> tuple[tuple[str, float], ...]:
    items = list((latency or {}).items())
    # Exact names first, then the most specific (longest) globs.
    return tuple(sorted(items, key=lambda kv: (any(c in kv[0] for c in "*?["), -len(kv[0]))))


def make_plan(
    workflow: Workflow,
    inputs: Mapping[str, Any] | None,
    price_book: PriceBook,
    *,
    budget_usd: float | None = None,
    latency: Mapping[str, float] | None = None,
    now: float | None = None,
) -> Plan:
    """Estimate one instance of `workflow` with `inputs` (declared defaults fill the gaps).

    `budget_usd` is the run budget (`--budget-usd`); `latency` maps model globs to expected
    seconds per call, replacing the per-family defaults; `now` (epoch seconds, default the
    current time) is when a deadline given as a time is counted from.
    """
    given = dict(inputs or {})
    values: dict[str, Any] = {}
    missing: list[str] = []
    for spec in workflow.inputs:
        if spec.name in given:
            values[spec.name] = freeze(given.pop(spec.name))
        elif spec.has_default:
            values[spec.name] = spec.default
        else:
            values[spec.name] = _Unknown(f"input:{spec.name}")
            missing.append(spec.name)
    values.update({k: freeze(v) for k, v in given.items()})
    overrides = _latency_overrides(latency)
    planner = _Planner(workflow, values, price_book, overrides)
    graph = compile_workflow(workflow)
    by_id = {a.id: a for a in workflow.agents}
    planned = {
        agent_id: planner.agent(by_id[agent_id]) for level in graph.levels for agent_id in level
    }
    agents = tuple(planned[a.id] for a in workflow.agents)
    totals = _totals(agents)
    notes: list[str] = []
    if missing:
        notes.append(
            f"inputs not given: {', '.join(missing)}; each use counted as "
            f"{UNKNOWN_VALUE_TOKENS} tokens"
        )
    unknown_price = tuple(a.id for a in agents if a.price is None)
    if unknown_price:
        notes.append(
            f"{len(unknown_price)} agent(s) have no known price and are left out of the cost "
            "totals; add them to `pricing:`"
        )
    time = _time(workflow, agents, overrides, graph)
    return Plan(
        workflow=workflow.name,
        path=str(workflow.path),
        inputs=FrozenDict({k: v for k, v in values.items() if not isinstance(v, _Unknown)}),
        agents=agents,
        totals=totals,
        time=time,
        deadline=deadline_check(workflow, time, _now(now)),
        budget=_budget(workflow, agents, totals.cost, budget_usd),
        unknown_price_agents=unknown_price,
        unknown_fan_out_agents=tuple(a.id for a in agents if not a.fan_out.known),
        price_map=FrozenDict(price_book.identity),
        notes=tuple(notes),
    )


def _sum_agents(plans: Sequence[Plan]) -> tuple[AgentPlan, ...]:
    """Each agent summed over the instances (seconds: the longest; they run concurrently)."""

    def ints(parts: Sequence[Estimate[int]]) -> Estimate[int]:
        return Estimate(*(sum(getattr(p, s) for p in parts) for s in ("low", "expected", "worst")))

    def costs(parts: Sequence[Estimate[float | None]]) -> Estimate[float | None]:
        def one(which: str) -> float | None:
            values = [getattr(p, which) for p in parts]
            return None if any(v is None for v in values) else sum(values)

        return Estimate(one("low"), one("expected"), one("worst"))

    agents: list[AgentPlan] = []
    for column in zip(*(p.agents for p in plans), strict=True):
        first = column[0]
        retries = [a.worst_with_retries for a in column]
        retry_costs = [u.cost for u in retries]
        notes = tuple(dict.fromkeys(n for a in column for n in a.notes))
        agents.append(
            AgentPlan(
                id=first.id,
                model=first.model,
                tokenizer=first.tokenizer,
                price=first.price,
                fan_out=FanOut(
                    sum(a.fan_out.count for a in column),
                    all(a.fan_out.known for a in column),
                    next((a.fan_out.reason for a in column if a.fan_out.reason), None),
                ),
                calls=ints([a.calls for a in column]),
                input_tokens=ints([a.input_tokens for a in column]),
                output_tokens=ints([a.output_tokens for a in column]),
                cost=costs([a.cost for a in column]),
                max_attempts=first.max_attempts,
                worst_with_retries=Usage(
                    sum(u.calls for u in retries),
                    sum(u.input_tokens for u in retries),
                    sum(u.output_tokens for u in retries),
                    None
                    if any(c is None for c in retry_costs)
                    else sum(c or 0.0 for c in retry_costs),
                ),
                seconds=max(a.seconds for a in column),
                conditional=first.conditional,
                notes=notes,
            )
        )
    return tuple(agents)


def make_batch_plan(
    workflow: Workflow,
    instances: Sequence[tuple[str, Mapping[str, Any]]],
    price_book: PriceBook,
    *,
    budget_usd: float | None = None,
    latency: Mapping[str, float] | None = None,
    now: float | None = None,
) -> Plan:
    """Estimate every instance of a batch (`(origin, inputs)` pairs, e.g. `("b.jsonl:3", {...})`).

    The result's totals, agents and time cover the whole batch (the instances share the
    limits); its budget checks the run budget against the batch total, and each instance's
    workflow and agent budgets against that instance. `instances` keeps each instance's plan.
    """
    parts: list[InstancePlan] = []
    for origin, values in instances:
        plan = make_plan(workflow, values, price_book, latency=latency, now=now)
        _, _, tail = origin.rpartition(":")
        parts.append(InstancePlan(origin, int(tail) if tail.isdigit() else None, plan))
    plans = [p.plan for p in parts]
    agents = _sum_agents(plans)
    totals = _totals(agents)
    checks: list[BudgetCheck] = []
    if budget_usd is not None:
        checks.append(_check("run", budget_usd, totals.cost))
    for part in parts:
        checks.extend(
            BudgetCheck(c.scope, c.max_usd, c.verdict, c.cost, part.origin)
            for c in part.plan.budget.checks
        )
    notes = list(dict.fromkeys(n for p in plans for n in p.notes))
    notes.insert(0, f"{len(parts):,} instances; totals, time and the run budget cover all of them")
    unknown_price = tuple(a.id for a in agents if a.price is None)
    time = _time(workflow, agents, _latency_overrides(latency))
    return Plan(
        workflow=workflow.name,
        path=str(workflow.path),
        inputs=FrozenDict({}),
        agents=agents,
        totals=totals,
        time=time,
        deadline=deadline_check(workflow, time, _now(now)),
        budget=_verdict(checks),
        unknown_price_agents=unknown_price,
        unknown_fan_out_agents=tuple(a.id for a in agents if not a.fan_out.known),
        price_map=plans[0].price_map if plans else FrozenDict(price_book.identity),
        notes=tuple(notes),
        instances=tuple(parts),
    )
