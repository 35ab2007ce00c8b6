from __future__ import annotations

import io
import json

import pytest
from rich.console import Console, RenderableType
from syrupy.assertion import SnapshotAssertion

from agentflow.events.types import Event
from agentflow.sinks import format_usd
from agentflow.sinks.summary import CostSummary, cost_table, failure_report, summary_json

RERUN = "agentflow run workflows/hr_onboarding.yaml --inputs candidates.jsonl --budget-usd 0.5"


def summarise(events: list[Event]) -> CostSummary:
    summary = CostSummary()
    for event in events:
        summary.handle(event)
    summary.close()
    return summary


def render(renderable: RenderableType) -> str:
    console = Console(
        record=True, width=120, color_system=None, force_terminal=False, file=io.StringIO()
    )
    console.print(renderable)
    return console.export_text()


def test_cost_table(synthetic_events: list[Event], snapshot: SnapshotAssertion) -> None:
    text = render(cost_table(summarise(synthetic_events)))
    assert text == snapshot
    # An unknown price is never shown as $0 and poisons every sum it is part of.
    assert "welcome_notes x2  my-local/model" in text
    # The known part is a floor, and the unpriced calls are counted.
    assert "at least $0.00873" in text
    assert "unpriced: 6 call(s)" in text


def test_failure_report(synthetic_events: list[Event], snapshot: SnapshotAssertion) -> None:
    text = render(failure_report(summarise(synthetic_events), RERUN))
    assert text == snapshot
    assert f"Go on with: {RERUN}" in text
    assert "output_invalid" in text
    assert "hr_onboarding[1]/schedule: dependency_failed (screen failed)" in text
    assert "Cost spent on failed work: $0.0042" in text
    assert "Retries used: 1 (rate_limit 1)" in text
    assert "condition_false" not in text  # a false condition is not a consequence of failure


def test_summary_json(synthetic_events: list[Event], snapshot: SnapshotAssertion) -> None:
    document = summary_json(summarise(synthetic_events))
    assert json.loads(json.dumps(document)) == document
    assert document == snapshot
    assert document["totals"] == {
        "calls": 11,
        "input_tokens": 3300,
        "output_tokens": 700,
        # unknown is not $0: six calls are unpriced, so the total is unknown, at least this
        "cost_usd": None,
        "known_cost_usd": 0.00873,
        "provider_priced_calls": 0,
        "unknown_cost_calls": 6,
        "retries": 1,
        "unconfirmed_calls": 0,
        "unconfirmed_cost_usd": 0.0,
        "agents": {"completed": 5, "failed": 1, "skipped": 2},
    }
    by_agent = {(a["instance"], a["agent"]): a for a in document["agents"]}
    assert by_agent[(0, "welcome_notes")]["cost_usd"] is None
    assert by_agent[(1, "screen")]["error_class"] == "output_invalid"
    assert by_agent[(1, "parse_resume")]["retries"] == 1


def test_a_run_without_failures_says_so() -> None:
    assert render(failure_report(CostSummary(), "agentflow run x.yaml")) == "No failures.\n"


def ev(name: str, seq: int, agent: str = "a", **data: object) -> Event:
    return Event(name, 0.0, "r", seq, "wf", 0, agent, dict(data))


def test_agent_totals_from_the_engine_win_over_the_call_events() -> None:
    summary = summarise(
        [
            ev("agent.started", 1, model="m", items=None),
            ev("llm.request", 2, model="m"),
            ev("llm.response", 3, model="m", input_tokens=10, output_tokens=5, cost_usd=None),
            ev(
                "agent.completed",
                4,
                model="m",
                output=None,
                cost_usd=0.5,
                input_tokens=12,
                output_tokens=6,
                calls=2,
                duration_s=1.0,
                attempts=2,
            ),
        ]
    )
    [record] = summary.agents.values()
    assert (record.usage.calls, record.usage.input_tokens, record.usage.cost_usd) == (2, 12, 0.5)
    # The per-model row still reflects the call that had no price.
    assert summary.models["m"].cost_usd is None


def test_cancelled_and_budget_stopped_runs_appear_in_the_failure_report() -> None:
    summary = summarise(
        [
            Event(
                "budget.exceeded",
                0.0,
                "r",
                1,
                data={
                    "scope": "run",
                    "spent_usd": 0.5,
                    "limit_usd": 0.5,
                    "requested_usd": 0.01,
                    "action": "fail",
                },
            ),
            ev("agent.skipped", 2, reason="budget", detail="run budget exhausted"),
            Event("run.cancelled", 0.0, "r", 3, data={"signal": "SIGINT", "reason": "Ctrl-C"}),
        ]
    )
    text = render(failure_report(summary, "agentflow run x.yaml"))
    assert "Stopped by the run budget: $0.50 of $0.50 spent" in text
    assert "wf/a: budget (run budget exhausted)" in text
    assert "Cancelled by SIGINT: Ctrl-C" in text


@pytest.mark.parametrize("width", [60, 80, 120])
def test_the_cost_table_keeps_every_number_whole_at_any_width(
    synthetic_events: list[Event], width: int, snapshot: SnapshotAssertion
) -> None:
    summary = summarise(synthetic_events)
    console = Console(
        record=True, width=width, color_system=None, force_terminal=False, file=io.StringIO()
    )
    console.print(cost_table(summary))
    text = console.export_text()
    assert "…" not in text
    assert all(len(line.rstrip()) <= width for line in text.splitlines())
    words = set(text.split())
    total = summary.totals()
    for value in (total.calls, total.input_tokens, total.output_tokens):
        assert f"{value:,}" in words
    assert format_usd(total.known_cost_usd) in words
    for usage in summary.models.values():
        assert format_usd(usage.cost_usd) in words
    assert text == snapshot


def test_an_output_whose_template_failed_appears_in_the_failure_report() -> None:
    data = {"output": "total", "error_class": "template_error", "message": "undefined: 'totl'"}
    summary = summarise([Event("workflow.output_failed", 0.0, "r", 1, "invoices", 0, None, data)])
    text = render(failure_report(summary, "agentflow run x.yaml"))
    assert "Outputs left null because their template failed:" in text
    assert "invoices output total: undefined: 'totl'" in text


def test_text_from_outside_is_shown_as_written_never_read_as_markup() -> None:
    """A provider's message or a model name with square brackets is data: it must neither
    be styled nor break the table (an unmatched "[/bold]" made Rich raise)."""
    model = "openai/[bold]team[/bold]"
    summary = summarise(
        [
            ev("agent.started", 1, model=model, items=None),
            ev("llm.request", 2, model=model),
            ev(
                "agent.failed",
                3,
                model=model,
                error_class="bad_request",
                message="Invalid value [/bold] for [red]temperature",
                calls=1,
                input_tokens=0,
                output_tokens=0,
                cost_usd=0.0,
                duration_s=0.1,
            ),
        ]
    )
    table = render(cost_table(summary))
    report = render(failure_report(summary, "agentflow run x.yaml"))
    assert "openai/[bold]team[/bold]" in table
    assert "Invalid value [/bold] for [red]temperature" in report
