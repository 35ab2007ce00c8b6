"""What `agentflow tools FILE` shows: every tool a workflow's agents may list, with its schema.

Local tools come from the file; MCP tools from their servers, each started, asked for its
tools and stopped again. A server that cannot start is reported with its error, and the
others are still listed.

    listing = await list_tools(workflow)
    listing.ok, [tool.name for tool in listing.tools]   # (True, ['lookup_employee', 'hr.add'])
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Literal

from agentflow.errors import ToolServerError
from agentflow.model.types import FrozenDict, Tool, Workflow, mcp_reference, thaw

ToolKind = Literal["python", "command", "mcp"]
TOOLS_FORMAT = "agentflow.tools/v1"


@dataclass(frozen=True, slots=True)
class ListedTool:
    """One tool: `name` is what an agent's `tools:` lists, `function` what the model calls."""

    name: str
    function: str
    kind: ToolKind
    description: str
    parameters: FrozenDict
    server: str | None = None
    handler: str | None = None  # `python:` or the command line of a local tool


@dataclass(frozen=True, slots=True)
class ServerStatus:
    """One MCP server: how many tools it listed, or why it did not start."""

    name: str
    tools: int
    error: str | None = None


@dataclass(frozen=True, slots=True)
class ToolListing:
    """The tools of one workflow file, local ones first, then each server's."""

    workflow: str
    path: str
    tools: tuple[ListedTool, ...]
    servers: tuple[ServerStatus, ...]
    problems: tuple[str, ...] = ()  # agents listing MCP tools their server does not have

    @property
    def ok(self) -> bool:
        return not self.problems and all(server.error is None for server in self.servers)

    def to_json(self) -> dict[str, Any]:
        """The `--format json` document (schemas/tools.schema.json)."""
        return {
            "format": TOOLS_FORMAT,
            "workflow": self.workflow,
            "path": self.path,
            "ok": self.ok,
            "tools": [
                {
                    "name": t.name,
                    "function": t.function,
                    "kind": t.kind,
                    "server": t.server,
                    "handler": t.handler,
                    "description": t.description,
                    "parameters": thaw(t.parameters),
                }
                for t in self.tools
            ],
            "servers": [{"name": s.name, "tools": s.tools, "error": s.error} for s in self.servers],
            "problems": list(self.problems),
        }


def _local(tool: Tool) -> ListedTool:
    if tool.python is not None:
        kind: ToolKind = "python"
        handler = tool.python
    else:
        kind, handler = "command", " ".join(tool.command or ())
    return ListedTool(tool.name, tool.name, kind, tool.description, tool.parameters, None, handler)


async def list_tools(workflow: Workflow) -> ToolListing:
    """Every tool of `workflow`; its MCP servers are started side by side, then stopped."""
    local = tuple(_local(tool) for tool in workflow.tools)
    if not workflow.mcp_servers:
        return ToolListing(workflow.name, str(workflow.path), local, ())
    from agentflow.run.mcp import McpServers

    async with McpServers(workflow.mcp_servers) as pool:

        async def one(name: str) -> tuple[ServerStatus, tuple[ListedTool, ...]]:
            try:
                listed = await pool.tools(name)
            except ToolServerError as exc:
                return ServerStatus(name, 0, str(exc)), ()
            return ServerStatus(name, len(listed)), tuple(
                ListedTool(f"{name}.{t.mcp_tool}", t.name, "mcp", t.description, t.parameters, name)
                for t in listed
            )

        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(one(server.name)) for server in workflow.mcp_servers]
    results = [task.result() for task in tasks]
    tools = local + tuple(tool for _, listed in results for tool in listed)
    statuses = tuple(status for status, _ in results)
    problems = _unlisted(workflow, statuses, tools)
    return ToolListing(workflow.name, str(workflow.path), tools, statuses, problems)


def _unlisted(
    workflow: Workflow, statuses: tuple[ServerStatus, ...], tools: tuple[ListedTool, ...]
) -> tuple[str, ...]:
    """An agent's `server.tool` that its (running) server does not list: what `validate`
    cannot know, and what the run would fail the agent for."""
    from agentflow.run.mcp import select_tools

    running = {status.name for status in statuses if status.error is None}
    problems = []
    for agent in workflow.agents:
        for entry in agent.tools:
            reference = mcp_reference(entry)
            if reference is None or reference[0] not in running:
                continue
            server, name = reference
            listed = [_as_record(t) for t in tools if t.server == server]
            try:
                select_tools(server, listed, [name])
            except ToolServerError as exc:
                problems.append(f"agent '{agent.id}': {exc}")
    return tuple(problems)


def _as_record(tool: ListedTool) -> Tool:
    return Tool(
        tool.function,
        tool.description,
        tool.parameters,
        mcp_server=tool.server,
        mcp_tool=tool.name.split(".", 1)[1],
    )
