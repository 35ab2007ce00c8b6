"""The metrics sink: engine events in, Prometheus collectors out (see docs/metrics.md).

    sink = MetricsSink(statistics=engine.statistics)
    bus = EventBus(run_id, time.time, [log, summary, sink])
    ...
    sink.exposition()              # the text format, for /metrics or a textfile

Every collector lives in the sink's own `CollectorRegistry`, never the process-wide one, so
two runs in one process (tests, benchmarks) never share a counter. Counters follow the
events; what no event carries (the money a budget has left, the seconds calls waited for a
rate limit) is read from the engine's `statistics()` when the metrics are collected, on the
event loop's thread (the endpoint and the textfile writer both run there).

Labels are bounded by the workflow files, never by the data: `workflow` (a workflow's name),
`agent` (an agent's id), `model`, `key` (a `limits:` key), and small fixed sets (`outcome`,
`status`, `reason`, `error_class`, `direction`, `scope`). No run id, instance number, input
value or prompt is ever a label: instances of a workflow add up in the same series, and a
budget per instance is reported for the instance nearest its limit.

This module imports `prometheus_client`; only a run asked for metrics imports it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from agentflow.events.types import Event

# The `_created` series (when each labelled child was made) would double what every scrape
# carries and nobody alerts on them. This process has no other prometheus_client user.
disable_created_metrics()  # type: ignore[no-untyped-call]

# Agents take from a fraction of a second (a cached answer) to many minutes (tool loops).
AGENT_BUCKETS = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0)
REQUEST_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)

# The error classes of a model call (agentflow.errors.LLMError and its subclasses).
LLM_ERROR_CLASSES = frozenset(
    {
        "rate_limit",
        "insufficient_quota",
        "timeout",
        "connection",
        "server_error",
        "authentication",
        "bad_request",
        "context_window",
        "content_policy",
        "not_found",
        "mock_error",
    }
)

_INSTANCE = re.compile(r"#\d+(?=\.|$)")


def budget_labels(scope: str) -> tuple[str, str, str]:
    """(`scope`, `workflow`, `agent`) labels of a ledger scope name, without the instance.

    `run` -> ("run", "", ""); `workflow:hr#3` -> ("workflow", "hr", "");
    `agent:hr#3.screen` -> ("agent", "hr", "screen"); a standing account
    `standing:nightly@2026-12-02` -> ("standing", "nightly", ""): its key, not its period.
    """
    kind, _, owner = scope.partition(":")
    if not owner:
        return kind, "", ""
    if kind == "standing":
        return kind, owner.rpartition("@")[0] or owner, ""
    owner = _INSTANCE.sub("", owner, count=1)
    if kind == "agent":
        workflow, _, agent = owner.partition(".")
        return kind, workflow, agent
    return kind, owner, ""


_AgentKey = tuple[str | None, int | None, str | None]

StatisticsSource = Callable[[], Any]
"""Returns the engine's `EngineStatistics` (or anything with `budgets` and `limits`)."""


class _LiveCollector(Collector):
    """What the engine knows and no event says: budgets left and rate-limit waits."""

    def __init__(self, statistics: StatisticsSource | None) -> None:
        self._statistics = statistics

    def describe(self) -> Iterator[Metric]:
        yield from self._families()

    def collect(self) -> Iterator[Metric]:
        remaining, limit, spent, waited = self._families()
        stats = self._statistics() if self._statistics is not None else None
        budgets = getattr(stats, "budgets", None)
        if budgets is not None:
            nearest: dict[tuple[str, str, str], Any] = {}
            for scope in budgets.scopes:
                if scope.limit_usd is None:
                    continue
                labels = budget_labels(scope.name)
                kept = nearest.get(labels)
                if kept is None or scope.remaining_usd < kept.remaining_usd:
                    nearest[labels] = scope
            for labels, scope in nearest.items():
                remaining.add_metric(labels, scope.remaining_usd)
                limit.add_metric(labels, scope.limit_usd)
                spent.add_metric(labels, scope.spent_usd)
        limits = getattr(stats, "limits", None)
        if limits is not None:
            for key in limits.keys:
                waited.add_metric((key.key,), key.wait_s)
        yield from (remaining, limit, spent, waited)

    @staticmethod
    def _families() -> tuple[
        GaugeMetricFamily, GaugeMetricFamily, GaugeMetricFamily, CounterMetricFamily
    ]:
        scope = ("scope", "workflow", "agent")
        return (
            GaugeMetricFamily(
                "agentflow_budget_remaining_usd",
                "USD a budget scope has left (limit less spent and reserved); per-instance "
                "scopes report the instance nearest its limit.",
                labels=scope,
            ),
            GaugeMetricFamily(
                "agentflow_budget_limit_usd", "The max_usd of a budget scope.", labels=scope
            ),
            GaugeMetricFamily(
                "agentflow_budget_spent_usd",
                "USD a budget scope has spent, unconfirmed cost included.",
                labels=scope,
            ),
            CounterMetricFamily(
                "agentflow_ratelimit_wait_seconds",
                "Seconds model calls waited for the rate limiter, by limits key.",
                labels=("key",),
            ),
        )


class MetricsSink:
    """Reads every run event into Prometheus collectors kept in `registry`.

    `statistics` (the engine's `statistics` method) feeds the gauges no event carries; it
    is called only when the metrics are collected.
    """

    label = "the metrics"

    def __init__(self, *, statistics: StatisticsSource | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        r = self.registry
        wf, ag = "workflow", "agent"
        self.workflows_started = Counter(
            "agentflow_workflows_started", "Workflow instances started.", (wf,), registry=r
        )
        self.workflows_completed = Counter(
            "agentflow_workflows_completed",
            "Workflow instances that ended ok.",
            (wf,),
            registry=r,
        )
        self.workflows_failed = Counter(
            "agentflow_workflows_failed",
            "Workflow instances that did not end ok, by status (failed, partial, budget, "
            "cancelled).",
            (wf, "status"),
            registry=r,
        )
        self.agents_started = Counter(
            "agentflow_agents_started", "Agents started.", (wf,), registry=r
        )
        self.agents_completed = Counter(
            "agentflow_agents_completed", "Agents that completed.", (wf, ag), registry=r
        )
        self.agents_failed = Counter(
            "agentflow_agents_failed",
            "Agents that failed, by error class.",
            (wf, ag, "error_class"),
            registry=r,
        )
        self.agents_skipped = Counter(
            "agentflow_agents_skipped", "Agents skipped, by reason.", (wf, ag, "reason"), registry=r
        )
        self.agents_reused = Counter(
            "agentflow_agents_reused",
            "Agents whose result a resumed or retried run took from an earlier run.",
            (wf, ag, "status"),
            registry=r,
        )
        self.agents_running = Gauge(
            "agentflow_agents_running", "Agents running now.", (wf,), registry=r
        )
        # By workflow and model, not by agent: a histogram is 14 series, and a file of 2,000
        # agents would make 28,000 of them (per-agent times are in `agentflow report`).
        self.agent_duration = Histogram(
            "agentflow_agent_duration_seconds",
            "How long agents that completed or failed took, retries and waits included.",
            (wf, "model"),
            buckets=AGENT_BUCKETS,
            registry=r,
        )
        self.llm_requests = Counter(
            "agentflow_llm_requests",
            "Model calls sent, by outcome: ok, an error class (rate_limit, timeout, ...), or "
            "abandoned (no answer came).",
            ("model", "outcome"),
            registry=r,
        )
        self.llm_throttled = Counter(
            "agentflow_llm_throttled",
            "Model calls the provider refused with a rate limit (HTTP 429).",
            ("model",),
            registry=r,
        )
        self.llm_retries = Counter(
            "agentflow_llm_retries",
            "Model calls retried, by error class.",
            ("model", "error_class"),
            registry=r,
        )
        self.llm_reused = Counter(
            "agentflow_llm_reused_responses",
            "Answers taken at $0 instead of a call: replayed from the journal or cached.",
            ("model", "source"),
            registry=r,
        )
        self.llm_duration = Histogram(
            "agentflow_llm_request_duration_seconds",
            "Latency of answered model calls.",
            ("model",),
            buckets=REQUEST_BUCKETS,
            registry=r,
        )
        self.tokens = Counter(
            "agentflow_tokens",
            "Tokens of answered model calls, by direction (input, output).",
            ("model", "direction"),
            registry=r,
        )
        self.cost = Counter(
            "agentflow_cost_usd",
            "Confirmed cost in USD: what answered calls cost at known prices.",
            (wf, "model"),
            registry=r,
        )
        self.unconfirmed_cost = Counter(
            "agentflow_unconfirmed_cost_usd",
            "Worst-case cost in USD of calls sent and never answered (they may be billed).",
            (wf, "model"),
            registry=r,
        )
        self.unknown_cost = Counter(
            "agentflow_llm_unknown_cost_responses",
            "Answered calls whose price is unknown: their cost is not in agentflow_cost_usd.",
            ("model",),
            registry=r,
        )
        self.ratelimit_waits = Counter(
            "agentflow_ratelimit_waits",
            "Model calls that had to wait for a rate limit, by limits key and reason.",
            ("key", "reason"),
            registry=r,
        )
        budget = ("scope", wf, ag)
        self.budget_warnings = Counter(
            "agentflow_budget_warnings",
            "Budget scopes that reached their warn_at fraction.",
            budget,
            registry=r,
        )
        self.budget_waits = Counter(
            "agentflow_budget_waits",
            "Model calls that waited for other calls' budget reservations to settle.",
            budget,
            registry=r,
        )
        self.budget_exceeded = Counter(
            "agentflow_budget_exceeded",
            "Reservations a budget refused.",
            budget,
            registry=r,
        )
        self.run_start = Gauge(
            "agentflow_run_start_time_seconds", "When the run started (Unix time).", registry=r
        )
        self.run_end = Gauge(
            "agentflow_run_end_time_seconds", "When the run ended (Unix time).", registry=r
        )
        self.run_in_progress = Gauge(
            "agentflow_run_in_progress", "1 while the run is going on, 0 once it ended.", registry=r
        )
        self.run_exit_code = Gauge(
            "agentflow_run_exit_code", "The run's exit code, once it ended.", registry=r
        )
        self.registry.register(_LiveCollector(statistics))
        # The model calls (by fan-out index) of each agent in progress that no answer, retry
        # or abandon has closed yet: the one an agent failed on is counted with its error.
        self._open: dict[_AgentKey, set[int | None]] = {}
        self._running: set[_AgentKey] = set()
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}
        self._handlers: dict[str, Callable[[Event], None]] = {
            "run.started": self._run_started,
            "workflow.started": self._workflow_started,
            "agent.started": self._agent_started,
            "llm.request": self._llm_request,
            "llm.response": self._llm_response,
            "llm.abandoned": self._llm_abandoned,
            "llm.retry": self._llm_retry,
            "ratelimit.wait": self._ratelimit_wait,
            "budget.wait": self._budget_wait,
            "budget.warning": self._budget_warning,
            "budget.exceeded": self._budget_exceeded,
            "agent.completed": self._agent_completed,
            "agent.failed": self._agent_failed,
            "agent.skipped": self._agent_skipped,
            "agent.reused": self._agent_reused,
            "workflow.completed": self._workflow_completed,
            "run.completed": self._run_completed,
        }

    def _child(self, metric: Any, *labels: str) -> Any:
        """`metric.labels(*labels)`, looked up once: `labels()` validates and locks each time,
        and the engine emits thousands of events a second."""
        key = (id(metric), labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    # -- the sink ---------------------------------------------------------------------------

    def handle(self, event: Event) -> None:
        handler = self._handlers.get(event.event)
        if handler is not None:
            handler(event)

    def close(self) -> None:
        """Nothing to release: the registry stays readable after the run."""

    def exposition(self) -> bytes:
        """Every metric in the Prometheus text format (version 0.0.4)."""
        return generate_latest(self.registry)

    # -- handlers ---------------------------------------------------------------------------

    def _run_started(self, event: Event) -> None:
        self.run_start.set(event.ts)
        self.run_in_progress.set(1)

    def _workflow_started(self, event: Event) -> None:
        self._child(self.workflows_started, event.workflow or "").inc()

    def _agent_started(self, event: Event) -> None:
        self._child(self.agents_started, event.workflow or "").inc()
        self._running.add((event.workflow, event.instance, event.agent))
        self._child(self.agents_running, event.workflow or "").inc()

    def _llm_request(self, event: Event) -> None:
        key = (event.workflow, event.instance, event.agent)
        self._open.setdefault(key, set()).add(event.data.get("index"))

    def _close_call(self, event: Event) -> bool:
        """Close the call an answer, retry or abandon is about; False if none was open."""
        key = (event.workflow, event.instance, event.agent)
        calls = self._open.get(key)
        index = event.data.get("index")
        if calls is None or index not in calls:
            return False
        calls.discard(index)
        return True

    def _llm_response(self, event: Event) -> None:
        data = event.data
        model = str(data.get("model"))
        if data.get("replayed") or data.get("cached"):
            self._child(
                self.llm_reused, model, "replayed" if data.get("replayed") else "cached"
            ).inc()
            return
        self._close_call(event)
        self._child(self.llm_requests, model, "ok").inc()
        self._child(self.tokens, model, "input").inc(data.get("input_tokens") or 0)
        self._child(self.tokens, model, "output").inc(data.get("output_tokens") or 0)
        cost = data.get("cost_usd")
        if cost is None:
            self._child(self.unknown_cost, model).inc()
        else:
            self._child(self.cost, event.workflow or "", model).inc(cost)
        latency = data.get("latency_s")
        if latency is not None:
            self._child(self.llm_duration, model).observe(latency)

    def _llm_abandoned(self, event: Event) -> None:
        data = event.data
        model = str(data.get("model"))
        self._close_call(event)
        if not data.get("sent", True):
            return  # it never left: nothing was asked of the provider
        # timeout, connection or cancelled: sent, never answered, maybe billed.
        self._child(self.llm_requests, model, str(data.get("reason"))).inc()
        unconfirmed = data.get("unconfirmed_cost_usd")
        if unconfirmed:
            self._child(self.unconfirmed_cost, event.workflow or "", model).inc(unconfirmed)

    def _llm_retry(self, event: Event) -> None:
        data = event.data
        model, error_class = str(data.get("model")), str(data.get("error_class"))
        if self._close_call(event):  # else its llm.abandoned counted it already
            self._count_error(model, error_class)
        self._child(self.llm_retries, model, error_class).inc()

    def _count_error(self, model: str, error_class: str) -> None:
        self._child(self.llm_requests, model, error_class).inc()
        if error_class == "rate_limit":
            self._child(self.llm_throttled, model).inc()

    def _ratelimit_wait(self, event: Event) -> None:
        data = event.data
        self._child(self.ratelimit_waits, str(data.get("key")), str(data.get("reason"))).inc()

    def _budget_warning(self, event: Event) -> None:
        self._child(self.budget_warnings, *budget_labels(str(event.data.get("scope")))).inc()

    def _budget_wait(self, event: Event) -> None:
        self._child(self.budget_waits, *budget_labels(str(event.data.get("scope")))).inc()

    def _budget_exceeded(self, event: Event) -> None:
        self._child(self.budget_exceeded, *budget_labels(str(event.data.get("scope")))).inc()

    def _agent_ended(self, event: Event) -> tuple[str, str]:
        workflow, agent = event.workflow or "", event.agent or ""
        key = (event.workflow, event.instance, event.agent)
        self._open.pop(key, None)
        if key in self._running:
            self._running.discard(key)
            self._child(self.agents_running, workflow).dec()
        return workflow, agent

    def _observe_duration(self, workflow: str, event: Event) -> None:
        duration = event.data.get("duration_s")
        if duration is not None:
            model = str(event.data.get("model"))
            self._child(self.agent_duration, workflow, model).observe(duration)

    def _agent_completed(self, event: Event) -> None:
        workflow, agent = self._agent_ended(event)
        self._observe_duration(workflow, event)
        self._child(self.agents_completed, workflow, agent).inc()

    def _agent_failed(self, event: Event) -> None:
        error_class = str(event.data.get("error_class"))
        calls = self._open.get((event.workflow, event.instance, event.agent))
        if calls and error_class in LLM_ERROR_CLASSES:
            # The call the agent failed on: its error ended it, no retry event followed.
            for _ in calls:
                self._count_error(str(event.data.get("model")), error_class)
        workflow, agent = self._agent_ended(event)
        self._observe_duration(workflow, event)
        self._child(self.agents_failed, workflow, agent, error_class).inc()

    def _agent_skipped(self, event: Event) -> None:
        workflow, agent = self._agent_ended(event)
        self._child(self.agents_skipped, workflow, agent, str(event.data.get("reason"))).inc()

    def _agent_reused(self, event: Event) -> None:
        self._child(
            self.agents_reused,
            event.workflow or "",
            event.agent or "",
            str(event.data.get("status")),
        ).inc()

    def _workflow_completed(self, event: Event) -> None:
        status = str(event.data.get("status"))
        if status == "ok":
            self._child(self.workflows_completed, event.workflow or "").inc()
        else:
            self._child(self.workflows_failed, event.workflow or "", status).inc()

    def _run_completed(self, event: Event) -> None:
        self.run_end.set(event.ts)
        self.run_in_progress.set(0)
        code = event.data.get("exit_code")
        if isinstance(code, int):
            self.run_exit_code.set(code)
