"""Estimates: fan-out, tool rounds, upstream sizes, critical path, limits, budgets."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from agentflow.model.types import Agent, Budget, Limit, OutputSpec, Workflow
from agentflow.plan.estimate import (
    REPAIR_ERROR_TOKENS,
    TOOL_CALL_TOKENS,
    TOOL_RESULT_TOKENS,
    UNKNOWN_VALUE_TOKENS,
    make_plan,
)
from agentflow.plan.pricing import load_price_book

from .builders import CANDIDATE, hr_workflow


def _plan(workflow: Workflow, inputs: dict[str, object] | None = None, **kw: object):  # type: ignore[no-untyped-def]
    return make_plan(workflow, inputs, load_price_book(workflow.pricing), **kw)  # type: ignore[arg-type]


def _agent(plan, agent_id: str):  # type: ignore[no-untyped-def]
    return next(a for a in plan.agents if a.id == agent_id)


def test_for_each_over_a_given_list_fans_out_to_its_length() -> None:
    plan = _plan(hr_workflow(), {"candidate": CANDIDATE})
    notes = _agent(plan, "welcome_notes")
    assert notes.fan_out.count == 3 and notes.fan_out.known
    assert notes.calls.expected == 3
    assert notes.output_tokens.worst == 3 * 600
    assert plan.unknown_fan_out_agents == ()


def test_for_each_over_a_missing_input_is_unknown_and_counted_once() -> None:
    plan = _plan(hr_workflow(), None)
    notes = _agent(plan, "welcome_notes")
    assert not notes.fan_out.known and notes.fan_out.count == 1
    assert "candidate" in (notes.fan_out.reason or "")
    assert plan.unknown_fan_out_agents == ("welcome_notes",)
    assert any("inputs not given: candidate" in n for n in plan.notes)


def test_for_each_over_an_upstream_output_is_unknown() -> None:
    wf = hr_workflow()
    agents = (
        *wf.agents,
        Agent(
            id="per_skill",
            model="openai/gpt-4o-mini",
            prompt="Explain {{ item }}.",
            for_each="{{ agents.parse_resume.output.skills }}",
            depends_on=("parse_resume",),
        ),
    )
    plan = _plan(replace(wf, agents=agents), {"candidate": CANDIDATE})
    per_skill = _agent(plan, "per_skill")
    assert not per_skill.fan_out.known
    assert "parse_resume" in (per_skill.fan_out.reason or "")


def test_upstream_output_in_a_prompt_is_its_max_tokens_in_the_worst_case() -> None:
    workflow = hr_workflow()
    # without repairs, which resend the conversation in the worst case
    agents = tuple(replace(a, output=replace(a.output, repair=0)) for a in workflow.agents)
    plan = _plan(replace(workflow, agents=agents), {"candidate": CANDIDATE})
    screen = _agent(plan, "screen")
    # parse_resume: max_tokens 600, low 10 % = 60, expected 40 % = 240
    assert screen.input_tokens.worst - screen.input_tokens.low == 600 - 60
    assert screen.input_tokens.expected - screen.input_tokens.low == 240 - 60


def test_missing_inputs_count_as_unknown_value_tokens() -> None:
    given = _agent(
        _plan(hr_workflow(), {"candidate": {"resume": "", "languages": []}}), "parse_resume"
    )
    missing = _agent(_plan(hr_workflow(), None), "parse_resume")
    assert missing.input_tokens.expected - given.input_tokens.expected == UNKNOWN_VALUE_TOKENS


def test_tool_rounds_resend_the_growing_conversation() -> None:
    plan = _plan(hr_workflow(), {"candidate": CANDIDATE})
    schedule = _agent(plan, "schedule")
    assert (schedule.calls.low, schedule.calls.expected, schedule.calls.worst) == (1, 2, 6)
    base_worst = (schedule.input_tokens.worst - (TOOL_CALL_TOKENS + TOOL_RESULT_TOKENS) * 15) / 6
    assert base_worst == int(base_worst)
    assert schedule.output_tokens.worst == 5 * TOOL_CALL_TOKENS + 600
    assert schedule.worst_with_retries.calls == 6 * 4


def test_unknown_price_agents_are_listed_and_left_out_of_totals() -> None:
    plan = _plan(hr_workflow(), {"candidate": CANDIDATE})
    mystery = _agent(plan, "mystery")
    assert mystery.price is None and mystery.cost.expected is None
    assert plan.unknown_price_agents == ("mystery",)
    known = sum(a.cost.expected or 0.0 for a in plan.agents)
    assert plan.totals.cost.expected == pytest.approx(known)


def test_critical_path_is_weighted_by_expected_latency() -> None:
    plan = _plan(hr_workflow(), {"candidate": CANDIDATE})
    assert plan.time.critical_path == ("parse_resume", "screen", "schedule")
    assert plan.time.bound_by == "critical path"
    slow = _plan(hr_workflow(), {"candidate": CANDIDATE}, latency={"my-local/*": 100.0})
    assert slow.time.critical_path == ("parse_resume", "screen", "local_summary")
    assert slow.time.wall_seconds > 100


def test_rate_limits_bound_the_wall_time_when_tighter_than_the_critical_path() -> None:
    wf = hr_workflow(limits=(Limit("openai/*", rpm=2, burst=1),))
    plan = _plan(wf, {"candidate": CANDIDATE})
    # 5 expected openai calls, one admitted at once, then one every 30 s
    assert plan.time.wall_seconds == pytest.approx(4 * 30)
    assert plan.time.bound_by == 'limit "openai/*" rpm'
    bound = plan.time.limit_bounds[0]
    assert bound.agents == ("parse_resume", "screen", "welcome_notes")


def test_token_and_concurrency_limits_give_bounds_too() -> None:
    wf = hr_workflow(limits=(Limit("*", tpm=60, max_concurrent=1),))
    plan = _plan(wf, {"candidate": CANDIDATE})
    kinds = {b.limit: b.seconds for b in plan.time.limit_bounds}
    tokens = plan.totals.input_tokens.expected + plan.totals.output_tokens.expected
    assert kinds["tpm"] == pytest.approx(tokens - 1)
    assert kinds["max_concurrent"] > 0


@pytest.mark.parametrize(("budget", "verdict"), [(10.0, "ok"), (0.01, "warning"), (0.001, "over")])
def test_run_budget_verdicts(budget: float, verdict: str) -> None:
    plan = _plan(hr_workflow(), {"candidate": CANDIDATE}, budget_usd=budget)
    assert plan.budget.verdict == verdict
    run = next(c for c in plan.budget.checks if c.scope == "run")
    assert run.verdict == verdict
    if verdict != "ok":
        assert plan.budget.scope == "run"


def test_the_most_severe_scope_binds() -> None:
    wf = hr_workflow(budget=Budget(max_usd=10.0), screen_budget=0.00001)
    plan = _plan(wf, {"candidate": CANDIDATE}, budget_usd=10.0)
    assert plan.budget.verdict == "over"
    assert plan.budget.scope == "agent:screen"
    assert [c.scope for c in plan.budget.checks] == ["run", "workflow", "agent:screen"]


def test_no_budget_means_ok_with_no_scope() -> None:
    wf = hr_workflow()
    wf = replace(wf, agents=tuple(replace(a, budget=None) for a in wf.agents))
    plan = _plan(wf, {"candidate": CANDIDATE})
    assert plan.budget.verdict == "ok" and plan.budget.scope is None


def test_a_template_that_cannot_render_is_counted_from_its_source() -> None:
    wf = Workflow(
        name="odd",
        path=Path("odd.yaml"),
        agents=(
            Agent(id="a", model="gpt-4o", prompt="Hi"),
            Agent(
                id="b", model="gpt-4o", prompt="{{ agents.a.output | tojson }}", depends_on=("a",)
            ),
        ),
    )
    b = _agent(_plan(wf), "b")
    assert any("not rendered" in n for n in b.notes)
    assert b.input_tokens.worst >= 1024


def test_json_schema_output_sets_the_expected_output_size() -> None:
    plan = _plan(hr_workflow(), {"candidate": CANDIDATE})
    screen = _agent(plan, "screen")
    # {"score": 42} is far below 10 % of max_tokens, so expected is clamped to low
    assert screen.output_tokens.expected == screen.output_tokens.low == 60


def test_the_worst_case_counts_every_repair_of_a_json_answer() -> None:
    def plan_with(repair: int):  # type: ignore[no-untyped-def]
        agent = Agent(
            id="score",
            model="openai/gpt-4o-mini",
            prompt="Score it.",
            max_tokens=100,
            output=OutputSpec(format="json", repair=repair),
        )
        return _agent(_plan(Workflow("w", Path("w.yaml"), (agent,))), "score")

    none, two = plan_with(0), plan_with(2)
    assert (none.calls.expected, none.calls.worst) == (1, 1)
    assert (two.calls.expected, two.calls.worst) == (1, 3)  # only the worst case repairs
    base = none.input_tokens.worst
    # each repair resends the conversation plus every earlier answer and error
    assert two.input_tokens.worst == base + (base + 100 + REPAIR_ERROR_TOKENS) + (
        base + 2 * (100 + REPAIR_ERROR_TOKENS)
    )
    assert two.output_tokens.worst == 3 * 100
    assert two.cost.worst is not None and none.cost.worst is not None
    assert two.cost.worst > 3 * none.cost.worst
    assert two.worst_with_retries.calls == 3 * two.max_attempts


def test_the_worst_case_is_priced_at_the_dearest_fallback_and_retries_every_model() -> None:
    def plan_with(*fallbacks: str):  # type: ignore[no-untyped-def]
        agent = Agent(
            id="summarise",
            model="openai/gpt-4o-mini",
            prompt="Summarise it.",
            max_tokens=100,
            fallbacks=fallbacks,
        )
        return _agent(_plan(Workflow("w", Path("w.yaml"), (agent,))), "summarise")

    alone, backed = plan_with(), plan_with("openai/gpt-4o", "openai/gpt-3.5-turbo")
    book = load_price_book(())
    dearest = book.cost("openai/gpt-4o", alone.input_tokens.worst, alone.output_tokens.worst)
    assert backed.cost.expected == alone.cost.expected  # the primary is expected to answer
    assert backed.cost.worst == pytest.approx(dearest)
    assert backed.worst_with_retries.calls == 3 * alone.worst_with_retries.calls
    retried = alone.max_attempts
    each = [
        book.cost(m, alone.input_tokens.worst * retried, alone.output_tokens.worst * retried)
        for m in ("openai/gpt-4o-mini", "openai/gpt-4o", "openai/gpt-3.5-turbo")
    ]
    assert backed.worst_with_retries.cost == pytest.approx(sum(c for c in each if c))
    unpriced = plan_with("my-local/model")
    assert unpriced.cost.worst is None  # never a lower number for an unknown price
