"""Snapshots of what a deterministic run leaves: the JSONL log and the cost table on stderr."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from syrupy.assertion import SnapshotAssertion

from tests.e2e.cli import cli_env, run_cli, write_workflow
from tests.fakeserver import FakeLLMServer

pytestmark = pytest.mark.e2e

# Values that differ from run to run (times) or from machine to machine (paths, versions).
_VOLATILE = {"ts", "duration_s", "latency_s", "log_path", "litellm_version", "sha256"}
_TIME_CELL = re.compile(r" +(?:\d+(?:\.\d+)?(?:ms|s|m)|-|Time) *$")


def _normalise(value: Any, base: str) -> Any:
    if isinstance(value, dict):
        return {
            k: f"<{k}>" if k in _VOLATILE and v is not None else _normalise(v, base)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_normalise(v, base) for v in value]
    if isinstance(value, str):
        return value.replace(base, "<tmp>")
    return value


def _cost_table(stderr: str) -> str:
    """The table from its title to the agents line, without the Time column (wall times)."""
    lines = stderr.splitlines()
    start = lines.index("Cost")
    end = next(i for i, line in enumerate(lines) if line.startswith("Agents:"))
    table = [_TIME_CELL.sub("", line).rstrip() for line in lines[start : end + 1]]
    width = len(table[1])
    return "\n".join("─" * width if set(line) == {"─"} else line for line in table)


def test_a_deterministic_run_log_and_cost_table(
    fake_server: FakeLLMServer, tmp_path: Path, snapshot: SnapshotAssertion
) -> None:
    flow = write_workflow(
        tmp_path,
        {
            "name": "invoice_check",
            "inputs": {"invoice": {"type": "string", "default": "INV-1042: 12 monitors, $2,400"}},
            "defaults": {
                "model": "openai/gpt-4o-mini",
                "max_tokens": 200,
                "api_base": fake_server.base_url,
            },
            "agents": {
                "extract": {
                    "prompt": "Extract the lines of {{ inputs.invoice }}.",
                    "output": {
                        "format": "json",
                        "schema": {
                            "type": "object",
                            "properties": {
                                "number": {"type": "string"},
                                "total": {"type": "number"},
                            },
                            "required": ["number", "total"],
                        },
                    },
                },
                "check": {
                    "model": "openai/gpt-4o",
                    "prompt": "Check invoice {{ agents.extract.output.number }} for errors.",
                },
                "skipped_note": {
                    "needs": ["check"],
                    "when": "{{ agents.extract.output.total < 0 }}",
                    "prompt": "Explain the negative total.",
                },
            },
            "outputs": {"number": "{{ agents.extract.output.number }}"},
        },
    )

    run = run_cli(flow, cwd=tmp_path, run_id="r-snapshot", env=cli_env(COLUMNS="120"))

    assert run.returncode == 0, run.describe()
    assert _normalise(run.events(), str(tmp_path)) == snapshot(name="run_log")
    assert _cost_table(run.stderr) == snapshot(name="cost_table")
