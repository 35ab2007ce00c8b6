"""The engine with an injected fake model and virtual time: scheduling, failures, budgets."""

from __future__ import annotations

import asyncio
import importlib.util
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agentflow.errors import BadRequest, ServerError
from agentflow.events.bus import EventBus
from agentflow.events.types import Event
from agentflow.llm.types import LLMRequest, LLMResponse, ToolCall
from agentflow.model.types import (
    Agent,
    Budget,
    OutputSpec,
    Price,
    RetryPolicy,
    Tool,
    Workflow,
    freeze,
)
from agentflow.plan.pricing import load_price_book
from agentflow.run.clock import run_virtual, virtual_clock
from agentflow.run.engine import Engine, Instance, RunSettings
from agentflow.run.results import RunResult
from agentflow.run.tools import ToolOutcome, ToolRunner

FAST_RETRY = RetryPolicy(max_attempts=3, initial_delay=0.5, jitter=False)


class InlineTools(ToolRunner):
    """Runs async Python tools on the loop itself: worker threads and virtual time don't mix."""

    def __init__(self, tools: tuple[Tool, ...]) -> None:
        super().__init__(tools)
        self.by_name = {tool.name: tool for tool in tools}

    async def call(self, name: str, arguments_json: str) -> ToolOutcome:
        tool = self.by_name[name]
        module_name, _, function = (tool.python or "").partition(":")
        spec = importlib.util.spec_from_file_location(
            module_name, tool.base_dir / f"{module_name}.py"
        )
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        value = await getattr(module, function)(**json.loads(arguments_json))
        return ToolOutcome(True, value if isinstance(value, str) else json.dumps(value), 0.0)


class Recorder:
    """A sink that keeps every event."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def handle(self, event: Event) -> None:
        self.events.append(event)

    def close(self) -> None:
        pass

    def named(self, name: str) -> list[Event]:
        return [e for e in self.events if e.event == name]

    def of(self, name: str, agent: str) -> Event:
        return next(e for e in self.events if e.event == name and e.agent == agent)


Behaviour = Callable[[LLMRequest, int], LLMResponse]


class FakeClient:
    """Answers after a per-agent latency (read from a `[latency=N]` tag in the prompt)."""

    def __init__(self, behaviour: Behaviour | None = None) -> None:
        self.behaviour = behaviour
        self.calls: list[LLMRequest] = []
        self.in_flight = 0
        self.max_in_flight = 0

    async def complete(self, request: LLMRequest) -> LLMResponse:
        self.calls.append(request)
        prompt = request.messages[-1].content or ""
        latency = 1.0
        if "[latency=" in prompt:
            latency = float(prompt.split("[latency=")[1].split("]")[0])
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await virtual_clock().sleep(latency)
        finally:
            self.in_flight -= 1
        if self.behaviour is not None:
            return self.behaviour(request, len(self.calls))
        wants_json = request.response_schema is not None or request.json_mode
        content = json.dumps({"score": 8}) if wants_json else f"answer to {prompt[:20]}"
        return LLMResponse(content, (), 100, 50, request.model, "stop")

    async def aclose(self) -> None:
        pass


def agent(agent_id: str, *deps: str, **fields: Any) -> Agent:
    fields.setdefault("model", "openai/gpt-4o-mini")
    fields.setdefault("prompt", f"do {agent_id}")
    fields.setdefault("retry", FAST_RETRY)
    return Agent(id=agent_id, depends_on=deps, **fields)


def workflow(*agents: Agent, **fields: Any) -> Workflow:
    fields.setdefault("name", "wf")
    return Workflow(path=Path("wf.yaml"), agents=agents, **fields)


def run(
    wf: Workflow | list[Instance],
    client: FakeClient | None = None,
    *,
    budget_usd: float | None = None,
    stop_after: tuple[float, str] | None = None,
    max_concurrency: int = 512,
) -> tuple[RunResult, Recorder, FakeClient]:
    recorder = Recorder()
    fake = client or FakeClient()
    instances = wf if isinstance(wf, list) else [Instance(wf, 0, {})]

    async def main() -> RunResult:
        clock = virtual_clock()
        bus = EventBus("run-1", clock.wall, [recorder])
        engine = Engine(
            client=fake,
            clock=clock,
            bus=bus,
            tool_runner_for=lambda wf: InlineTools(wf.tools),
            settings=RunSettings(
                run_id="run-1", budget_usd=budget_usd, max_concurrency=max_concurrency, seed=1
            ),
        )
        if stop_after is not None:
            delay, name = stop_after
            asyncio.get_running_loop().call_later(delay, engine.request_stop, name)
        return await engine.run(instances)

    return run_virtual(main()), recorder, fake


def started_at(recorder: Recorder, agent_id: str) -> float:
    first = recorder.events[0].ts
    return round(recorder.of("agent.started", agent_id).ts - first, 6)


def test_an_agent_starts_when_its_own_dependencies_finish_not_its_level() -> None:
    wf = workflow(
        agent("fast", prompt="[latency=1]"),
        agent("slow", prompt="[latency=5]"),
        agent("after_fast", "fast", prompt="[latency=1]"),
        agent("join", "after_fast", "slow", prompt="[latency=1]"),
    )
    result, recorder, _ = run(wf)
    assert result.exit_code == 0
    assert started_at(recorder, "after_fast") == 1.0
    assert started_at(recorder, "join") == 5.0
    assert result.duration_s == pytest.approx(6.0)


def test_outputs_flow_into_templates_and_workflow_outputs() -> None:
    wf = workflow(
        agent("score", output=OutputSpec("json", freeze({"type": "object"}))),
        agent("note", "score", prompt="Score was {{ agents.score.output.score }}"),
        outputs=(("decision", "{{ agents.score.output }}"), ("note", "{{ agents.note.output }}")),
    )
    result, _, client = run(wf)
    assert client.calls[1].messages[-1].content == "Score was 8"
    assert result.instances[0].outputs["decision"] == {"score": 8}
    assert result.instances[0].outputs["note"].startswith("answer to Score was 8")


def test_fan_out_respects_max_parallel_and_keeps_item_order() -> None:
    wf = workflow(
        agent(
            "notes",
            for_each="{{ inputs.langs }}",
            max_parallel=2,
            prompt="note in {{ item }} #{{ index }} [latency=1]",
        )
    )
    instances = [Instance(wf, 0, {"langs": ["en", "fr", "de", "es", "it"]})]
    result, recorder, client = run(instances)
    assert client.max_in_flight == 2
    assert result.duration_s == pytest.approx(3.0)
    output = result.instances[0].agents["notes"].output
    assert [o.split("note in ")[1][:2] for o in output] == ["en", "fr", "de", "es", "it"]
    assert recorder.of("agent.started", "notes").data["items"] == 5


def test_false_condition_skips_the_agent_and_its_dependants_without_failing() -> None:
    wf = workflow(
        agent("screen", output=OutputSpec("json", None)),
        agent("schedule", "screen", when="{{ agents.screen.output.score >= 9 }}"),
        agent("confirm", "schedule"),
    )
    result, recorder, _ = run(wf)
    assert result.status == "ok"
    assert recorder.of("agent.skipped", "schedule").data["reason"] == "condition_false"
    assert recorder.of("agent.skipped", "confirm").data["reason"] == "dependency_skipped"


def _fail_for(agent_prompt: str, error: Exception) -> Behaviour:
    def behaviour(request: LLMRequest, n: int) -> LLMResponse:
        if agent_prompt in (request.messages[-1].content or ""):
            raise error
        return LLMResponse("ok", (), 10, 5, request.model)

    return behaviour


def test_non_critical_failure_skips_dependants_and_ends_partial() -> None:
    wf = workflow(
        agent("extra", prompt="extra", critical=False),
        agent("uses_extra", "extra", critical=False),
        agent("main", prompt="main"),
    )
    result, recorder, client = run(wf, FakeClient(_fail_for("extra", BadRequest("bad"))))
    assert (result.status, result.exit_code) == ("partial", 4)
    failed = recorder.of("agent.failed", "extra").data
    assert failed["error_class"] == "bad_request"
    assert len([c for c in client.calls if c.messages[-1].content == "extra"]) == 1  # not retried
    skipped = recorder.of("agent.skipped", "uses_extra").data
    assert skipped["reason"] == "dependency_failed"


def test_critical_failure_fails_the_workflow() -> None:
    wf = workflow(agent("main", prompt="main"))
    result, _, _ = run(wf, FakeClient(_fail_for("main", BadRequest("bad"))))
    assert (result.status, result.exit_code) == ("failed", 1)


def test_retryable_errors_are_retried_with_backoff_then_succeed() -> None:
    def flaky(request: LLMRequest, n: int) -> LLMResponse:
        if n <= 2:
            raise ServerError("overloaded", status_code=503)
        return LLMResponse("fine", (), 10, 5, request.model)

    result, recorder, _ = run(workflow(agent("a")), FakeClient(flaky))
    assert result.exit_code == 0
    retries = recorder.named("llm.retry")
    assert [(r.data["attempt"], r.data["delay_s"], r.data["error_class"]) for r in retries] == [
        (1, 0.5, "server_error"),
        (2, 1.0, "server_error"),
    ]
    # three calls of 1 s each plus 0.5 s and 1 s of backoff
    assert result.duration_s == pytest.approx(4.5)


def test_json_output_that_breaks_the_schema_fails_the_agent_clearly() -> None:
    schema = freeze({"type": "object", "required": ["name"]})
    result, recorder, _ = run(workflow(agent("parse", output=OutputSpec("json", schema))))
    failed = recorder.of("agent.failed", "parse").data
    assert failed["error_class"] == "output_invalid"
    assert "'name' is a required property" in failed["message"]
    assert result.exit_code == 1


def test_tool_calls_run_and_their_results_go_back_to_the_model(tmp_path: Path) -> None:
    (tmp_path / "hr.py").write_text(
        "async def lookup(employee_id):\n    return {'id': employee_id, 'name': 'Ada'}\n"
    )
    tool = Tool(
        name="lookup",
        description="find",
        parameters=freeze({"type": "object", "properties": {"employee_id": {"type": "string"}}}),
        python="hr:lookup",
        base_dir=tmp_path,
    )

    def behaviour(request: LLMRequest, n: int) -> LLMResponse:
        if request.messages[-1].role != "tool":
            call = ToolCall("c1", "lookup", json.dumps({"employee_id": "E1"}))
            return LLMResponse(None, (call,), 20, 10, request.model, "tool_calls")
        return LLMResponse(
            "found " + (request.messages[-1].content or ""), (), 30, 10, request.model
        )

    wf = workflow(agent("find", tools=("lookup",)), tools=(tool,))
    result, recorder, client = run(wf, FakeClient(behaviour))
    assert result.exit_code == 0
    assert recorder.named("tool.call")[0].data["tool"] == "lookup"
    result_event = recorder.named("tool.result")[0].data
    assert result_event["ok"] is True, result_event["output"]
    assert json.loads(result.instances[0].agents["find"].output[len("found ") :]) == {
        "id": "E1",
        "name": "Ada",
    }
    assert [t.name for t in client.calls[0].tools] == ["lookup"]


def test_a_model_that_never_stops_calling_tools_fails_after_max_rounds(tmp_path: Path) -> None:
    (tmp_path / "t.py").write_text("async def ping():\n    return 'pong'\n")
    tool = Tool("ping", "p", freeze({"type": "object"}), python="t:ping", base_dir=tmp_path)

    def looping(request: LLMRequest, n: int) -> LLMResponse:
        return LLMResponse(None, (ToolCall(f"c{n}", "ping", "{}"),), 5, 5, request.model)

    wf = workflow(agent("loop", tools=("ping",), max_tool_rounds=2), tools=(tool,))
    result, recorder, client = run(wf, FakeClient(looping))
    assert result.exit_code == 1
    assert recorder.of("agent.failed", "loop").data["error_class"] == "tool_rounds_exceeded"
    assert len(client.calls) == 3


def test_run_budget_is_never_exceeded_by_concurrent_calls_and_exits_3() -> None:
    # 200 concurrent agents; each call is reserved at its worst case before it starts.
    agents = [
        agent(f"a{i}", prompt=f"task {i} [latency=1]", model="openai/gpt-4o", max_tokens=500)
        for i in range(200)
    ]
    result, recorder, _ = run(workflow(*agents), budget_usd=0.05)
    spent = sum(e.data["cost_usd"] for e in recorder.named("llm.response"))
    # Calls wait for outstanding reservations to settle rather than stopping early, so
    # the run uses the budget up to the last call that fits at its worst case.
    assert 0.04 < spent <= 0.05
    assert (result.status, result.exit_code) == ("budget", 3)
    assert recorder.named("budget.exceeded")
    reasons = {e.data["reason"] for e in recorder.named("agent.skipped")}
    assert reasons <= {"budget"}


def test_a_call_that_waits_for_other_reservations_to_settle_says_so_once() -> None:
    # gpt-4o, max_tokens 500: each call reserves ~$0.005 and costs $0.00075. Two fit in
    # $0.011; the third waits until the first two settle at t=1, then goes.
    agents = [agent(f"a{i}", model="openai/gpt-4o", max_tokens=500) for i in range(3)]
    result, recorder, _ = run(workflow(*agents), budget_usd=0.011)
    assert result.status == "ok"
    waits = recorder.named("budget.wait")
    assert len(waits) == 1
    waited = waits[0]
    assert waited.data["scope"] == "run" and waited.data["model"] == "openai/gpt-4o"
    assert 0.004 < waited.data["requested_usd"] < 0.006
    assert waited.data["index"] is None
    sent = recorder.of("llm.request", waited.agent or "")
    start = recorder.named("run.started")[0].ts
    assert (waited.ts - start, sent.ts - start) == (pytest.approx(0.0), pytest.approx(1.0))


def test_a_run_budget_of_zero_refuses_every_paid_call() -> None:
    # 0 is a budget ("spend nothing"), not "no budget".
    agents = [agent(f"a{i}", prompt=f"task {i}", model="openai/gpt-4o") for i in range(3)]
    result, recorder, client = run(workflow(*agents), budget_usd=0.0)
    assert client.calls == []
    assert recorder.named("llm.response") == []
    assert (result.status, result.exit_code) == ("budget", 3)
    assert {e.data["reason"] for e in recorder.named("agent.skipped")} == {"budget"}


def test_skip_noncritical_budget_skips_optional_agents_and_keeps_critical_ones() -> None:
    book = load_price_book((Price("openai/gpt-4o-mini", 1000.0, 1000.0),))
    assert book.lookup("openai/gpt-4o-mini") is not None
    wf = workflow(
        agent("must", prompt="must [latency=1]", max_tokens=100),
        agent("nice", "must", critical=False, max_tokens=2000),
        budget=Budget(max_usd=1.0, on_exceeded="skip_noncritical"),
        pricing=(Price("openai/gpt-4o-mini", 1000.0, 1000.0),),
    )
    result, recorder, _ = run(wf)
    assert recorder.of("agent.completed", "must")
    assert recorder.of("agent.skipped", "nice").data["reason"] == "budget"
    assert result.status == "partial"


def test_stop_signal_cancels_in_flight_work_and_writes_final_events() -> None:
    wf = workflow(
        agent("first", prompt="[latency=1]"),
        agent("long", "first", prompt="[latency=100]"),
        agent("after", "long"),
    )
    result, recorder, _ = run(wf, stop_after=(5.0, "SIGTERM"))
    assert (result.status, result.exit_code) == ("cancelled", 143)
    names = [e.event for e in recorder.events]
    assert names[-2:] == ["run.cancelled", "run.completed"]
    skipped = {e.agent: e.data["reason"] for e in recorder.named("agent.skipped")}
    assert skipped == {"long": "cancelled", "after": "cancelled"}
    assert recorder.of("agent.completed", "first")


def test_many_instances_share_one_in_flight_cap() -> None:
    wf = workflow(agent("a", prompt="[latency=1]"), agent("b", "a", prompt="[latency=1]"))
    instances = [Instance(wf, i, {}) for i in range(50)]
    result, recorder, client = run(instances, max_concurrency=10)
    assert client.max_in_flight == 10
    assert len(result.instances) == 50
    assert result.duration_s == pytest.approx(10.0)
    assert len(recorder.named("workflow.completed")) == 50


def test_events_are_numbered_in_order_and_end_with_run_completed() -> None:
    _, recorder, _ = run(workflow(agent("a"), agent("b", "a")))
    assert [e.seq for e in recorder.events] == list(range(1, len(recorder.events) + 1))
    assert recorder.events[0].event == "run.started"
    assert recorder.events[-1].event == "run.completed"
    totals = recorder.events[-1].data["totals"]
    assert totals["calls"] == 2 and totals["input_tokens"] == 200


def test_no_reservation_outlives_the_run() -> None:
    agents = [agent(f"a{i}", model="openai/gpt-4o", max_tokens=300) for i in range(20)]
    wf = workflow(*agents, budget=Budget(max_usd=0.02))
    _, recorder, _ = run(wf, budget_usd=1.0, stop_after=(0.5, "SIGINT"))
    budgets = recorder.events[-1].data["budgets"]
    assert {b["scope"] for b in budgets} == {"run", "workflow:wf#0"}
    assert all(b["reserved_usd"] == 0 for b in budgets)


def test_calls_count_every_call_sent_including_failed_ones() -> None:
    def flaky(request: LLMRequest, n: int) -> LLMResponse:
        if n == 1:
            raise ServerError("overloaded", status_code=503)
        return LLMResponse("fine", (), 10, 5, request.model)

    _, recorder, _ = run(workflow(agent("a")), FakeClient(flaky))
    completed = recorder.of("agent.completed", "a").data
    assert (completed["calls"], completed["attempts"]) == (2, 2)
