"""The run's MCP servers over the real stdio transport, with the real test server.

Each test starts the server once (seconds on a loaded machine) and asserts all it can.
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from agentflow.errors import ToolServerError
from agentflow.model.types import Agent
from agentflow.run.mcp import McpServers
from agentflow.run.tools import ToolRunner
from tests.mcp.servers import alive, directory_folder, hr_server

SECRET = "hr-token-0a1b2c3d4e5f6a7b"


def _agent(*tools: str) -> Agent:
    return Agent(id="onboard", model="openai/gpt-4o-mini", prompt="p", tools=tools)


def test_a_server_starts_on_first_use_lists_its_tools_routes_calls_and_stops_with_its_group(
    tmp_path: Path,
) -> None:
    pid_file = tmp_path / "pids"
    server = hr_server(directory_folder(tmp_path / "hr"), env={"HR_PID_FILE": str(pid_file)})

    async def main() -> dict[str, object]:
        async with McpServers([server]) as servers:
            runner = ToolRunner((), mcp=servers)
            assert servers.started() == ()  # nothing runs before an agent needs it
            tools = await runner.mcp_tools(_agent("hr.*"))
            only_add = await runner.mcp_tools(_agent("hr.add"))
            seen = {
                "names": [t.name for t in tools],
                "remote": [t.mcp_tool for t in tools],
                "schema": dict(tools[0].parameters),
                "only_add": [t.name for t in only_add],
                "found": await runner.call("hr-lookup_employee", '{"employee_id": "E1002"}'),
                "missing": await runner.call("hr-lookup_employee", '{"employee_id": "E9999"}'),
                "bad_args": await runner.call("hr-add", '{"a": "ten"}'),
                "sum": await runner.call("hr-add", '{"a": 2, "b": 0.5}'),
                "started": servers.started(),
            }
            with pytest.raises(ToolServerError) as unknown:
                await runner.mcp_tools(_agent("hr.lookup_employe"))
            seen["unknown"] = str(unknown.value)
            seen["pids"] = [int(p) for p in pid_file.read_text().split()]
            assert all(alive(pid) for pid in seen["pids"])  # type: ignore[attr-defined]
        return seen

    seen = asyncio.run(main())
    assert seen["names"] == ["hr-lookup_employee", "hr-add"]
    assert seen["remote"] == ["lookup_employee", "add"]
    assert seen["only_add"] == ["hr-add"]
    schema = seen["schema"]
    assert isinstance(schema, dict) and schema["required"] == ("employee_id",)
    found, missing, bad_args, total = (seen[k] for k in ("found", "missing", "bad_args", "sum"))
    assert found.ok and "Ada Lovelace" in found.content  # type: ignore[attr-defined]
    # A tool's error is a result the model reads, not a crash.
    assert not missing.ok and "no employee with id 'E9999'" in missing.content  # type: ignore[attr-defined]
    # Arguments are checked against the server's schema before the server is called.
    assert not bad_args.ok and "invalid arguments for tool 'hr-add'" in bad_args.content  # type: ignore[attr-defined]
    assert total.ok and total.content == "2.5"  # type: ignore[attr-defined]
    assert seen["started"] == ("hr",)
    assert seen["unknown"] == (
        "MCP server 'hr' has no tool 'lookup_employe'; did you mean 'lookup_employee'?"
    )
    # Leaving the block stopped the server and the child it started in its process group.
    assert not any(alive(pid) for pid in seen["pids"])  # type: ignore[attr-defined]


def test_a_slow_call_times_out_as_a_tool_result(tmp_path: Path) -> None:
    server = hr_server(directory_folder(tmp_path), env={"HR_DELAY_S": "30"}, timeout=0.5)

    async def main() -> object:
        async with McpServers([server]) as servers:
            runner = ToolRunner((), mcp=servers)
            await runner.mcp_tools(_agent("hr.add"))
            return await runner.call("hr-add", '{"a": 1, "b": 2}')

    outcome = asyncio.run(main())
    assert not outcome.ok  # type: ignore[attr-defined]
    assert outcome.content == "tool 'hr-add' timed out after 0.5s"  # type: ignore[attr-defined]


def test_a_server_that_fails_to_start_is_named_with_its_redacted_stderr_tail(
    tmp_path: Path,
) -> None:
    server = hr_server(
        directory_folder(tmp_path),
        env={"HR_CRASH": "directory service unreachable", "HR_TOKEN": "${TEST_HR_SECRET}"},
    )

    async def main() -> str:
        async with McpServers([server], environ={"TEST_HR_SECRET": SECRET}) as servers:
            with pytest.raises(ToolServerError) as failed:
                await ToolRunner((), mcp=servers).mcp_tools(_agent("hr.*"))
            # A second agent gets the same answer without starting the server again.
            with pytest.raises(ToolServerError) as again:
                await servers.tools("hr")
            assert str(again.value) == str(failed.value)
            return str(failed.value)

    message = asyncio.run(main())
    assert message.startswith("MCP server 'hr' failed to start: exited with code 3; stderr:")
    assert "directory service unreachable (token [REDACTED])" in message
    assert SECRET not in message


def test_an_env_reference_to_an_unset_variable_stops_the_start_and_names_it(
    tmp_path: Path,
) -> None:
    server = hr_server(tmp_path, env={"HR_TOKEN": "Bearer ${NOT_SET_ANYWHERE}"})

    async def main() -> str:
        async with McpServers([server], environ={}) as servers:
            with pytest.raises(ToolServerError) as failed:
                await servers.tools("hr")
            assert servers.pid("hr") is None  # nothing was started
            return str(failed.value)

    assert asyncio.run(main()) == (
        "MCP server 'hr' cannot start: env HR_TOKEN refers to ${NOT_SET_ANYWHERE}, "
        "which is not set in the environment"
    )


def test_a_server_that_dies_mid_run_is_an_error_result_naming_it(tmp_path: Path) -> None:
    server = hr_server(directory_folder(tmp_path))

    async def main() -> tuple[object, object]:
        async with McpServers([server]) as servers:
            runner = ToolRunner((), mcp=servers)
            await runner.mcp_tools(_agent("hr.*"))
            pid = servers.pid("hr")
            assert pid is not None
            os.kill(pid, signal.SIGKILL)
            first = await runner.call("hr-add", '{"a": 1, "b": 2}')
            second = await runner.call("hr-lookup_employee", '{"employee_id": "E1002"}')
            return first, second

    first, second = asyncio.run(main())
    for outcome in (first, second):
        assert not outcome.ok  # type: ignore[attr-defined]
        assert outcome.content.startswith("MCP server 'hr' exited with code -9")  # type: ignore[attr-defined]
