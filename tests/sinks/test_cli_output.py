"""What a user reads off a terminal: the real CLI, --mock, stderr counted line by line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.cli import run_cli, write_workflow

pytestmark = pytest.mark.e2e

ITEMS = 300
# What --quiet may print for a budget stop, besides the result on stdout: the warning, the
# first refusal, the failed agent, the count of later refusals, the run's line, and the
# failure report (headline, table, skipped agents, cost, budget, re-run command, log path):
# 16 lines at 80 columns today, where the run used to print 454.
QUIET_LINE_LIMIT = 20


def test_a_budget_stopped_300_item_fan_out_prints_a_handful_of_lines_under_quiet(
    tmp_path: Path,
) -> None:
    flow = write_workflow(
        tmp_path,
        {
            "name": "fanout",
            "inputs": {"rows": {"type": "array"}},
            "budget": {"max_usd": 0.05},
            "defaults": {"model": "openai/gpt-4o", "max_tokens": 200},
            "agents": {
                "each": {
                    "for_each": "{{ inputs.rows }}",
                    "max_parallel": 50,
                    "prompt": "Summarise {{ item }}.",
                },
                "after": {"prompt": "Total: {{ agents.each.output }}"},
            },
        },
    )
    inputs = tmp_path / "in.json"
    inputs.write_text(json.dumps({"rows": list(range(ITEMS))}), encoding="utf-8")

    run = run_cli(flow, "--inputs", inputs, "--mock", "--no-progress", "--quiet", cwd=tmp_path)

    assert run.returncode == 3, run.describe()
    lines = run.stderr.splitlines()
    assert len(lines) <= QUIET_LINE_LIMIT, run.describe()
    refused = sum(1 for e in run.events() if e["event"] == "budget.exceeded")
    assert refused > 10, "the run must refuse many calls for this test to mean anything"
    text = run.stderr
    assert text.count("BUDGET EXCEEDED") == 2 and text.count("Stopped by the") == 1
    assert f"{refused - 1} more calls refused" in text
    assert "workflow budget (fanout#0)" in text and "run budget" not in text
    assert "lower max_tokens or raise the budget" in text
    assert f"/{ITEMS} items done" in text and "attempts" not in text
