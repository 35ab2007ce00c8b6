"""A run budget holds under hundreds of concurrent calls: spend never passes it."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentflow.plan.pricing import load_price_book
from tests.e2e.cli import answered, of, run_cli, write_workflow
from tests.fakeserver import FakeLLMServer

pytestmark = pytest.mark.e2e

MODEL = "openai/gpt-4o"
AGENTS, MAX_TOKENS, BUDGET = 300, 200, 0.05
USAGE = (40, 190)  # what the server reports for every answer: (prompt, completion) tokens


def test_concurrent_agents_never_spend_past_the_run_budget(
    fake_server: FakeLLMServer, tmp_path: Path
) -> None:
    fake_server.configure(usage=USAGE, latency_s=0.2)
    flow = write_workflow(
        tmp_path,
        {
            "name": "many_summaries",
            "defaults": {
                "model": MODEL,
                "max_tokens": MAX_TOKENS,
                "api_base": fake_server.base_url,
            },
            "agents": {f"s{i}": {"prompt": f"Summarise ledger {i}."} for i in range(AGENTS)},
        },
    )

    run = run_cli(flow, "--budget-usd", str(BUDGET), cwd=tmp_path, run_id="r-spend")

    assert run.returncode == 3, run.describe()
    events = run.events()
    per_call = load_price_book().cost(MODEL, *USAGE)
    assert per_call is not None
    answers = answered(fake_server)
    assert 0 < len(answers) < AGENTS, "the budget let some calls through and stopped the rest"
    spent = len(answers) * per_call
    assert spent <= BUDGET, f"{len(answers)} answered calls cost ${spent:.6f}"
    # The log prices calls the same way.
    responses = of(events, "llm.response")
    assert len(responses) == len(answers)
    assert all(r["cost_usd"] == pytest.approx(per_call) for r in responses)

    exceeded = of(events, "budget.exceeded")
    assert exceeded
    assert all(e["scope"] == "run" and e["limit_usd"] == BUDGET for e in exceeded)
    final = events[-1]
    assert (final["event"], final["status"], final["exit_code"]) == ("run.completed", "budget", 3)
    assert final["totals"]["cost_usd"] == pytest.approx(spent)
    assert final["budgets"], "the run scope has a limit, so it is reported"
    assert {b["scope"] for b in final["budgets"]} == {"run"}
    assert all(b["reserved_usd"] == 0 for b in final["budgets"]), final["budgets"]
    assert all(b["spent_usd"] <= BUDGET for b in final["budgets"])
