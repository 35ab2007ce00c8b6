"""`validate` checks `mcp_servers:` and MCP tool references without starting any server."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from agentflow.core import analyze, load_workflow
from agentflow.errors import WorkflowInvalid
from tests.e2e.cli import write_workflow

# A "server" that leaves a mark when it is started: validate must never start it.
MARKER_SERVER = [sys.executable, "-c", "open('started', 'w').close()"]


def _flow(folder: Path, servers: dict[str, Any], tools: list[str]) -> Path:
    return write_workflow(
        folder,
        {
            "name": "hr_mcp",
            "mcp_servers": servers,
            "agents": {"onboard": {"model": "openai/gpt-4o-mini", "prompt": "p", "tools": tools}},
        },
    )


def test_a_workflow_with_mcp_servers_validates_without_starting_them(tmp_path: Path) -> None:
    servers = {
        "hr": {
            "command": MARKER_SERVER,
            "args": ["--verbose"],
            "env": {"HR_TOKEN": "${HR_TOKEN}", "MODE": "read-only"},
            "cwd": ".",
            "timeout": "5s",
            "start_timeout": "1m",
        }
    }
    path = _flow(tmp_path, servers, ["hr.lookup_employee", "hr.*"])
    analysis = analyze(path)
    assert analysis.diagnostics == ()
    assert analysis.workflow is not None
    (server,) = analysis.workflow.mcp_servers
    assert server.command == (*MARKER_SERVER, "--verbose")
    assert server.env == (("HR_TOKEN", "${HR_TOKEN}"), ("MODE", "read-only"))
    assert (server.timeout, server.start_timeout, server.cwd) == (5.0, 60.0, tmp_path / ".")
    assert analysis.workflow.agents[0].tools == ("hr.lookup_employee", "hr.*")
    assert not (tmp_path / "started").exists()


def test_an_unknown_server_in_an_agents_tools_is_an_error_at_its_line_with_a_suggestion(
    tmp_path: Path,
) -> None:
    path = _flow(tmp_path, {"hr": {"command": MARKER_SERVER}}, ["hrr.lookup_employee"])
    (error,) = analyze(path).errors
    assert (
        error.message == "unknown MCP server 'hrr'; did you mean 'hr'? (in 'hrr.lookup_employee')"
    )
    line = path.read_text().splitlines().index('        "hrr.lookup_employee"') + 1
    assert (error.file, error.line, error.column) == (str(path), line, 9)
    assert error.path == "agents.onboard.tools[0]"


def test_a_missing_program_warns_in_validate_and_stops_a_run(tmp_path: Path) -> None:
    path = _flow(tmp_path, {"hr": {"command": ["no-such-mcp-server-xyz"]}}, ["hr.*"])
    (warning,) = analyze(path).diagnostics
    assert warning.severity == "warning"
    assert warning.message == "MCP server 'hr': command 'no-such-mcp-server-xyz' not found on PATH"
    assert warning.path == "mcp_servers.hr.command"
    with pytest.raises(WorkflowInvalid) as at_run:
        load_workflow(path, import_tools=True)
    assert [d.message for d in at_run.value.diagnostics] == [warning.message]


@pytest.mark.parametrize(
    ("servers", "tools", "expected"),
    [
        (
            {"hr": {"command": MARKER_SERVER, "env": {"HR_TOKEN": "${HR TOKEN}"}}},
            ["hr.*"],
            "MCP server 'hr': env HR_TOKEN: '${HR TOKEN}' has a '${' that is not a reference "
            "like ${NAME}",
        ),
        ({"hr": {"command": MARKER_SERVER}}, ["hr."], "tools[0]"),
        ({"hr": {"command": []}}, ["hr.*"], "command"),
        ({"hr": {"command": MARKER_SERVER, "shell": True}}, ["hr.*"], "shell"),
        ({"HR": {"command": MARKER_SERVER}}, [], "HR"),
    ],
    ids=["bad-env-reference", "no-tool-after-dot", "empty-command", "unknown-key", "bad-name"],
)
def test_a_malformed_server_or_reference_is_an_error(
    tmp_path: Path, servers: dict[str, Any], tools: list[str], expected: str
) -> None:
    errors = analyze(_flow(tmp_path, servers, tools)).errors
    assert errors, "expected an error"
    assert any(expected in f"{e.path} {e.message}" for e in errors), [e.render() for e in errors]
