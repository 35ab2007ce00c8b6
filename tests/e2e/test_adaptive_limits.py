"""Adaptive limits end to end: a provider with an undeclared limit, and no `limits:` at all."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from agentflow.run.adaptive import PROBE_WINDOW
from agentflow.schema.resources import load_schema
from tests.e2e.cli import of, run_cli, write_workflow
from tests.fakeserver import FakeLLMServer

pytestmark = pytest.mark.e2e

AGENTS, RPM, COST = 100, 1200, 0.0021


def test_an_undeclared_limit_costs_few_429s_and_the_gateway_cost_is_kept(
    fake_server: FakeLLMServer, tmp_path: Path
) -> None:
    # 20 requests a second, a bucket of two, rate-limit headers on every answer, and the
    # cost a LiteLLM proxy would report for a model the price map does not know.
    fake_server.configure(enforce_rpm=RPM, enforce_burst=2, latency_s=0.05, response_cost=COST)
    flow = write_workflow(
        tmp_path,
        {
            "name": "adaptive",
            "defaults": {
                "model": "openai/team-gpt",
                "max_tokens": 20,
                "api_base": fake_server.base_url,
            },
            "agents": {f"a{i}": {"prompt": f"Say {i}."} for i in range(AGENTS)},
        },
    )
    run = run_cli(flow, "--format", "json", "--no-progress", cwd=tmp_path, timeout=120)
    assert run.returncode == 0, run.describe()
    doc = json.loads(run.stdout)
    assert doc["totals"]["agents"]["completed"] == AGENTS
    # Few 429s: at most the probe's first wave over the bucket, and a handful after it; the
    # key slowed down to what the headers said instead of one 429 per call.
    assert fake_server.rate_limited <= PROBE_WINDOW + 5, fake_server.statistics()
    events = run.events()
    adjusted = of(events, "ratelimit.adjusted")
    assert adjusted and adjusted[0]["provider_rpm"] == RPM
    assert all(a["rpm"] is None or a["rpm"] <= RPM for a in adjusted)
    # A hinted 429 waits without spending an attempt.
    assert all(e.get("counted") is False for e in of(events, "llm.retry"))
    # The gateway's cost is the cost, and says where it came from.
    responses = of(events, "llm.response")
    assert {e["cost_source"] for e in responses} == {"provider"}
    assert doc["totals"]["cost_usd"] == pytest.approx(AGENTS * COST)
    assert doc["totals"]["provider_priced_calls"] == AGENTS
    schema = load_schema("run-event.schema.json")
    for event in adjusted + responses[:3]:
        jsonschema.validate(event, schema)
