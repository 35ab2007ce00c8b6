"""A model that keeps failing hands the agent's calls to its fallback, priced and budgeted."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentflow.plan.pricing import load_price_book
from tests.e2e.cli import of, run_cli, schema_errors, write_workflow
from tests.fakeserver import FakeLLMServer

pytestmark = pytest.mark.e2e

PRIMARY = "openai/gpt-4o-mini"
FALLBACK = "openai/gpt-4o"


def test_a_primary_answering_503_always_falls_back_and_the_workflow_is_ok(
    fake_server: FakeLLMServer, tmp_path: Path, event_validator: object
) -> None:
    fake_server.fail_models = {"gpt-4o-mini": 503}
    flow = write_workflow(
        tmp_path,
        {
            "name": "fallback",
            "defaults": {
                "model": PRIMARY,
                "api_base": fake_server.base_url,
                "max_tokens": 50,
                "retry": {"max_attempts": 2, "initial_delay": "10ms", "jitter": False},
                "fallbacks": [FALLBACK],
            },
            "agents": {"summarise": {"prompt": "Summarise the ledger."}},
        },
    )
    run = run_cli(flow, "--budget-usd", "1", cwd=tmp_path)

    assert run.returncode == 0, run.describe()
    events = run.events()
    (fallback,) = of(events, "llm.fallback")
    assert (fallback["model"], fallback["to_model"]) == (PRIMARY, FALLBACK)
    assert fallback["error_class"] == "server_error"
    # the primary's retries were spent first, then one call to the fallback answered
    assert [r.model for r in fake_server.requests] == ["gpt-4o-mini", "gpt-4o-mini", "gpt-4o"]
    assert [r.status for r in fake_server.requests] == [503, 503, 200]
    (completed,) = of(events, "agent.completed")
    assert (completed["model"], completed["answered_by"]) == (PRIMARY, FALLBACK)
    # the answer is priced at the fallback's price, and that is what the run cost
    (response,) = of(events, "llm.response")
    assert response["model"] == FALLBACK
    book = load_price_book(())
    expected = book.cost(FALLBACK, response["input_tokens"], response["output_tokens"])
    assert expected is not None and response["cost_usd"] == pytest.approx(expected)
    totals = events[-1]["totals"]
    assert totals["cost_usd"] == pytest.approx(expected)
    assert totals["calls"] == 3
    # the budget reserved the fallback's worst case and settled it: nothing left reserved
    (run_budget,) = events[-1]["budgets"]
    assert run_budget["reserved_usd"] == 0
    assert run_budget["spent_usd"] == pytest.approx(expected)
    # the cost table says which model answered
    assert f"{PRIMARY} → {FALLBACK}" in run.stderr + run.stdout
    assert schema_errors(event_validator, events) == []
