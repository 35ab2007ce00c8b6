"""Plain progress lines for a log file or cron mail: one timestamped line per meaningful event.

    2026-11-24T10:00:01Z run r1 started: hr_onboarding (1 instance), max concurrency 50, ...
    2026-11-24T10:00:04Z hr_onboarding/screen completed in 3.20s: $0.0002, 812 in / 95 out tokens, 2 calls

Never any ANSI codes: control characters in messages become visible escapes (`\\x1b`), and
secrets are redacted. Per-call events (requests, responses, tool calls) are left to the JSONL log;
rate-limit waits are aggregated to at most one line per limit key per `wait_interval` seconds.
A refused budget reservation prints one line per budget; the calls refused after it are
counted and said once, when the run ends. A fan-out's item retries show the first of each
error class, then one count when the agent ends. With `quiet=True` only warnings and failures are
printed. A heartbeat line (every `heartbeat` seconds at most; None turns it off) tells how far
a run is while agents are running, for a cron mail that would otherwise show nothing between
`started` and `completed`:

    2026-11-24T10:00:31Z progress: instances 3/20 done · hr/each 120/300 items, ETA 1m15s · cost $0.0123
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TextIO

from agentflow.events.types import Event
from agentflow.redaction import clean
from agentflow.sinks import (
    budget_words,
    format_count,
    format_duration,
    format_usd,
    provider_message,
)

_MESSAGE_LIMIT = 300
DEFAULT_HEARTBEAT_S = 30.0
# A heartbeat names at most this many running fan-outs (the oldest), then "+N more".
_HEARTBEAT_AGENTS = 3


@dataclass(slots=True)
class _FanOut:
    """A running for_each agent: how many of its items have a final answer."""

    where: str
    total: int
    started_at: float
    done: set[int]

    def text(self, now: float) -> str:
        text = f"{self.where} {len(self.done):,}/{self.total:,} items"
        eta = _eta(len(self.done), self.total, now - self.started_at)
        return text + (f", ETA {eta}" if eta else "")


@dataclass(slots=True)
class _Refusals:
    """Budget refusals of one scope after the first (which had its own line)."""

    spent_usd: float | None
    limit_usd: float | None
    more: int = 0


def _eta(done: int, total: int, elapsed: float) -> str | None:
    """Time left at the rate observed so far; None before there is a rate to go by."""
    if done <= 0 or done >= total or elapsed <= 0:
        return None
    return format_duration(elapsed / done * (total - done))


@dataclass(slots=True)
class _WaitLine:
    printed_at: float
    last_at: float
    suppressed: int = 0


def _stamp(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def _one_line(text: object, limit: int = _MESSAGE_LIMIT) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n:,} {word}" if n == 1 else f"{n:,} {plural or word + 's'}"


def _agent_counts(counts: Mapping[str, Any]) -> str:
    return ", ".join(f"{counts.get(k, 0)} {k}" for k in ("completed", "failed", "skipped"))


class PlainSink:
    """Writes human-readable lines to `stream` (stderr by convention).

    `clock` gives the epoch seconds each line is stamped with and rate-limit lines are spaced by;
    by default that is the event's own timestamp.
    """

    label = "the plain progress output"

    def __init__(
        self,
        stream: TextIO,
        clock: Callable[[], float] | None = None,
        *,
        quiet: bool = False,
        wait_interval: float = 5.0,
        heartbeat: float | None = DEFAULT_HEARTBEAT_S,
    ) -> None:
        self._stream = stream
        self._clock = clock
        self._quiet = quiet
        self._wait_interval = wait_interval
        self._heartbeat = heartbeat if heartbeat and heartbeat > 0 else None
        self._waits: dict[str, _WaitLine] = {}
        self._refusals: dict[str, _Refusals] = {}
        self._fan_outs: dict[tuple[str | None, int | None, str | None], _FanOut] = {}
        self._items: dict[tuple[str | None, int | None, str | None], int] = {}
        self._instances_total = 0
        self._instances_done = 0
        self._last_line_at: float | None = None
        self._cost = 0.0
        self._cancelled_agents = 0
        self._item_retries: dict[tuple[str | None, int | None, str | None, str], int] = {}
        self._multi_instance = False
        self._closed = False

    # -- Sink -------------------------------------------------------------------------------

    def handle(self, event: Event) -> None:
        if event.event == "llm.response":
            self._count_response(event)
        render = self._RENDERERS.get(event.event)
        now = self._clock() if self._clock is not None else event.ts
        text = render(self, event, now) if render is not None else None
        if text is not None:
            self._write(now, text)
        elif self._heartbeat is not None and not self._quiet:
            self._beat(now)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        now = self._clock() if self._clock is not None else None
        self._flush_waits(now)
        self._flush_refusals(now)
        self._stream.flush()

    # -- helpers ----------------------------------------------------------------------------

    def _write(self, now: float, text: str) -> None:
        # Lines carry text from outside (provider errors, tool output): no secret, and no
        # control character that a terminal or a log viewer would act on.
        self._stream.write(f"{_stamp(now)} {clean(text)}\n")
        self._stream.flush()
        self._last_line_at = now

    def _count_response(self, event: Event) -> None:
        d = event.data
        cost = d.get("cost_usd")
        if cost is not None:
            self._cost += float(cost)
        fan_out = self._fan_outs.get((event.workflow, event.instance, event.agent))
        index = d.get("index")
        # A response without tool calls is the item's final answer.
        if fan_out is not None and index is not None and not d.get("tool_calls"):
            fan_out.done.add(int(index))

    def _beat(self, now: float) -> None:
        """A progress line when nothing was printed for `heartbeat` seconds and work runs."""
        assert self._heartbeat is not None
        if self._last_line_at is None or now - self._last_line_at < self._heartbeat:
            return
        if not self._fan_outs and self._instances_done >= self._instances_total:
            return
        parts = []
        if self._instances_total > 1:
            parts.append(f"instances {self._instances_done:,}/{self._instances_total:,} done")
        running = list(self._fan_outs.values())
        parts += [f.text(now) for f in running[:_HEARTBEAT_AGENTS]]
        if len(running) > _HEARTBEAT_AGENTS:
            parts.append(f"+{len(running) - _HEARTBEAT_AGENTS} more fan-outs")
        parts.append(f"cost {format_usd(self._cost)}")
        self._write(now, "progress: " + " · ".join(parts))

    def _flush_refusals(self, now: float | None) -> None:
        for scope, refusals in self._refusals.items():
            if refusals.more:
                calls = _plural(refusals.more, "more call")
                self._write(
                    now if now is not None else time.time(),
                    f"BUDGET EXCEEDED: {budget_words(scope)}: {calls} refused "
                    f"({format_usd(refusals.spent_usd)} of {format_usd(refusals.limit_usd)} spent)",
                )
            refusals.more = 0

    def _where(self, event: Event) -> str:
        name = event.workflow or "run"
        if event.instance is not None and (self._multi_instance or event.instance > 0):
            name = f"{name}[{event.instance}]"
        return f"{name}/{event.agent}" if event.agent else name

    def _flush_waits(self, now: float | None) -> None:
        for key, wait in self._waits.items():
            if wait.suppressed and not self._quiet:
                stamp = now if now is not None else wait.last_at
                self._write(stamp, f"rate limit {key}: {_plural(wait.suppressed, 'more wait')}")
            wait.suppressed = 0

    # -- one renderer per event; None means "no line" ---------------------------------------

    def _run_started(self, e: Event, now: float) -> str | None:
        d = e.data
        workflows = list(d.get("workflows", []))
        instances = int(d.get("instances", len(workflows)))
        self._multi_instance = instances > len(workflows)
        self._instances_total = instances
        if self._quiet:
            return None
        names = ", ".join(workflows[:5]) + (
            f" +{len(workflows) - 5} more" if len(workflows) > 5 else ""
        )
        parts = [f"run {e.run_id} started: {names} ({_plural(instances, 'instance')})"]
        if d.get("budget_usd") is not None:
            parts.append(f"budget {format_usd(d['budget_usd'])}")
        if "max_concurrency" in d:
            parts.append(f"max concurrency {d['max_concurrency']}")
        if d.get("mock"):
            parts.append("mock")
        if d.get("log_path"):
            parts.append(f"log {d['log_path']}")
        return ", ".join(parts)

    def _workflow_started(self, e: Event, now: float) -> str | None:
        if self._quiet:
            return None
        return f"{self._where(e)} started: {_plural(int(e.data.get('agents', 0)), 'agent')}"

    def _agent_started(self, e: Event, now: float) -> str | None:
        items = e.data.get("items")
        key = (e.workflow, e.instance, e.agent)
        if items is not None:
            self._items[key] = int(items)
            self._fan_outs[key] = _FanOut(self._where(e), int(items), now, set())
        if self._quiet:
            return None
        fan_out = f", {_plural(items, 'item')}" if items is not None else ""
        return f"{self._where(e)} started ({e.data.get('model')}{fan_out})"

    def _flush_item_retries(self, e: Event, now: float) -> None:
        for key in [k for k in self._item_retries if k[:3] == (e.workflow, e.instance, e.agent)]:
            more = self._item_retries.pop(key)
            if more and not self._quiet:
                retries = _plural(more, "more item retry", "more item retries")
                self._write(now, f"{self._where(e)}: {retries} after {key[3]}")

    def _agent_completed(self, e: Event, now: float) -> str | None:
        self._flush_item_retries(e, now)
        self._fan_outs.pop((e.workflow, e.instance, e.agent), None)
        if self._quiet:
            return None
        d = e.data
        return (
            f"{self._where(e)} completed in {format_duration(d.get('duration_s'))}: "
            f"cost {format_usd(d.get('cost_usd'))}, {format_count(d.get('input_tokens'))} in / "
            f"{format_count(d.get('output_tokens'))} out tokens, {_plural(d.get('calls', 0), 'call')}"
        )

    def _agent_failed(self, e: Event, now: float) -> str | None:
        self._flush_item_retries(e, now)
        d = e.data
        key = (e.workflow, e.instance, e.agent)
        fan_out = self._fan_outs.pop(key, None)
        items = self._items.get(key)
        if items is not None:
            # A fan-out's attempts are its calls over every item; say how far the items got.
            done = len(fan_out.done) if fan_out is not None else 0
            after = (
                f"with {done:,}/{items:,} items done ({_plural(int(d.get('calls', 0)), 'call')})"
            )
        else:
            after = f"after {_plural(d.get('attempts', 0), 'attempt')}"
        return (
            f"{self._where(e)} FAILED in {format_duration(d.get('duration_s'))} {after}: "
            f"{d.get('error_class')}: {_one_line(provider_message(d.get('message', '')))} "
            f"({format_usd(d.get('cost_usd'))} spent)"
        )

    def _agent_skipped(self, e: Event, now: float) -> str | None:
        reason = e.data.get("reason")
        if reason == "cancelled":
            # Every pending agent of a cancelled run: counted in the run's cancel line.
            self._cancelled_agents += 1
            return None
        # Quiet: what a failure skipped is in the failure report at the end.
        if self._quiet and reason in ("condition_false", "dependency_failed", "budget"):
            return None
        detail = e.data.get("detail")
        return f"{self._where(e)} skipped: {reason}" + (f" ({_one_line(detail)})" if detail else "")

    def _llm_retry(self, e: Event, now: float) -> str | None:
        if self._quiet:
            return None
        d = e.data
        if d.get("index") is not None:
            # A fan-out's items retry alike: the first retry of each kind is shown, the rest
            # are counted in one line when the agent ends.
            key = (e.workflow, e.instance, e.agent, str(d.get("error_class")))
            if key in self._item_retries:
                self._item_retries[key] += 1
                return None
            self._item_retries[key] = 0
        item = f" item {d['index']}" if d.get("index") is not None else ""
        return (
            f"{self._where(e)}{item} retry: attempt {d.get('attempt')} failed with "
            f"{d.get('error_class')} ({_one_line(provider_message(d.get('message', '')), 160)}), "
            f"next attempt in {format_duration(d.get('delay_s'))}"
        )

    def _ratelimit_wait(self, e: Event, now: float) -> str | None:
        key = str(e.data.get("key"))
        wait = self._waits.get(key)
        if wait is not None and now - wait.printed_at < self._wait_interval:
            wait.suppressed += 1
            wait.last_at = now
            return None
        suppressed = wait.suppressed if wait is not None else 0
        self._waits[key] = _WaitLine(printed_at=now, last_at=now)
        if self._quiet:
            return None
        text = (
            f"rate limit {key}: waiting ~{format_duration(e.data.get('expected_wait_s'))} "
            f"({e.data.get('reason')})"
        )
        if suppressed:
            text += f"; {_plural(suppressed, 'more wait')} since the last line"
        return text

    def _budget(self, e: Event) -> str:
        scope = str(e.data.get("scope", "run"))
        if scope == "run" or ":" in scope:
            return budget_words(scope)
        return f"{scope} budget ({self._where(e)})"

    def _budget_warning(self, e: Event, now: float) -> str | None:
        d = e.data
        return (
            f"WARNING: {self._budget(e)} {float(d.get('fraction', 0)):.0%} used "
            f"({format_usd(d.get('spent_usd'))} of {format_usd(d.get('limit_usd'))})"
        )

    def _budget_exceeded(self, e: Event, now: float) -> str | None:
        d = e.data
        scope = str(d.get("scope", "run"))
        refusals = self._refusals.get(scope)
        if refusals is not None:
            # Every call in flight is refused in turn: one line for the first, a count after.
            refusals.more += 1
            refusals.spent_usd = d.get("spent_usd")
            return None
        self._refusals[scope] = _Refusals(d.get("spent_usd"), d.get("limit_usd"))
        action = "failing" if d.get("action") == "fail" else "skipping non-critical agents"
        return (
            f"BUDGET EXCEEDED: {self._budget(e)} {format_usd(d.get('limit_usd'))}: "
            f"{format_usd(d.get('spent_usd'))} spent, a call reserving up to "
            f"{format_usd(d.get('requested_usd'))} (prompt + max_tokens) did not fit; {action} "
            "(lower max_tokens or raise the budget)"
        )

    def _tool_result(self, e: Event, now: float) -> str | None:
        if self._quiet or e.data.get("ok", True):
            return None
        return (
            f"{self._where(e)} tool {e.data.get('tool')} failed after "
            f"{format_duration(e.data.get('duration_s'))}: {_one_line(e.data.get('output', ''), 160)}"
        )

    def _output_failed(self, e: Event, now: float) -> str | None:
        d = e.data
        return (
            f"WARNING: {self._where(e)} output {d.get('output')} is null: its template failed "
            f"({_one_line(d.get('message', ''), 200)})"
        )

    def _deadline_missed(self, e: Event, now: float) -> str | None:
        d = e.data
        going = "cancelling its remaining work" if d.get("on_deadline") == "cancel" else "going on"
        return (
            f"WARNING: {self._where(e)} missed its deadline "
            f"({format_duration(d.get('deadline_s'))} after the start) with "
            f"{d.get('pending_agents')} agent(s) unfinished; {going}"
        )

    def _workflow_completed(self, e: Event, now: float) -> str | None:
        self._instances_done += 1
        d = e.data
        status = d.get("status")
        # Quiet: one instance's result is the run's, said by the run's own line.
        if self._quiet and (status == "ok" or not self._multi_instance):
            return None
        return (
            f"{self._where(e)} finished {status} in {format_duration(d.get('duration_s'))}, "
            f"cost {format_usd(d.get('cost_usd'))}; agents {_agent_counts(d.get('agents', {}))}"
        )

    def _run_completed(self, e: Event, now: float) -> str | None:
        self._flush_waits(now)
        self._flush_refusals(now)
        d = e.data
        if self._quiet and d.get("status") == "ok":
            return None
        t: Mapping[str, Any] = d.get("totals", {})
        cost = format_usd(t.get("cost_usd"))
        unknown = int(t.get("unknown_cost_calls", 0))
        if unknown:
            cost += f" + unknown ({_plural(unknown, 'call')} without a price)"
        return (
            f"run {e.run_id} finished {d.get('status')} (exit {d.get('exit_code')}) in "
            f"{format_duration(d.get('duration_s'))}: cost {cost}, "
            f"{format_count(t.get('input_tokens'))} in / {format_count(t.get('output_tokens'))} "
            f"out tokens, {_plural(int(t.get('calls', 0)), 'call')}, "
            f"{_plural(int(t.get('retries', 0)), 'retry', 'retries')}; "
            f"agents {_agent_counts(t.get('agents', {}))}"
        )

    def _run_cancelled(self, e: Event, now: float) -> str | None:
        signal = e.data.get("signal")
        by = f" by {signal}" if signal else ""
        text = f"run {e.run_id} cancelled{by}: {_one_line(e.data.get('reason', ''))}"
        if self._cancelled_agents:
            text += f"; {_plural(self._cancelled_agents, 'agent')} not run"
        return text

    _RENDERERS: Mapping[str, Callable[[PlainSink, Event, float], str | None]] = {
        "run.started": _run_started,
        "workflow.started": _workflow_started,
        "agent.started": _agent_started,
        "agent.completed": _agent_completed,
        "agent.failed": _agent_failed,
        "agent.skipped": _agent_skipped,
        "llm.retry": _llm_retry,
        "ratelimit.wait": _ratelimit_wait,
        "budget.warning": _budget_warning,
        "budget.exceeded": _budget_exceeded,
        "tool.result": _tool_result,
        "workflow.output_failed": _output_failed,
        "workflow.deadline_missed": _deadline_missed,
        "workflow.completed": _workflow_completed,
        "run.completed": _run_completed,
        "run.cancelled": _run_cancelled,
    }
