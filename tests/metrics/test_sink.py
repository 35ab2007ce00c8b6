"""The metrics sink reads a real engine run (fake model, virtual time) into Prometheus
collectors that agree with the run's own events."""

from __future__ import annotations

import asyncio
from typing import Any

import prometheus_client
import pytest

from agentflow.errors import BadRequest, RateLimited, ServerError
from agentflow.events.bus import EventBus
from agentflow.events.types import Event
from agentflow.llm.types import LLMRequest, LLMResponse
from agentflow.model.types import Budget, RetryPolicy
from agentflow.run.clock import run_virtual, virtual_clock
from agentflow.run.engine import Engine, Instance, RunSettings
from agentflow.run.results import RunResult
from agentflow.sinks.metrics import MetricsSink, budget_labels
from tests.run.test_engine import FakeClient, InlineTools, Recorder, agent, workflow

MINI = "openai/gpt-4o-mini"
BIG = "openai/gpt-4o"
ONE_TRY = RetryPolicy(max_attempts=1, initial_delay=0.1, jitter=False)
TWO_TRIES = RetryPolicy(max_attempts=2, initial_delay=0.5, jitter=False)


def run_with_metrics(
    instances: list[Instance], client: FakeClient, *, budget_usd: float | None = None
) -> tuple[RunResult, Recorder, MetricsSink]:
    recorder = Recorder()
    holder: dict[str, Engine] = {}
    sink = MetricsSink(statistics=lambda: holder["engine"].statistics())

    async def main() -> RunResult:
        clock = virtual_clock()
        bus = EventBus("run-1", clock.wall, [recorder, sink])
        engine = holder["engine"] = Engine(
            client=client,
            clock=clock,
            bus=bus,
            tool_runner_for=lambda wf: InlineTools(wf.tools),
            settings=RunSettings(run_id="run-1", budget_usd=budget_usd, seed=1),
        )
        result = await engine.run(instances)
        bus.close()
        return result

    return run_virtual(main()), recorder, sink


def value(sink: MetricsSink, name: str, **labels: str) -> float:
    found = sink.registry.get_sample_value(name, labels)
    return 0.0 if found is None else found


def samples(sink: MetricsSink, name: str) -> list[Any]:
    return [s for m in sink.registry.collect() for s in m.samples if s.name == name]


def _mixed_behaviour() -> Any:
    """flaky: 503 then ok; throttled: 429 then ok; broken: a 400 (not retried)."""
    seen: dict[str, int] = {}

    def behaviour(request: LLMRequest, n: int) -> LLMResponse:
        prompt = request.messages[-1].content or ""
        tries = seen[prompt] = seen.get(prompt, 0) + 1
        if prompt.startswith("flaky") and tries == 1:
            raise ServerError("overloaded", status_code=503)
        if prompt.startswith("throttled") and tries == 1:
            raise RateLimited("slow down", status_code=429, retry_after=1.0)
        if prompt.startswith("broken"):
            raise BadRequest("bad", status_code=400)
        return LLMResponse("ok", (), 100, 20, request.model, "stop")

    return behaviour


def test_counters_agree_with_the_run_log_for_answers_retries_errors_and_timeouts() -> None:
    wf = workflow(
        agent("flaky", prompt="flaky one", model=MINI, retry=TWO_TRIES),
        agent("throttled", prompt="throttled one", model=BIG, retry=TWO_TRIES),
        agent("broken", prompt="broken one", model=MINI, critical=False, retry=TWO_TRIES),
        agent("after_broken", "broken", prompt="never", critical=False),
        agent(
            "slow",
            prompt="slow [latency=30]",
            model=MINI,
            timeout=2.0,
            retry=ONE_TRY,
            critical=False,
        ),
        agent("fine", "flaky", prompt="fine", model=BIG),
    )
    result, recorder, sink = run_with_metrics([Instance(wf, 0, {})], FakeClient(_mixed_behaviour()))
    assert result.status == "partial"

    # Every model call sent is counted once, with what became of it.
    requests = {
        (s.labels["model"], s.labels["outcome"]): s.value
        for s in samples(sink, "agentflow_llm_requests_total")
    }
    assert requests == {
        (MINI, "server_error"): 1,
        (MINI, "ok"): 1,  # flaky's second try
        (BIG, "rate_limit"): 1,
        (BIG, "ok"): 2,  # throttled's second try and fine
        (MINI, "bad_request"): 1,  # broken: failed without a retry event
        (MINI, "timeout"): 1,  # slow: abandoned, never answered
    }
    assert sum(requests.values()) == len(recorder.named("llm.request"))
    assert value(sink, "agentflow_llm_throttled_total", model=BIG) == 1
    assert value(sink, "agentflow_llm_retries_total", model=MINI, error_class="server_error") == 1
    assert value(sink, "agentflow_llm_retries_total", model=BIG, error_class="rate_limit") == 1

    totals = recorder.events[-1].data["totals"]
    tokens = samples(sink, "agentflow_tokens_total")
    assert (
        sum(s.value for s in tokens if s.labels["direction"] == "input") == totals["input_tokens"]
    )
    assert (
        sum(s.value for s in tokens if s.labels["direction"] == "output") == totals["output_tokens"]
    )
    cost = sum(s.value for s in samples(sink, "agentflow_cost_usd_total"))
    assert cost == pytest.approx(totals["cost_usd"]) and cost > 0
    unconfirmed = sum(s.value for s in samples(sink, "agentflow_unconfirmed_cost_usd_total"))
    assert unconfirmed == pytest.approx(totals["unconfirmed_cost_usd"]) and unconfirmed > 0

    # Agents and the workflow.
    def agents(name: str) -> dict[tuple[str, ...], float]:
        return {
            tuple(v for k, v in sorted(s.labels.items()) if k != "workflow"): s.value
            for s in samples(sink, name)
        }

    assert agents("agentflow_agents_completed_total") == {
        ("flaky",): 1,
        ("throttled",): 1,
        ("fine",): 1,
    }
    assert agents("agentflow_agents_failed_total") == {
        ("broken", "bad_request"): 1,
        ("slow", "timeout"): 1,
    }
    assert agents("agentflow_agents_skipped_total") == {("after_broken", "dependency_failed"): 1}
    assert value(sink, "agentflow_agents_running", workflow="wf") == 0
    assert value(sink, "agentflow_workflows_started_total", workflow="wf") == 1
    assert value(sink, "agentflow_workflows_failed_total", workflow="wf", status="partial") == 1
    assert value(sink, "agentflow_workflows_completed_total", workflow="wf") == 0

    # Durations are the engine's: the slow agent waited its 2 s timeout.
    slow = recorder.of("agent.failed", "slow").data["duration_s"]
    mini = [
        recorder.of(e, a).data["duration_s"]
        for e, a in (
            ("agent.completed", "flaky"),
            ("agent.failed", "broken"),
            ("agent.failed", "slow"),
        )
    ]
    assert slow in mini
    assert value(
        sink, "agentflow_agent_duration_seconds_sum", workflow="wf", model=MINI
    ) == pytest.approx(sum(mini))
    assert value(sink, "agentflow_agent_duration_seconds_count", workflow="wf", model=MINI) == 3
    assert value(sink, "agentflow_agent_duration_seconds_count", workflow="wf", model=BIG) == 2
    assert value(sink, "agentflow_run_exit_code") == result.exit_code
    assert value(sink, "agentflow_run_in_progress") == 0
    assert value(sink, "agentflow_run_end_time_seconds") == recorder.events[-1].ts


def test_instances_add_up_in_bounded_series_with_no_run_id_or_instance_label() -> None:
    wf = workflow(
        agent("a", model=MINI, budget=Budget(max_usd=1.0)),
        agent("b", "a", model=MINI),
        budget=Budget(max_usd=2.0),
    )
    instances = [Instance(wf, i, {}) for i in range(40)]
    _, recorder, sink = run_with_metrics(instances, FakeClient())

    completed = samples(sink, "agentflow_agents_completed_total")
    assert sorted((s.labels["agent"], s.value) for s in completed) == [("a", 40), ("b", 40)]
    label_values = {
        v for m in sink.registry.collect() for s in m.samples for v in s.labels.values()
    }
    assert "run-1" not in label_values
    assert not any("#" in v for v in label_values)  # no instance in a label
    # 40 instances have a workflow budget each: one series, for the one nearest its limit.
    remaining = {
        (s.labels["scope"], s.labels["agent"]): s.value
        for s in samples(sink, "agentflow_budget_remaining_usd")
    }
    assert set(remaining) == {("workflow", ""), ("agent", "a")}
    scopes = recorder.events[-1].data["budgets"]
    per_instance = [b["limit_usd"] - b["spent_usd"] for b in scopes if b["scope"].startswith("wor")]
    assert len(per_instance) == 40
    assert remaining[("workflow", "")] == pytest.approx(min(per_instance))


def test_budget_gauges_follow_the_ledger_while_the_run_goes_on() -> None:
    wf = workflow(
        *[agent(f"a{i}", prompt=f"task {i} [latency={i + 1}]", model=BIG) for i in range(4)]
    )
    seen: list[tuple[float, float]] = []
    holder: dict[str, Engine] = {}
    sink = MetricsSink(statistics=lambda: holder["engine"].statistics())

    async def main() -> RunResult:
        clock = virtual_clock()
        bus = EventBus("run-1", clock.wall, [sink])
        engine = holder["engine"] = Engine(
            client=FakeClient(),
            clock=clock,
            bus=bus,
            settings=RunSettings(run_id="run-1", budget_usd=1.0, seed=1),
        )

        async def watch() -> None:
            for _ in range(5):
                await clock.sleep(1.0)
                seen.append(
                    (
                        value(
                            sink,
                            "agentflow_budget_remaining_usd",
                            scope="run",
                            workflow="",
                            agent="",
                        ),
                        engine.statistics().budgets.scope("run").remaining_usd,  # type: ignore[union-attr]
                    )
                )

        watcher = asyncio.create_task(watch())
        result = await engine.run([Instance(wf, 0, {})])
        await watcher
        return result

    run_virtual(main())
    assert [mine for mine, _ in seen] == [ledger for _, ledger in seen]
    assert seen[0][0] < seen[-1][0] < 1.0  # reservations first, then settled answers
    assert value(sink, "agentflow_budget_limit_usd", scope="run", workflow="", agent="") == 1.0


def test_budget_scopes_lose_their_instance_but_keep_workflow_and_agent() -> None:
    assert budget_labels("run") == ("run", "", "")
    assert budget_labels("workflow:hr#12") == ("workflow", "hr", "")
    assert budget_labels("agent:hr#3.screen") == ("agent", "hr", "screen")
    # A standing account keeps its key and loses its period: one series across days.
    assert budget_labels("standing:nightly@2026-12-02") == ("standing", "nightly", "")


def test_budget_waits_are_counted_by_scope() -> None:
    sink = MetricsSink()
    for n in range(2):
        sink.handle(
            Event(
                "budget.wait",
                float(n),
                "r1",
                n + 1,
                "hr",
                n,
                "screen",
                {"scope": f"workflow:hr#{n}", "requested_usd": 0.01, "model": "m", "index": None},
            )
        )
    assert (
        value(sink, "agentflow_budget_waits_total", scope="workflow", workflow="hr", agent="") == 2
    )


def test_each_sink_has_its_own_registry_and_the_global_one_stays_empty() -> None:
    one, two = MetricsSink(), MetricsSink()
    one.workflows_started.labels("wf").inc()
    assert (
        two.registry.get_sample_value("agentflow_workflows_started_total", {"workflow": "wf"})
        is None
    )
    names = {m.name for m in prometheus_client.REGISTRY.collect()}
    assert not any(name.startswith("agentflow") for name in names)
    text = one.exposition().decode()
    assert 'agentflow_workflows_started_total{workflow="wf"} 1.0' in text
    assert "_created" not in text


def test_docs_metrics_lists_every_metric_with_its_type_and_labels() -> None:
    import re
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "metrics.md").read_text()
    rows = re.findall(r"^\| `(agentflow_\w+)` \| (\w+) \|([^|]*)\|", doc, flags=re.M)
    documented = {name: (kind, set(re.findall(r"`(\w+)`", labels))) for name, kind, labels in rows}
    from types import SimpleNamespace

    from agentflow.run.budget import BudgetStatistics, ScopeStatistics
    from agentflow.run.limits import KeyStatistics, LimiterStatistics

    stats = SimpleNamespace(
        budgets=BudgetStatistics(
            (ScopeStatistics("agent:wf#0.a", 1.0, 0.5, 0.0, 0.5, False, False),)
        ),
        limits=LimiterStatistics((KeyStatistics("openai/*", 0, 0, None, 3, 300, 1.5, None),)),
    )
    sink = MetricsSink(statistics=lambda: stats)
    for labels in (("wf",), ("wf", "a"), ("wf", "a", "x")):
        for metric in vars(sink).values():  # one child each, so every label name shows
            names = getattr(metric, "_labelnames", None)
            if names is not None and len(names) == len(labels):
                metric.labels(*labels)
    actual = {}
    for family in sink.registry.collect():
        name = family.name + ("_total" if family.type == "counter" else "")
        labels = {k for s in family.samples for k in s.labels if k != "le"}
        actual[name] = (family.type, labels)
    assert documented == actual
