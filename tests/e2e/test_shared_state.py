"""`--state redis://...` end to end, with a real redis-server: two processes under one
standing budget, `plan` showing what is left, and what happens when Redis is not there."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import jsonschema
import pytest

from agentflow.plan.pricing import load_price_book
from agentflow.schema.resources import load_schema
from agentflow.state.groups import hold_groups
from tests.e2e.cli import answered, cli_command, cli_env, of, run_cli, start_cli, write_workflow
from tests.fakeserver import FakeLLMServer
from tests.redis_server import RedisServer, free_port

pytestmark = pytest.mark.e2e

MODEL = "openai/gpt-4o"
USAGE = (40, 190)  # $0.0020 a call; $0.0021 reserved at max_tokens 200
DAILY = 0.02


def _flow(tmp_path: Path, server: FakeLLMServer, budget: dict[str, object] | None) -> Path:
    document: dict[str, object] = {
        "name": "nightly_ledgers",
        "defaults": {"model": MODEL, "max_tokens": 200, "api_base": server.base_url},
        "agents": {f"s{i}": {"prompt": f"Summarise ledger {i}."} for i in range(30)},
    }
    if budget is not None:
        document["budget"] = budget
    else:
        document["limits"] = {"*": {"rpm": 6000, "burst": 5}}
    return write_workflow(tmp_path, document)


def test_two_processes_share_one_standing_budget_and_plan_shows_what_is_left(
    fake_server: FakeLLMServer, redis_server: RedisServer, tmp_path: Path
) -> None:
    fake_server.configure(usage=USAGE, latency_s=0.05)
    flow = _flow(tmp_path, fake_server, {"max_usd": DAILY, "per": "day"})
    state = ["--state", redis_server.url]

    first = start_cli(flow, *state, cwd=tmp_path, run_id="p1")
    second = start_cli(flow, *state, cwd=tmp_path, run_id="p2")
    runs = [first.finish(), second.finish()]

    per_call = load_price_book().cost(MODEL, *USAGE)
    assert per_call is not None
    spent = len(answered(fake_server)) * per_call
    assert DAILY - 2 * 0.0021 < spent <= DAILY, f"{len(answered(fake_server))} calls"
    for run in runs:
        assert run.returncode == 3, run.describe()
        exceeded = of(run.events(), "budget.exceeded")
        assert exceeded and exceeded[0]["scope"].startswith("standing:nightly_ledgers@")
    logged = sum(e["cost_usd"] for run in runs for e in of(run.events(), "llm.response"))
    assert logged == pytest.approx(spent)

    plan = subprocess.run(
        cli_command("plan", flow, "--format", "json", *state),
        cwd=tmp_path,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert plan.returncode == 3, plan.stderr  # 30 calls cost more than the daily $0.02
    document = json.loads(plan.stdout)
    jsonschema.validate(document, load_schema("plan.schema.json"))
    standing = document["standing_budget"]
    assert standing["key"] == "nightly_ledgers"
    assert standing["store"] == redis_server.url
    assert standing["spent_usd"] == pytest.approx(spent)
    assert standing["left_usd"] == pytest.approx(DAILY - spent)


def test_an_unreachable_redis_stops_a_standing_budget_before_any_call_and_limits_go_local(
    fake_server: FakeLLMServer, tmp_path: Path
) -> None:
    nowhere = f"redis://127.0.0.1:{free_port()}/0"
    budgeted = _flow(tmp_path, fake_server, {"max_usd": DAILY, "per": "day"})
    refused = run_cli(budgeted, "--state", nowhere, cwd=tmp_path, run_id="closed")
    assert refused.returncode == 2, refused.describe()
    lines = [line for line in refused.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, refused.stderr
    assert "cannot be reached" in lines[0] and "fail closed" in lines[0]
    assert answered(fake_server) == []
    assert not (tmp_path / "logs" / "closed.jsonl").exists()

    limited = tmp_path / "limited"
    limited.mkdir()
    flow = _flow(limited, fake_server, None)
    env = cli_env(AGENTFLOW_STATE=nowhere)
    run = run_cli(flow, "--no-progress", cwd=limited, run_id="local", env=env)
    assert run.returncode == 0, run.describe()
    warnings = [line for line in run.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1, run.stderr
    assert "fall back to this process alone" in warnings[0]
    assert len(answered(fake_server)) == 30


def test_a_start_while_another_run_holds_the_concurrency_group_skips_with_one_line(
    fake_server: FakeLLMServer, redis_server: RedisServer, tmp_path: Path
) -> None:
    flow = write_workflow(
        tmp_path,
        {
            "name": "nightly",
            "inputs": {"tenant": {"type": "string"}},
            "concurrency": {"group": "nightly-{{ inputs.tenant }}", "on_conflict": "skip"},
            "defaults": {"model": MODEL, "max_tokens": 50, "api_base": fake_server.base_url},
            "agents": {"a": {"prompt": "Close the books of {{ inputs.tenant }}."}},
        },
    )
    with hold_groups(
        ["nightly-acme"],
        "skip",
        run_id="the-holder",
        lock_dir=tmp_path / "unused",
        shared_url=redis_server.url,
    ):
        run = run_cli(
            flow, "--input", "tenant=acme", "--state", redis_server.url, cwd=tmp_path, run_id="r2"
        )
    assert run.returncode == 0, run.describe()
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert (
        lines == [lines[0]]
        and "skipped: concurrency group 'nightly-acme' is held by run the-holder" in lines[0]
    )
    assert answered(fake_server) == []
    assert not (tmp_path / "logs" / "r2.jsonl").exists()
