"""What a script sees: one JSON document on stdout, diagnostics on stderr, no secrets anywhere."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.e2e.cli import ANTHROPIC_KEY, OPENAI_KEY, of, run_cli, schema_errors, write_workflow
from tests.fakeserver import FakeLLMServer, Scripted

pytestmark = pytest.mark.e2e

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\]")


def _flow(server: FakeLLMServer) -> dict[str, object]:
    return {
        "name": "screen_candidate",
        "inputs": {"resume": {"type": "string", "default": "Ada Lovelace, 8 years of Python."}},
        "defaults": {
            "model": "openai/gpt-4o-mini",
            "max_tokens": 200,
            "api_base": server.base_url,
            "retry": {"max_attempts": 3, "initial_delay": "50ms", "max_delay": "200ms"},
        },
        "agents": {
            "parse": {
                "prompt": "Extract name and skills from: {{ inputs.resume }}",
                "output": {
                    "format": "json",
                    "schema": {
                        "type": "object",
                        "properties": {"name": {"type": "string"}, "skills": {"type": "array"}},
                        "required": ["name", "skills"],
                    },
                },
            },
            "screen": {
                "prompt": "Score {{ agents.parse.output.name }} for a backend role, 0-10.",
                "output": {
                    "format": "json",
                    "schema": {
                        "type": "object",
                        "properties": {"score": {"type": "integer", "minimum": 0, "maximum": 10}},
                        "required": ["score"],
                    },
                },
            },
        },
        "outputs": {
            "name": "{{ agents.parse.output.name }}",
            "score": "{{ agents.screen.output }}",
        },
    }


def test_json_format_prints_one_document_and_keeps_secrets_and_colours_out(
    fake_server: FakeLLMServer, tmp_path: Path, event_validator: object
) -> None:
    # The first answer is a 500: a retry puts a provider error message into the log too.
    fake_server.enqueue(Scripted(fail=500))
    flow = write_workflow(tmp_path, _flow(fake_server))
    out_file = tmp_path / "out" / "outputs.json"

    run = run_cli(flow, "--format", "json", "--output", out_file, cwd=tmp_path, run_id="r-json")

    assert run.returncode == 0, run.describe()
    document = json.loads(run.stdout)  # the whole of stdout is one JSON document
    assert document["status"] == "ok"
    assert document["run_id"] == "r-json"
    assert Path(tmp_path, document["log_path"]).resolve() == run.log_path.resolve()
    [result] = document["results"]
    assert result["workflow"] == "screen_candidate"
    assert result["status"] == "ok"
    assert isinstance(result["outputs"]["name"], str) and result["outputs"]["name"]
    assert isinstance(result["outputs"]["score"]["score"], int)
    totals = document["totals"]
    assert totals["agents"] == {"completed": 2, "failed": 0, "skipped": 0}
    assert totals["cost_usd"] > 0
    assert totals["input_tokens"] > 0 and totals["output_tokens"] > 0

    assert json.loads(out_file.read_text(encoding="utf-8")) == document["results"]

    # Progress goes to stderr, as plain lines without colour codes.
    assert "screen_candidate/parse" in run.stderr
    assert not ANSI.search(run.stderr), repr(run.stderr[:500])
    assert not ANSI.search(run.stdout)

    events = run.events()
    assert len(of(events, "llm.retry")) == 1
    assert of(events, "llm.retry")[0]["error_class"] == "server_error"
    log_text = run.log_path.read_text(encoding="utf-8")
    for secret in (OPENAI_KEY, ANTHROPIC_KEY, "SECRET123456789"):
        assert secret not in log_text
        assert secret not in run.stdout
        assert secret not in run.stderr
    # Three requests reached the provider (one 500, then two answers); "calls" counts model
    # calls made, retries included, so the failed attempt counts too.
    assert len(fake_server.requests) == 3
    assert totals["calls"] == 3
    assert events[-1]["totals"]["calls"] == 3
    assert schema_errors(event_validator, events) == []


def test_max_answer_bytes_cuts_a_long_answer_and_the_log_says_so(
    fake_server: FakeLLMServer, tmp_path: Path
) -> None:
    long_answer = "The ledger balances. " * 500  # 10,500 bytes
    fake_server.enqueue(Scripted(content=long_answer))
    flow = write_workflow(
        tmp_path,
        {
            "name": "long_answer",
            "defaults": {"model": "openai/gpt-4o-mini", "api_base": fake_server.base_url},
            "agents": {"summarise": {"prompt": "Summarise the ledger."}},
        },
    )
    outcome = run_cli(flow, "--max-answer-bytes", "2048", "--format", "json", cwd=tmp_path)
    assert outcome.returncode == 0, outcome.describe()
    response = of(outcome.events(), "llm.response")[0]
    assert response["truncated"] is True
    assert response["original_bytes"] == len(long_answer)
    completed = of(outcome.events(), "agent.completed")[0]
    assert 1024 < len(completed["output"].encode()) <= 2048  # the answer as kept
    refused = run_cli(flow, "--max-answer-bytes", "10", cwd=tmp_path)
    assert refused.returncode == 2 and "--max-answer-bytes" in refused.stderr
