"""A run budget holds under hundreds of concurrent calls, and timeouts: spend never passes it."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

import pytest

from agentflow.plan.pricing import load_price_book
from agentflow.plan.tokens import count_messages
from tests.e2e.cli import answered, of, run_cli, start_cli, wait_for, write_workflow
from tests.fakeserver import FakeLLMServer, ServerThread

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


# -- timeouts: a call nobody waited for may still be billed ------------------------------------

TIMEOUT_AGENTS, TIMEOUT_BUDGET, TIMEOUT_MAX_TOKENS = 500, 0.02, 120
SEEDS = (1, 2, 3)


def _timeout_flow(server: FakeLLMServer) -> dict[str, object]:
    return {
        "name": "slow_provider",
        "defaults": {
            "model": MODEL,
            "max_tokens": TIMEOUT_MAX_TOKENS,
            "api_base": server.base_url,
            "timeout": "1s",
            "retry": {"max_attempts": 3, "initial_delay": "50ms", "max_delay": "200ms"},
        },
        "agents": {
            f"s{i:03d}": {"prompt": f"Summarise ledger {i:03d}."} for i in range(TIMEOUT_AGENTS)
        },
    }


@pytest.mark.timeout(300)
def test_with_timeouts_what_the_server_generated_stays_within_the_budget(
    tmp_path: Path,
) -> None:
    # Answers take 0.3-1.6 s against a 1 s timeout: about half the calls are given up on,
    # and the server finishes (and a provider would bill) every one of them.
    book = load_price_book()
    prompt_tokens = count_messages(MODEL, [("user", "Summarise ledger 000.")])
    with ExitStack() as stack:
        started = []
        for seed in SEEDS:
            server = stack.enter_context(ServerThread())
            server.configure(
                seed=seed,
                latency_range=(0.3, 1.6),
                completion_range=(5, TIMEOUT_MAX_TOKENS),
                usage=(prompt_tokens, 0),
            )
            folder = tmp_path / f"seed{seed}"
            folder.mkdir()
            flow = write_workflow(folder, _timeout_flow(server))
            args = (flow, "--budget-usd", str(TIMEOUT_BUDGET), "--no-progress")
            run = start_cli(*args, cwd=folder, run_id=f"r-timeouts-{seed}")
            stack.callback(run.kill)
            started.append((seed, server, run))
        for seed, server, run in started:
            outcome = run.finish()
            wait_for(lambda s=server: not s.in_flight, timeout=10, what="the server to finish")
            assert outcome.returncode == 3, outcome.describe()
            requests = list(server.requests)
            generated = server.generated_cost(book.cost)
            unanswered = [r for r in requests if r.status != 200]
            assert unanswered, f"seed {seed}: some calls timed out"
            assert generated <= TIMEOUT_BUDGET, (
                f"seed {seed}: the server generated ${generated:.6f} "
                f"for {len(requests)} requests ({len(unanswered)} unanswered)"
            )
            events = outcome.events()
            final = events[-1]
            totals = final["totals"]
            assert totals["calls"] == len(requests) == len(of(events, "llm.request"))
            assert totals["unconfirmed_calls"] == len(of(events, "llm.abandoned")) > 0
            [run_budget] = final["budgets"]
            assert run_budget["spent_usd"] <= TIMEOUT_BUDGET
            assert run_budget["spent_usd"] == pytest.approx(
                totals["cost_usd"] + totals["unconfirmed_cost_usd"]
            )
            assert generated <= run_budget["spent_usd"] + 1e-9
            assert "unconfirmed" in outcome.stderr
