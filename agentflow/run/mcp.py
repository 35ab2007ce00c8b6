"""MCP tool servers of a run: each started on first use, listed, called, stopped at the end.

    async with McpServers(workflow.mcp_servers) as servers:
        tools = await servers.tools("hr")          # starts `hr` the first time; Tool records
        text = await servers.call(tools[0], {"employee_id": "E1002"})   # or raises ToolError

One process per server and run, shared by every agent and instance that needs it. Each
server lives in a task of the pool's TaskGroup: it starts the program in a process group of
its own, opens an MCP session over its stdin and stdout (the `mcp` SDK's `ClientSession`, on
the stdio transport below, which keeps the process at hand for its exit code and its
group), lists the tools, and waits until the pool closes. Closing asks the server to exit
(its stdin closes), and after a grace period terminates, then kills, whatever is left of
its process group; a stopped run (SIGTERM, SIGINT) closes the pool the same way, so no
server outlives agentflow.

The server's environment is a minimal one (HOME, PATH, USER, ...: the SDK's default) plus
its `env:`, where `${NAME}` takes agentflow's own variable NAME when the server starts.
Those values never reach the model or the log: every text that leaves this module (tool
results, errors, the server's stderr tail) is redacted with them.

This is the one module that imports `mcp`: its exceptions become `ToolServerError` (a
server that cannot start; the agent that needed it fails) or `ToolError` (a call that
failed; its text goes back to the model) here.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import subprocess
import tempfile
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import IO, Any

import anyio
import mcp.types as mcp_types
from anyio.abc import Process
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from anyio.streams.text import TextReceiveStream
from mcp import ClientSession
from mcp.client.stdio import get_default_environment
from mcp.os.posix.utilities import terminate_posix_process_tree
from mcp.shared.message import SessionMessage

from agentflow import __version__
from agentflow.check.tools import env_references, resolve_server_program
from agentflow.errors import ToolError, ToolServerError
from agentflow.model.types import McpServer, Tool, freeze
from agentflow.redaction import Redactor, looks_like_credential, redact
from agentflow.schema.suggest import did_you_mean

__all__ = ["McpServers", "function_name", "select_tools"]

EXIT_GRACE_S = 2.0
"""How long a server may take to exit once its stdin is closed, before its group is killed."""

KILL_WAIT_S = 2.0
"""How long after SIGTERM to its process group before SIGKILL."""

_STDERR_TAIL_BYTES = 4096
_STDERR_TAIL_LINES = 10
_EXIT_POLL_S = 0.01
_MAX_FUNCTION_NAME = 64
_NOT_IN_FUNCTION_NAME = re.compile(r"[^A-Za-z0-9_-]")


def function_name(server: str, tool: str) -> str:
    """The function name the model sees for `tool` of `server`: `hr-lookup_employee`.

    Providers accept letters, digits, `_` and `-` (up to 64): other characters become `_`.
    Server and local tool names cannot hold a `-`, so this never names a local tool.
    """
    return f"{server}-{_NOT_IN_FUNCTION_NAME.sub('_', tool)}"[:_MAX_FUNCTION_NAME]


@dataclass(slots=True)
class _Connection:
    """One server's state, shared by its owner task and the callers."""

    server: McpServer
    stderr: IO[bytes]
    redactor: Redactor = field(default_factory=Redactor)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    session: ClientSession | None = None
    process: Process | None = None
    tools: tuple[Tool, ...] = ()
    failure: str | None = None
    starting: anyio.CancelScope | None = None

    def hide(self, text: str) -> str:
        """`text` without the server's env values nor any other secret."""
        return redact(self.redactor.redact(text))

    def stderr_tail(self) -> str:
        fd = self.stderr.fileno()
        size = os.fstat(fd).st_size
        # pread leaves the offset the server writes at alone (the file description is shared).
        start = max(0, size - _STDERR_TAIL_BYTES)
        data = os.pread(fd, size - start, start)
        lines = data.decode("utf-8", errors="replace").strip().splitlines()
        return "\n".join(lines[-_STDERR_TAIL_LINES:])

    def describe_end(self) -> str:
        """How the process ended (or that it is still running), and its stderr tail."""
        code = self.process.returncode if self.process is not None else None
        how = f"exited with code {code}" if code is not None else "closed the connection"
        tail = self.stderr_tail()
        return f"{how}; stderr:\n{tail}" if tail else f"{how} (no stderr)"


class McpServers:
    """The MCP servers of one workflow for one run; see the module docstring.

    `environ` is where `${NAME}` in `env:` is looked up (the process's environment by
    default). Use as an async context manager: leaving it stops every server started.
    """

    def __init__(
        self, servers: Sequence[McpServer], environ: Mapping[str, str] | None = None
    ) -> None:
        self._servers = {server.name: server for server in servers}
        self._environ = os.environ if environ is None else environ
        self._connections: dict[str, _Connection] = {}
        self._group: asyncio.TaskGroup | None = None

    async def __aenter__(self) -> McpServers:
        self._group = asyncio.TaskGroup()
        await self._group.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        for connection in self._connections.values():
            connection.stop.set()
            if connection.starting is not None:
                connection.starting.cancel()
        group, self._group = self._group, None
        try:
            if group is not None:
                # The servers end through their stop events, never by a cancel that could
                # cut their shutdown short: whatever ends the caller's body, they are waited for.
                await group.__aexit__(None, None, None)
        finally:
            for connection in self._connections.values():
                connection.stderr.close()

    @property
    def names(self) -> tuple[str, ...]:
        """The names of the servers this pool may start."""
        return tuple(self._servers)

    def started(self) -> tuple[str, ...]:
        """The servers started so far (running or failed)."""
        return tuple(self._connections)

    def pid(self, name: str) -> int | None:
        """The process id of server `name`, when it was started."""
        connection = self._connections.get(name)
        process = connection.process if connection is not None else None
        return process.pid if process is not None else None

    async def tools(self, name: str) -> tuple[Tool, ...]:
        """The tools server `name` lists, starting it on the first call.

        Raises ToolServerError naming the server when it cannot start or list its tools.
        """
        connection = self._connections.get(name)
        if connection is None:
            server = self._servers.get(name)
            if server is None:
                raise ToolServerError(f"unknown MCP server '{name}'")
            if self._group is None:
                raise RuntimeError("McpServers is used outside its `async with` block")
            connection = _Connection(server, tempfile.TemporaryFile())  # noqa: SIM115
            self._connections[name] = connection
            self._group.create_task(self._serve(connection), name=f"mcp-server-{name}")
        await connection.ready.wait()
        if connection.failure is not None:
            raise ToolServerError(connection.failure)
        return connection.tools

    async def call(self, tool: Tool, arguments: dict[str, Any]) -> str:
        """Call `tool` (a record from `tools()`) with `arguments`; its text result.

        Raises ToolError with the server's message when the tool reports an error, and
        with the server's exit and stderr tail when the server is gone.
        """
        assert tool.mcp_server is not None and tool.mcp_tool is not None
        connection = self._connections[tool.mcp_server]
        session = connection.session
        if session is None or _exited(connection):
            raise ToolError(
                connection.hide(f"MCP server '{tool.mcp_server}' {connection.describe_end()}")
            )
        try:
            result = await session.call_tool(tool.mcp_tool, arguments)
        except Exception as exc:
            await _settle(connection)
            if _exited(connection) or connection.session is None:
                detail = connection.describe_end()
            else:
                detail = f"failed: {_describe(exc)}"
            raise ToolError(connection.hide(f"MCP server '{tool.mcp_server}' {detail}")) from None
        text = connection.hide(_result_text(result))
        if result.is_error:
            raise ToolError(text or f"tool '{tool.mcp_tool}' reported an error without a message")
        return text

    # -- one server's life ------------------------------------------------------------------

    async def _serve(self, connection: _Connection) -> None:
        server = connection.server
        try:
            argv, env = self._launch(connection)
            async with _stdio_process(argv, env, server, connection.stderr) as (r, w, process):
                connection.process = process
                info = mcp_types.Implementation(name="agentflow", version=__version__)
                async with ClientSession(r, w, client_info=info) as session:
                    # Closing the pool cancels a start still under way (a stopped run must
                    # not wait out start_timeout); anyio's scope, so the SDK unwinds cleanly.
                    with anyio.CancelScope() as starting:
                        connection.starting = starting
                        try:
                            async with asyncio.timeout(server.start_timeout):
                                await session.initialize()
                                connection.tools = await _list_tools(server, session)
                        except TimeoutError:
                            connection.failure = connection.hide(
                                f"MCP server '{server.name}' did not start within "
                                f"{server.start_timeout:g}s (start_timeout); stderr:\n"
                                f"{connection.stderr_tail() or '(none)'}"
                            )
                    connection.starting = None
                    if starting.cancelled_caught:
                        connection.failure = (
                            f"MCP server '{server.name}' was stopped while starting"
                        )
                    elif connection.failure is None:
                        connection.session = session
                    connection.ready.set()
                    if connection.failure is None:
                        await connection.stop.wait()
                    connection.session = None
        except Exception as exc:
            # After a good start, a server that dies is seen by the calls (tool errors).
            if connection.failure is None and not connection.ready.is_set():
                connection.failure = self._start_failure(connection, exc)
        finally:
            connection.session = None
            connection.ready.set()

    def _launch(self, connection: _Connection) -> tuple[list[str], dict[str, str]]:
        """The argv and environment of the server; its env values join its redactor."""
        server = connection.server
        env: dict[str, str] = {}
        hidden: list[str] = []
        for name, template in server.env:
            value = template
            for ref in env_references(template):
                if ref not in self._environ:
                    raise ToolError(
                        f"env {name} refers to ${{{ref}}}, which is not set in the environment"
                    )
                value = value.replace(f"${{{ref}}}", self._environ[ref])
                hidden.append(self._environ[ref])
            if looks_like_credential(name):
                hidden.append(value)
            env[name] = value
        connection.redactor = Redactor(hidden)
        argv = [resolve_server_program(server), *server.command[1:]]
        return argv, get_default_environment() | env

    def _start_failure(self, connection: _Connection, exc: BaseException) -> str:
        name = connection.server.name
        if isinstance(exc, ToolError):
            return connection.hide(f"MCP server '{name}' cannot start: {_strip_owner(exc, name)}")
        if isinstance(exc, OSError) and connection.process is None:
            return connection.hide(
                f"MCP server '{name}' cannot start {connection.server.command[0]!r}: "
                f"{exc.strerror or exc}"
            )
        if connection.process is not None and connection.process.returncode is not None:
            detail = connection.describe_end()
        else:
            detail = f"{_describe(exc)}; stderr:\n{connection.stderr_tail() or '(none)'}"
        return connection.hide(f"MCP server '{name}' failed to start: {detail}")


async def _list_tools(server: McpServer, session: ClientSession) -> tuple[Tool, ...]:
    tools: list[Tool] = []
    cursor: str | None = None
    while True:
        params = mcp_types.PaginatedRequestParams(cursor=cursor) if cursor else None
        page = await session.list_tools(params=params)
        for listed in page.tools:
            schema = listed.input_schema or {"type": "object", "properties": {}}
            tools.append(
                Tool(
                    name=function_name(server.name, listed.name),
                    description=listed.description or listed.title or "",
                    parameters=freeze(schema),
                    timeout=server.timeout,
                    base_dir=server.base_dir,
                    mcp_server=server.name,
                    mcp_tool=listed.name,
                )
            )
        cursor = page.next_cursor
        if not cursor:
            return tuple(tools)


def select_tools(server: str, listed: Sequence[Tool], wanted: Sequence[str]) -> tuple[Tool, ...]:
    """The tools of `server` that `wanted` names (`*` is all of them), in listing order.

    Raises ToolServerError for a name the server does not list, with a suggestion.
    """
    if "*" in wanted:
        return tuple(listed)
    by_name = {tool.mcp_tool: tool for tool in listed}
    for name in wanted:
        if name not in by_name:
            known = [str(n) for n in by_name]
            hint = did_you_mean(name, known)
            more = f"; did you mean '{hint}'?" if hint else f"; it lists: {', '.join(known)}"
            raise ToolServerError(f"MCP server '{server}' has no tool '{name}'{more}")
    return tuple(tool for tool in listed if tool.mcp_tool in wanted)


# -- the stdio transport --------------------------------------------------------------------


@contextlib.asynccontextmanager
async def _stdio_process(
    argv: list[str], env: dict[str, str], server: McpServer, stderr: IO[bytes]
) -> AsyncIterator[
    tuple[
        MemoryObjectReceiveStream[SessionMessage | Exception],
        MemoryObjectSendStream[SessionMessage],
        Process,
    ]
]:
    """Start `argv` in a process group of its own; newline-delimited JSON-RPC over its
    stdin and stdout; on the way out, stop it and everything left in its group."""
    process = await anyio.open_process(
        argv,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=stderr,
        cwd=server.cwd,
        env=env,
        start_new_session=True,
    )
    incoming_send, incoming = anyio.create_memory_object_stream[SessionMessage | Exception](0)
    outgoing, outgoing_receive = anyio.create_memory_object_stream[SessionMessage](0)

    async def read_stdout() -> None:
        assert process.stdout is not None
        with contextlib.suppress(anyio.ClosedResourceError, anyio.BrokenResourceError, OSError):
            async with incoming_send:
                buffer = ""
                async for chunk in TextReceiveStream(process.stdout, errors="replace"):
                    *lines, buffer = (buffer + chunk).split("\n")
                    for line in lines:
                        if line.strip():
                            await incoming_send.send(_parse_message(line))

    async def write_stdin() -> None:
        assert process.stdin is not None
        with contextlib.suppress(anyio.ClosedResourceError, anyio.BrokenResourceError, OSError):
            async with outgoing_receive:
                async for message in outgoing_receive:
                    data = message.message.model_dump_json(by_alias=True, exclude_unset=True)
                    await process.stdin.send((data + "\n").encode("utf-8"))

    try:
        async with anyio.create_task_group() as group:
            group.start_soon(read_stdout)
            group.start_soon(write_stdin)
            try:
                yield incoming, outgoing, process
            finally:
                group.cancel_scope.cancel()
    finally:
        with anyio.CancelScope(shield=True):
            await _stop_process(process)
            for stream in (incoming, outgoing, incoming_send, outgoing_receive):
                await stream.aclose()


def _parse_message(line: str) -> SessionMessage | Exception:
    try:
        return SessionMessage(mcp_types.jsonrpc_message_adapter.validate_json(line, by_name=False))
    except ValueError as exc:  # the session reports it; the server may print junk once
        return exc


async def _stop_process(process: Process) -> None:
    """Close stdin, give the server `EXIT_GRACE_S` to exit, then terminate and kill its
    whole process group (also the children a server that exited left behind)."""
    if process.stdin is not None:
        with contextlib.suppress(OSError, anyio.BrokenResourceError, anyio.ClosedResourceError):
            await process.stdin.aclose()
    await _wait_exit(process, EXIT_GRACE_S)
    await terminate_posix_process_tree(process, KILL_WAIT_S)
    await _wait_exit(process, KILL_WAIT_S)
    with anyio.move_on_after(KILL_WAIT_S), contextlib.suppress(OSError):
        await process.aclose()


async def _wait_exit(process: Process, timeout: float) -> None:
    # Polled, not process.wait(): that also waits for the pipes to close, which a child
    # holding them open would delay.
    with anyio.move_on_after(timeout):
        while process.returncode is None:
            await anyio.sleep(_EXIT_POLL_S)


async def _settle(connection: _Connection) -> None:
    """Give a server whose call failed a moment to be seen exiting (for a clearer error)."""
    if connection.process is not None:
        await _wait_exit(connection.process, 1.0)


def _exited(connection: _Connection) -> bool:
    return connection.process is not None and connection.process.returncode is not None


# -- results ------------------------------------------------------------------------------


def _result_text(result: mcp_types.CallToolResult) -> str:
    """A tool result as text: its text blocks; other blocks named; else its structured JSON."""
    parts: list[str] = []
    for block in result.content:
        text = getattr(block, "text", None)
        resource = getattr(block, "resource", None)
        if isinstance(text, str):
            parts.append(text)
        elif resource is not None and isinstance(getattr(resource, "text", None), str):
            parts.append(resource.text)
        else:
            kind = getattr(block, "type", "content")
            detail = getattr(block, "mime_type", None) or getattr(block, "uri", None) or ""
            parts.append(f"[{kind}{': ' + str(detail) if detail else ''}]")
    if not parts and result.structured_content is not None:
        parts.append(json.dumps(result.structured_content, ensure_ascii=False, default=str))
    return "\n".join(parts)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        return _describe(exc.exceptions[0])
    message = str(exc)
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def _strip_owner(exc: ToolError, name: str) -> str:
    text = str(exc)
    prefix = f"MCP server '{name}': "
    return text[len(prefix) :] if text.startswith(prefix) else text
