"""The live display in a real 80x24 terminal: the CLI under tmux, read with capture-pane.

Runs wherever tmux is (it is installed with apt-get when missing and possible; CI's
`.ci/run` installs it). By hand: `tmux new -x 80 -y 24` and run any workflow with --mock.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentflow.sinks import format_usd
from tests.e2e.cli import cli_command, cli_env, read_log, write_workflow
from tests.system_tools import ensure_tool

pytestmark = pytest.mark.e2e

ITEMS = 60


@pytest.fixture
def tmux() -> Iterator[list[str]]:
    """A tmux command on a private server (its own socket), killed afterwards."""
    binary = ensure_tool("tmux", "tmux")
    if binary is None:
        pytest.skip("tmux is not installed and cannot be installed here")
    command = [binary, "-L", f"agentflow-test-{uuid.uuid4().hex[:8]}", "-f", "/dev/null"]
    yield command
    subprocess.run([*command, "kill-server"], capture_output=True, check=False)


def _pane(tmux: list[str]) -> str:
    done = subprocess.run(
        [*tmux, "capture-pane", "-p", "-J", "-S", "-", "-t", "run"],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def test_the_final_frame_at_80x24_shows_every_number_whole(tmux: list[str], tmp_path: Path) -> None:
    flow = write_workflow(
        tmp_path,
        {
            "name": "ledger_review",
            "inputs": {"rows": {"type": "array"}},
            "defaults": {"model": "anthropic/claude-sonnet-4-5", "max_tokens": 300},
            "agents": {
                "extract_every_ledger_line": {
                    "for_each": "{{ inputs.rows }}",
                    "max_parallel": 20,
                    "prompt": "Extract {{ item }}.",
                },
                "summarise": {"prompt": "Sum {{ agents.extract_every_ledger_line.output }}"},
            },
        },
    )
    inputs = tmp_path / "in.json"
    inputs.write_text(json.dumps({"rows": list(range(ITEMS))}), encoding="utf-8")
    argv = cli_command(
        "run", flow, "--inputs", inputs, "--mock", "--mock-latency", "0.05",
        "--log-dir", tmp_path / "logs",
    )  # fmt: skip
    env = cli_env()
    exports = " ".join(
        f"{k}={shlex.quote(v)}" for k, v in env.items() if k in ("PATH", "NO_COLOR", "HOME")
    )
    script = f"cd {shlex.quote(str(tmp_path))} && env {exports} {shlex.join(argv)}; echo EXIT=$?"
    subprocess.run(
        [*tmux, "new-session", "-d", "-s", "run", "-x", "80", "-y", "24", script + "; sleep 60"],
        check=True,
        env=env,
    )
    deadline = time.monotonic() + 90
    while "EXIT=" not in (pane := _pane(tmux)):
        assert time.monotonic() < deadline, pane
        time.sleep(0.2)

    assert "EXIT=0" in pane, pane
    [log] = (tmp_path / "logs").glob("*.jsonl")
    events = read_log(log)
    total = events[-1]["totals"]["cost_usd"]
    start = pane.rindex("agentflow run ")
    frame = pane[start : pane.index("\nCost\n", start)]
    lines = frame.splitlines()
    assert all(len(line) <= 80 for line in lines), frame
    assert not re.search(r"[\d$]…", frame), frame
    assert f"cost {format_usd(total)}" in frame
    assert f"{ITEMS}/{ITEMS}" in frame and "2/2 done" in frame
    assert re.search(r"elapsed \d+\.\d\ds", frame)
    for event in events:
        if event["event"] == "agent.completed":
            assert format_usd(event["cost_usd"]) in frame
    assert frame.count("✓") == 2, frame
