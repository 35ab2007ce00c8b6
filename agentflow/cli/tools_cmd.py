"""`agentflow tools FILE`: start the workflow's MCP servers, list every tool with its schema."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from agentflow.cli.boundary import EXIT_FAILED, EXIT_OK, print_json_data, stderr_console
from agentflow.core import load_workflow
from agentflow.model.types import Workflow, thaw
from agentflow.run import signals
from agentflow.run.listing import ListedTool, ToolListing, list_tools


async def _list(workflow: Workflow) -> ToolListing:
    # A signal while servers start stops them (their process groups too) before exiting.
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None

    def on_signal(_name: str) -> None:  # inside the signal handler: only schedule the cancel
        loop.call_soon_threadsafe(task.cancel)

    signals.running(on_signal)
    try:
        return await list_tools(workflow)
    finally:
        signals.finishing()


def _origin(tool: ListedTool) -> str:
    if tool.kind == "mcp":
        return f"MCP server {tool.server}; the model calls it {tool.function}"
    return f"{tool.kind} {tool.handler}"


def _render_text(listing: ToolListing, out: Console, err: Console) -> None:
    out.print(
        f"[bold]{escape(listing.workflow)}[/bold] ({escape(listing.path)}): "
        f"{len(listing.tools)} tool(s)"
    )
    for tool in listing.tools:
        out.print(f"\n[bold]{escape(tool.name)}[/bold]  [dim]{escape(_origin(tool))}[/dim]")
        if tool.description:
            out.print(f"  {escape(tool.description)}")
        schema = json.dumps(thaw(tool.parameters), indent=2, ensure_ascii=False)
        out.print("\n".join("  " + line for line in schema.splitlines()), markup=False)
    for server in listing.servers:
        if server.error is not None:
            err.print(f"[red]error[/red]: {escape(server.error)}")
    for problem in listing.problems:
        err.print(f"[red]error[/red]: {escape(problem)}")


def tools_command(file: Path, fmt: str = "text") -> int:
    """List FILE's tools; exit 1 when an MCP server did not start (the others are listed) or
    lacks a tool an agent lists."""
    workflow = load_workflow(file)
    try:
        listing = asyncio.run(_list(workflow))
    except asyncio.CancelledError:  # stopped by a signal: the servers are stopped already
        return signals.exit_code(EXIT_FAILED)
    out = Console(highlight=False, soft_wrap=True)
    if fmt == "json":
        print_json_data(out, listing.to_json())
    else:
        _render_text(listing, out, stderr_console())
    return EXIT_OK if listing.ok else EXIT_FAILED
