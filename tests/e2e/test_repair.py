"""An answer that is not valid JSON is asked again, with the error, in the same conversation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.cli import of, run_cli, schema_errors, write_workflow
from tests.fakeserver import FakeLLMServer, Scripted

pytestmark = pytest.mark.e2e

SCORE = {
    "type": "object",
    "required": ["score"],
    "properties": {"score": {"type": "integer"}},
}


def test_a_prose_answer_is_repaired_once_and_both_calls_are_paid_for(
    fake_server: FakeLLMServer, tmp_path: Path, event_validator: object
) -> None:
    fake_server.enqueue(
        Scripted(content="Sure! I would give this candidate an 8."),
        Scripted(content='{"score": 8}'),
    )
    flow = write_workflow(
        tmp_path,
        {
            "name": "repair",
            "defaults": {"model": "openai/gpt-4o-mini", "api_base": fake_server.base_url},
            "agents": {
                "screen": {
                    "prompt": "Score the candidate.",
                    "output": {"format": "json", "schema": SCORE},
                }
            },
        },
    )
    run = run_cli(flow, "--format", "json", cwd=tmp_path)

    assert run.returncode == 0, run.describe()
    events = run.events()
    (repair,) = of(events, "llm.repair")
    assert (repair["round"], repair["repair"], repair["of"]) == (0, 1, 1)
    assert repair["error_class"] == "output_invalid"
    assert "not valid JSON" in repair["message"]
    (completed,) = of(events, "agent.completed")
    assert completed["output"] == {"score": 8}
    assert completed["calls"] == 2
    # the repair went into the same conversation: the bad answer, then the error
    first, second = (r.body["messages"] for r in fake_server.requests)
    assert second[: len(first)] == first
    assert second[len(first)]["role"] == "assistant"
    assert second[len(first)]["content"] == "Sure! I would give this candidate an 8."
    assert second[-1]["role"] == "user" and "not valid JSON" in second[-1]["content"]
    # both calls are in the cost, and the requests are rounds 0 and 1
    responses = of(events, "llm.response")
    assert [r["round"] for r in of(events, "llm.request")] == [0, 1]
    assert completed["cost_usd"] == pytest.approx(sum(r["cost_usd"] for r in responses))
    assert json.loads(run.stdout)["totals"]["calls"] == 2
    assert schema_errors(event_validator, events) == []
