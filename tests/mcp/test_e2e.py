"""The real CLI with the real MCP test server: validate/plan/graph, run --mock, tools, SIGTERM.

Each CLI process pays the litellm import and each server start a Python start-up: the
assertions are grouped into few processes.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from agentflow.schema.resources import load_schema
from tests.e2e.cli import (
    cli_command,
    cli_env,
    of,
    read_log,
    run_cli,
    start_cli,
    wait_for,
    write_workflow,
)
from tests.mcp.servers import alive, directory_folder, server_entry

pytestmark = pytest.mark.e2e

SECRET = "hr-token-9f8e7d6c5b4a3f2e"
GREET = 'def greet(name: str) -> str:\n    return f"hello {name}"\n'


def _flow(
    folder: Path,
    servers: dict[str, Any],
    agents: dict[str, list[str]],
    non_critical: str | None = None,
) -> Path:
    (folder / "tools").mkdir(exist_ok=True)
    (folder / "tools" / "greet.py").write_text(GREET, encoding="utf-8")
    return write_workflow(
        folder,
        {
            "name": "hr_mcp",
            "mcp_servers": servers,
            "tools": {
                "greet": {
                    "description": "Greet someone.",
                    "parameters": {
                        "type": "object",
                        "properties": {"name": {"type": "string"}},
                        "required": ["name"],
                    },
                    "python": "tools.greet:greet",
                }
            },
            "agents": {
                agent: {
                    "model": "openai/gpt-4o-mini",
                    "prompt": f"Help {agent}.",
                    "tools": tools,
                    "critical": agent != non_critical,
                }
                for agent, tools in agents.items()
            },
        },
    )


# Runs the entry point once per command line, then says what was imported.
QUICK = """\
import sys
from agentflow.cli.app import app
codes = []
for argv in ([\"validate\", sys.argv[1]], [\"plan\", sys.argv[1]], [\"graph\", sys.argv[1]]):
    sys.argv = [\"agentflow\", *argv]
    try:
        app()
    except SystemExit as exc:
        codes.append(exc.code)
sys.stderr.write(f\"\\nCODES={codes} LITELLM={'litellm' in sys.modules} MCP={'mcp' in sys.modules}\\n\")
"""


def test_validate_plan_and_graph_start_no_server_and_import_neither_litellm_nor_mcp(
    tmp_path: Path,
) -> None:
    marker = [sys.executable, "-c", "open('started', 'w').close()"]
    path = _flow(tmp_path, {"hr": {"command": marker}}, {"onboard": ["greet", "hr.*"]})
    result = subprocess.run(
        [sys.executable, "-c", QUICK, str(path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=cli_env(),
        timeout=120,
    )
    assert "CODES=[0, 0, 0] LITELLM=False MCP=False" in result.stderr, result.stderr
    assert not (tmp_path / "started").exists()


def test_a_mock_run_calls_mcp_tools_for_real_and_returns_their_errors_to_the_model(
    tmp_path: Path,
) -> None:
    servers = {
        "hr": server_entry(directory_folder(tmp_path / "hr"), env={"HR_TOKEN": "${TEST_HR}"}),
        # The same server over a directory without E1002: its lookup is an error result.
        "old_hr": server_entry(directory_folder(tmp_path / "old", {})),
        # One that cannot start: the agent needing it fails, naming it; the others go on.
        "broken": server_entry(
            tmp_path / "hr", env={"HR_CRASH": "no directory", "HR_TOKEN": "${TEST_HR}"}
        ),
    }
    agents = {
        "onboard": ["greet", "hr.*"],
        "audit": ["old_hr.lookup_employee"],
        "check": ["broken.add"],
    }
    path = _flow(tmp_path, servers, agents, non_critical="check")
    outcome = run_cli(path, "--mock", cwd=tmp_path, env=cli_env(TEST_HR=SECRET))
    assert outcome.returncode == 4, outcome.describe()  # partial: a non-critical agent failed
    events = outcome.events()
    results = {(e["agent"], e["tool"]): e for e in of(events, "tool.result")}
    assert set(results) == {
        ("onboard", "greet"),
        ("onboard", "hr-lookup_employee"),
        ("onboard", "hr-add"),
        ("audit", "old_hr-lookup_employee"),
    }
    assert results["onboard", "hr-lookup_employee"]["ok"] is True
    assert '"Ada Lovelace"' in results["onboard", "hr-lookup_employee"]["output"]
    assert results["onboard", "hr-add"]["ok"] is True
    failed = results["audit", "old_hr-lookup_employee"]
    assert failed["ok"] is False
    assert failed["output"] == "Error executing tool lookup_employee: no employee with id 'E1002'"
    assert sorted(e["agent"] for e in of(events, "agent.completed")) == ["audit", "onboard"]
    (failure,) = of(events, "agent.failed")
    assert (failure["agent"], failure["error_class"]) == ("check", "tool_server")
    assert failure["message"].startswith(
        "MCP server 'broken' failed to start: exited with code 3; stderr:"
    )
    assert "no directory (token [REDACTED])" in failure["message"]
    assert SECRET not in outcome.stdout + outcome.stderr + outcome.log_path.read_text()  # type: ignore[union-attr]


def test_tools_lists_local_and_mcp_tools_with_their_schemas_and_names_a_failed_server(
    tmp_path: Path,
) -> None:
    good = directory_folder(tmp_path / "hr")
    servers = {
        "hr": server_entry(good),
        "broken": server_entry(good, env={"HR_CRASH": "cannot open the directory"}),
    }
    agents = {"onboard": ["greet", "hr.*"], "typo": ["hr.lookup_employe"]}
    path = _flow(tmp_path, servers, agents)
    as_json = subprocess.run(
        cli_command("tools", path, "--format", "json"),
        capture_output=True,
        text=True,
        env=cli_env(),
        timeout=180,
    )
    assert as_json.returncode == 1, as_json.stderr
    document = json.loads(as_json.stdout)
    jsonschema.validate(document, load_schema("tools.schema.json"))
    assert [(t["name"], t["function"], t["kind"]) for t in document["tools"]] == [
        ("greet", "greet", "python"),
        ("hr.lookup_employee", "hr-lookup_employee", "mcp"),
        ("hr.add", "hr-add", "mcp"),
    ]
    add = document["tools"][2]
    assert add["parameters"]["required"] == ["a", "b"]
    assert add["parameters"]["properties"]["a"]["type"] == "number"
    assert document["ok"] is False
    hr, broken = document["servers"]
    assert hr == {"name": "hr", "tools": 2, "error": None}
    assert broken["error"].startswith("MCP server 'broken' failed to start: exited with code 3")
    assert "cannot open the directory" in broken["error"]
    # What validate cannot know without the server: a tool it does not list.
    assert document["problems"] == [
        "agent 'typo': MCP server 'hr' has no tool 'lookup_employe'; "
        "did you mean 'lookup_employee'?"
    ]

    text = subprocess.run(
        cli_command("tools", _flow(tmp_path, {"hr": server_entry(good)}, {"a": ["hr.*"]})),
        capture_output=True,
        text=True,
        env=cli_env(COLUMNS="200"),
        timeout=180,
    )
    assert text.returncode == 0, text.stderr
    assert "hr.lookup_employee  MCP server hr; the model calls it hr-lookup_employee" in text.stdout
    assert "greet  python tools.greet:greet" in text.stdout
    assert '      "pattern": "^E[0-9]{4}$",' in text.stdout


def test_sigterm_during_a_tool_call_stops_the_server_and_its_process_group(
    tmp_path: Path,
) -> None:
    pid_file = tmp_path / "pids"
    entry = server_entry(
        directory_folder(tmp_path / "hr"),
        env={"HR_DELAY_S": "600", "HR_PID_FILE": str(pid_file)},
        timeout="10m",
    )
    path = _flow(tmp_path, {"hr": entry}, {"onboard": ["hr.add"]})
    run = start_cli(path, "--mock", cwd=tmp_path, run_id="stopped")
    try:
        log = tmp_path / "logs" / "stopped.jsonl"
        wait_for(
            lambda: log.exists() and any(e["event"] == "tool.call" for e in read_log(log)),
            timeout=120,
            what="the MCP tool call to start",
        )
        pids = [int(p) for p in pid_file.read_text().split()]
        assert all(alive(pid) for pid in pids)
        run.process.send_signal(signal.SIGTERM)
        outcome = run.finish(timeout=60)
    finally:
        run.kill()
    assert outcome.returncode == 143, outcome.describe()
    assert not [pid for pid in pids if alive(pid)], "the server or its child outlived the run"


def test_sigterm_while_tools_starts_a_server_stops_it_and_its_group_at_once(
    tmp_path: Path,
) -> None:
    pid_file = tmp_path / "pids"
    entry = server_entry(
        directory_folder(tmp_path / "hr"),
        env={"HR_START_DELAY_S": "600", "HR_PID_FILE": str(pid_file)},
        start_timeout="10m",
    )
    path = _flow(tmp_path, {"hr": entry}, {"onboard": ["hr.*"]})
    listing = subprocess.Popen(
        cli_command("tools", path),
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(
            lambda: pid_file.exists() and len(pid_file.read_text().split()) == 2,
            timeout=120,
            what="the server to start",
        )
        pids = [int(p) for p in pid_file.read_text().split()]
        listing.send_signal(signal.SIGTERM)
        # Well before the 10 minutes start_timeout: the start is cut short.
        listing.communicate(timeout=60)
    finally:
        if listing.poll() is None:
            listing.kill()
            listing.communicate()
    assert listing.returncode == 143
    assert not [pid for pid in pids if alive(pid)], "the server or its child outlived the command"
