"""The summary counts unanswered calls as unconfirmed cost, and cancelled work's spend."""

from __future__ import annotations

from typing import Any

from agentflow.events.types import Event
from agentflow.sinks.summary import CostSummary, cost_table, failure_report, summary_json
from tests.sinks.test_summary import render

AGENT = {"workflow": "wf", "instance": 0}
CALL = {"model": "openai/gpt-4o", "attempt": 1, "round": 0}


def events() -> list[Event]:
    seq = iter(range(1, 100))

    def e(name: str, agent: str | None = None, **data: Any) -> Event:
        where = AGENT if agent else {}
        return Event(name, 1.0, "r", next(seq), agent=agent, data=data, **where)  # type: ignore[arg-type]

    return [
        e("run.started"),
        e("agent.started", "fan", model="openai/gpt-4o", items=3),
        *[e("llm.request", "fan", **CALL, index=i) for i in range(3)],
        e(
            "llm.response",
            "fan",
            **CALL,
            index=0,
            input_tokens=10,
            output_tokens=5,
            cost_usd=0.25,
            latency_s=1.0,
            finish_reason="stop",
            tool_calls=0,
        ),
        *[
            e(
                "llm.abandoned",
                "fan",
                **CALL,
                index=i,
                reason="cancelled",
                unconfirmed_cost_usd=0.5,
                waited_s=1.0,
            )
            for i in (1, 2)
        ],
        e(
            "agent.skipped",
            "fan",
            reason="cancelled",
            detail="stopped by SIGTERM",
            calls=3,
            cost_usd=0.25,
            unconfirmed_cost_usd=1.0,
            input_tokens=10,
            output_tokens=5,
        ),
        e("run.cancelled", signal="SIGTERM", reason="stopped by signal"),
        e("run.completed", status="cancelled", exit_code=143, duration_s=2.0),
    ]


def summarise() -> CostSummary:
    summary = CostSummary()
    for event in events():
        summary.handle(event)
    return summary


def test_unconfirmed_cost_shows_apart_in_the_total_and_the_json() -> None:
    summary = summarise()
    text = render(cost_table(summary))
    assert "$0.25 + $1.00 unconfirmed" in text
    assert "2 call(s) were sent and never answered" in text
    totals = summary_json(summary)["totals"]
    assert (totals["calls"], totals["cost_usd"]) == (3, 0.25)
    assert (totals["unconfirmed_calls"], totals["unconfirmed_cost_usd"]) == (2, 1.0)


def test_work_cancelled_mid_way_counts_as_cost_spent_on_failed_work() -> None:
    summary = summarise()
    report = render(failure_report(summary, "agentflow run wf.yaml"))
    assert "Cost spent on failed work: $0.25 + $1.00 unconfirmed" in report
    failures = summary_json(summary)["failures"]
    assert failures["cost_usd_on_failed_work"] == 0.25
    assert failures["unconfirmed_cost_usd_on_failed_work"] == 1.0
