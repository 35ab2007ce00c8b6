"""Plain progress lines for a log file or cron mail: one timestamped line per meaningful event.

    2026-11-24T10:00:01Z run r1 started: hr_onboarding (1 instance), max concurrency 50, ...
    2026-11-24T10:00:04Z hr_onboarding/screen completed in 3.20s: $0.0002, 812 in / 95 out tokens, 2 calls

Never any ANSI codes: control characters in messages become visible escapes (`\\x1b`), and
secrets are redacted. Per-call events (requests, responses, tool calls) are left to the JSONL log;
rate-limit waits are aggregated to at most one line per limit key per `wait_interval` seconds.
With `quiet=True` only warnings and failures are printed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TextIO

from agentflow.events.types import Event
from agentflow.redaction import clean
from agentflow.sinks import format_count, format_duration, format_usd

_MESSAGE_LIMIT = 300


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
    ) -> None:
        self._stream = stream
        self._clock = clock
        self._quiet = quiet
        self._wait_interval = wait_interval
        self._waits: dict[str, _WaitLine] = {}
        self._multi_instance = False
        self._closed = False

    # -- Sink -------------------------------------------------------------------------------

    def handle(self, event: Event) -> None:
        render = self._RENDERERS.get(event.event)
        if render is None:
            return
        now = self._clock() if self._clock is not None else event.ts
        text = render(self, event, now)
        if text is not None:
            self._write(now, text)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._flush_waits(self._clock() if self._clock is not None else None)
        self._stream.flush()

    # -- helpers ----------------------------------------------------------------------------

    def _write(self, now: float, text: str) -> None:
        # Lines carry text from outside (provider errors, tool output): no secret, and no
        # control character that a terminal or a log viewer would act on.
        self._stream.write(f"{_stamp(now)} {clean(text)}\n")
        self._stream.flush()

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
        if self._quiet:
            return None
        items = e.data.get("items")
        fan_out = f", {_plural(items, 'item')}" if items is not None else ""
        return f"{self._where(e)} started ({e.data.get('model')}{fan_out})"

    def _agent_completed(self, e: Event, now: float) -> str | None:
        if self._quiet:
            return None
        d = e.data
        return (
            f"{self._where(e)} completed in {format_duration(d.get('duration_s'))}: "
            f"cost {format_usd(d.get('cost_usd'))}, {format_count(d.get('input_tokens'))} in / "
            f"{format_count(d.get('output_tokens'))} out tokens, {_plural(d.get('calls', 0), 'call')}"
        )

    def _agent_failed(self, e: Event, now: float) -> str | None:
        d = e.data
        return (
            f"{self._where(e)} FAILED in {format_duration(d.get('duration_s'))} after "
            f"{_plural(d.get('attempts', 0), 'attempt')}: {d.get('error_class')}: "
            f"{_one_line(d.get('message', ''))} ({format_usd(d.get('cost_usd'))} spent)"
        )

    def _agent_skipped(self, e: Event, now: float) -> str | None:
        reason = e.data.get("reason")
        if self._quiet and reason == "condition_false":
            return None
        detail = e.data.get("detail")
        return f"{self._where(e)} skipped: {reason}" + (f" ({_one_line(detail)})" if detail else "")

    def _llm_retry(self, e: Event, now: float) -> str | None:
        if self._quiet:
            return None
        d = e.data
        item = f" item {d['index']}" if d.get("index") is not None else ""
        return (
            f"{self._where(e)}{item} retry: attempt {d.get('attempt')} failed with "
            f"{d.get('error_class')} ({_one_line(d.get('message', ''), 160)}), "
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

    def _scope(self, e: Event) -> str:
        scope = e.data.get("scope", "run")
        return "run" if scope == "run" else f"{scope} {self._where(e)}"

    def _budget_warning(self, e: Event, now: float) -> str | None:
        d = e.data
        return (
            f"WARNING: {self._scope(e)} budget {float(d.get('fraction', 0)):.0%} used "
            f"({format_usd(d.get('spent_usd'))} of {format_usd(d.get('limit_usd'))})"
        )

    def _budget_exceeded(self, e: Event, now: float) -> str | None:
        d = e.data
        action = "failing" if d.get("action") == "fail" else "skipping non-critical agents"
        return (
            f"BUDGET EXCEEDED: {self._scope(e)} budget {format_usd(d.get('limit_usd'))}: "
            f"{format_usd(d.get('spent_usd'))} spent, a call needing up to "
            f"{format_usd(d.get('requested_usd'))} refused; {action}"
        )

    def _tool_result(self, e: Event, now: float) -> str | None:
        if self._quiet or e.data.get("ok", True):
            return None
        return (
            f"{self._where(e)} tool {e.data.get('tool')} failed after "
            f"{format_duration(e.data.get('duration_s'))}: {_one_line(e.data.get('output', ''), 160)}"
        )

    def _workflow_completed(self, e: Event, now: float) -> str | None:
        d = e.data
        status = d.get("status")
        if self._quiet and status == "ok":
            return None
        return (
            f"{self._where(e)} finished {status} in {format_duration(d.get('duration_s'))}, "
            f"cost {format_usd(d.get('cost_usd'))}; agents {_agent_counts(d.get('agents', {}))}"
        )

    def _run_completed(self, e: Event, now: float) -> str | None:
        self._flush_waits(now)
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
        return f"run {e.run_id} cancelled{by}: {_one_line(e.data.get('reason', ''))}"

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
        "workflow.completed": _workflow_completed,
        "run.completed": _run_completed,
        "run.cancelled": _run_cancelled,
    }
