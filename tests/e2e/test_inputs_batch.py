"""`--inputs F.jsonl`: one workflow instance per line, all running at once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.cli import of, run_cli, write_workflow
from tests.fakeserver import FakeLLMServer

pytestmark = pytest.mark.e2e

LINES = 20


def test_twenty_input_lines_run_twenty_instances_concurrently(
    fake_server: FakeLLMServer, tmp_path: Path
) -> None:
    flow = write_workflow(
        tmp_path,
        {
            "name": "invoice_batch",
            "inputs": {"invoice_id": {"type": "string"}, "amount": {"type": "integer"}},
            "defaults": {
                "model": "openai/gpt-4o-mini",
                "max_tokens": 100,
                "api_base": fake_server.base_url,
            },
            "agents": {
                "review": {
                    "prompt": "Review {{ inputs.invoice_id }} for {{ inputs.amount }}. [[latency_ms=1000]]",
                    "output": {
                        "format": "json",
                        "schema": {
                            "type": "object",
                            "properties": {"ok": {"type": "boolean"}},
                            "required": ["ok"],
                        },
                    },
                }
            },
            "outputs": {
                "invoice_id": "{{ inputs.invoice_id }}",
                "doubled": "{{ inputs.amount * 2 }}",
                "review": "{{ agents.review.output }}",
            },
        },
    )
    batch = tmp_path / "batch.jsonl"
    batch.write_text(
        "".join(
            json.dumps({"invoice_id": f"INV-{n:03d}", "amount": n}) + "\n" for n in range(LINES)
        ),
        encoding="utf-8",
    )

    run = run_cli(flow, "--inputs", batch, "--format", "json", cwd=tmp_path, run_id="r-batch")

    assert run.returncode == 0, run.describe()
    # Twenty one-second calls overlapped instead of queueing one after another.
    assert fake_server.max_in_flight >= LINES // 2, fake_server.statistics()
    assert len(fake_server.requests) == LINES
    results = json.loads(run.stdout)["results"]
    assert sorted(r["instance"] for r in results) == list(range(LINES))
    for result in results:
        n = result["instance"]
        assert result["status"] == "ok"
        assert result["outputs"]["invoice_id"] == f"INV-{n:03d}"
        assert result["outputs"]["doubled"] == 2 * n
        assert isinstance(result["outputs"]["review"]["ok"], bool)
    started = of(run.events(), "workflow.started")
    assert {e["instance"]: e["inputs"]["invoice_id"] for e in started} == {
        n: f"INV-{n:03d}" for n in range(LINES)
    }
