"""Run the function tools a model calls: check the arguments, run the handler, report back.

A tool is implemented either by a Python function (`python: "tools.hr:lookup_employee"`,
the module resolved relative to the workflow file's folder), by a command (`command:
["./tools/checklist.py"]`, JSON arguments on stdin, the result on stdout), or by an MCP
server of the run (`agentflow.run.mcp`; `mcp_tools(agent)` lists an agent's). Whatever happens,
`ToolRunner.call` returns a `ToolOutcome`: a failure is a result the model can read and act
on, never an exception that escapes into the engine.

    runner = ToolRunner(workflow.tools)
    outcome = await runner.call("lookup_employee", '{"employee_id": "E1002"}')
    outcome.ok, outcome.content  # (True, '{"id": "E1002", ...}')

Python tool modules are imported by file path under a private package name per folder
(`_agentflow_tools_<hash>.tools.hr`); `sys.path` is never changed, and a module is
imported once per process and folder.
"""

from __future__ import annotations

import asyncio
import contextlib
import difflib
import hashlib
import importlib
import importlib.util
import inspect
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from agentflow.check.tools import module_file, resolve_program, split_python_reference
from agentflow.errors import ToolError, ToolServerError
from agentflow.model.types import Agent, Tool, mcp_reference
from agentflow.redaction import redact
from agentflow.schema.instance import instance_errors

if TYPE_CHECKING:
    from agentflow.run.mcp import McpServers

__all__ = ["MAX_OUTPUT_BYTES", "ToolOutcome", "ToolRunner", "import_tool_handler"]

MAX_OUTPUT_BYTES = 64 * 1024
"""The most of a tool's result (Python return value or command stdout) sent to the model."""

_STDERR_TAIL_BYTES = 4096
_STDERR_TAIL_LINES = 10
_READ_CHUNK = 64 * 1024
_PACKAGE_PREFIX = "_agentflow_tools_"
_root_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class ToolOutcome:
    """What one tool call produced: `content` goes back to the model either way."""

    ok: bool
    content: str
    duration_s: float


class ToolRunner:
    """Calls the tools of a workflow by name with the model's JSON arguments.

    Every call is bounded by the tool's `timeout`. Sync Python functions run in a worker
    thread, so a slow lookup does not stall the other agents; commands run without a shell
    in the workflow's folder and are killed (with their process group) when they time out.
    """

    def __init__(
        self,
        tools: Sequence[Tool],
        clock_monotonic: Callable[[], float] = time.monotonic,
        mcp: McpServers | None = None,
    ) -> None:
        self._tools = {tool.name: tool for tool in tools}
        self._clock = clock_monotonic
        self._mcp = mcp

    @property
    def names(self) -> tuple[str, ...]:
        """The names of the tools this runner can call."""
        return tuple(self._tools)

    async def mcp_tools(self, agent: Agent) -> tuple[Tool, ...]:
        """The MCP tools `agent` lists (`server.tool`, `server.*`), each server started the
        first time an agent needs it; from then on `call` reaches them by function name.

        Raises ToolServerError when a server cannot start or lacks a listed tool.
        """
        wanted: dict[str, list[str]] = {}
        for entry in agent.tools:
            reference = mcp_reference(entry)
            if reference is not None:
                wanted.setdefault(reference[0], []).append(reference[1])
        if not wanted:
            return ()
        if self._mcp is None:
            raise ToolServerError(f"agent '{agent.id}' lists MCP tools, but no server is running")
        from agentflow.run.mcp import select_tools

        found: list[Tool] = []
        for server, names in wanted.items():
            found.extend(select_tools(server, await self._mcp.tools(server), names))
        for tool in found:
            self._tools.setdefault(tool.name, tool)
        return tuple(found)

    async def call(self, name: str, arguments_json: str) -> ToolOutcome:
        """Run tool `name` with `arguments_json` (the model's raw argument text)."""
        start = self._clock()
        ok, content = await self._call(name, arguments_json)
        # The content goes to the model's provider, the log and the screen: no secret in it,
        # whether the tool printed one or an exception message carried it.
        return ToolOutcome(
            ok=ok, content=redact(content), duration_s=max(0.0, self._clock() - start)
        )

    async def _call(self, name: str, arguments_json: str) -> tuple[bool, str]:
        tool = self._tools.get(name)
        if tool is None:
            return False, _unknown_tool_message(name, sorted(self._tools))
        try:
            arguments = _parse_arguments(tool, arguments_json)
            async with asyncio.timeout(tool.timeout) as deadline:
                if tool.python is not None:
                    result = await _run_python(tool, arguments)
                elif tool.command is not None:
                    result = await _run_command(tool, arguments)
                elif tool.mcp_server is not None and self._mcp is not None:
                    result = _cap(await self._mcp.call(tool, arguments))
                else:
                    raise ToolError(f"tool '{tool.name}' has no handler")
        except TimeoutError as exc:
            if deadline.expired():
                return False, f"tool '{tool.name}' timed out after {_seconds(tool.timeout)}"
            return False, _describe_exception(exc)
        except ToolError as exc:
            return False, str(exc)
        except Exception as exc:
            return False, _describe_exception(exc)
        return True, result


def import_tool_handler(tool: Tool) -> str | None:
    """Why `tool`'s Python handler cannot be loaded, or None when it can (and is now loaded).

    This imports the module, running its top-level code, and looks the function up; it
    never calls the function. `run` calls it for every Python tool before its first model
    call; `validate`, `plan` and `graph` use the static `agentflow.check.tools` check only.
    """
    if tool.python is None:
        return None
    try:
        _load_function(tool)
    except ToolError as exc:
        return redact(str(exc))
    return None


# -- arguments ---------------------------------------------------------------------------


def _parse_arguments(tool: Tool, arguments_json: str) -> dict[str, Any]:
    text = arguments_json.strip()
    if not text:
        # Some providers send an empty string for a call without arguments.
        text = "{}"
    try:
        arguments = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ToolError(
            f"invalid arguments for tool '{tool.name}': not valid JSON ({exc.msg} at line "
            f"{exc.lineno} column {exc.colno}); call it again with a JSON object matching "
            f"its parameters: {_compact(tool.parameters)}"
        ) from None
    if not isinstance(arguments, dict):
        raise ToolError(
            f"invalid arguments for tool '{tool.name}': expected a JSON object, got "
            f"{type(arguments).__name__}; parameters: {_compact(tool.parameters)}"
        )
    errors = instance_errors(tool.parameters, arguments)
    if errors:
        raise ToolError(
            f"invalid arguments for tool '{tool.name}': {'; '.join(errors)}; "
            f"parameters: {_compact(tool.parameters)}"
        )
    return arguments


def _unknown_tool_message(name: str, available: list[str]) -> str:
    hint = difflib.get_close_matches(name, available, n=1)
    did_you_mean = f" (did you mean '{hint[0]}'?)" if hint else ""
    names = ", ".join(available) if available else "(none)"
    return f"unknown tool '{name}'{did_you_mean}; available tools: {names}"


# -- python handlers ---------------------------------------------------------------------


async def _run_python(tool: Tool, arguments: dict[str, Any]) -> str:
    function = await asyncio.to_thread(_load_function, tool)
    if inspect.iscoroutinefunction(function):
        result = await function(**arguments)
    else:
        result = await asyncio.to_thread(_call_sync, function, arguments)
        if inspect.isawaitable(result):
            result = await result
    return _cap(_serialise(result))


def _call_sync(function: Callable[..., Any], arguments: dict[str, Any]) -> Any:
    try:
        return function(**arguments)
    except SystemExit as exc:
        # A tool calling sys.exit() must not take the process down from a worker thread.
        raise ToolError(f"SystemExit: {exc.code}") from None


def _serialise(result: Any) -> str:
    if isinstance(result, str):
        return result
    try:
        return json.dumps(result, default=str, ensure_ascii=False)
    except ValueError as exc:  # circular references, NaN is allowed by default
        raise ToolError(f"the tool's result could not be sent as JSON: {exc}") from None


def _load_function(tool: Tool) -> Callable[..., Any]:
    module_name, attribute = split_python_reference(tool)
    module = _import_tool_module(tool, module_name)
    target: Any = module
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            names = [
                n for n in dir(module) if not n.startswith("_") and callable(getattr(module, n))
            ]
            hint = difflib.get_close_matches(part, names, n=1)
            did_you_mean = f"; did you mean '{hint[0]}'?" if hint else ""
            raise ToolError(
                f"tool '{tool.name}': module '{module_name}' ({module.__file__}) has no "
                f"function '{attribute}'{did_you_mean}"
            ) from None
    if not callable(target):
        raise ToolError(f"tool '{tool.name}': '{tool.python}' is not a function")
    function: Callable[..., Any] = target
    return function


def _import_tool_module(tool: Tool, module_name: str) -> ModuleType:
    base_dir = tool.base_dir.resolve()
    root = _root_package(base_dir)
    qualified = f"{root}.{module_name}"
    cached = sys.modules.get(qualified)
    if cached is not None:
        return cached
    module_file(tool, module_name)  # raises, naming the file it looked for
    importlib.invalidate_caches()  # the file may be newer than the finders' directory listing
    try:
        # importlib's own per-module locks make concurrent first calls import it once.
        return importlib.import_module(qualified)
    except Exception as exc:
        raise ToolError(
            f"tool '{tool.name}': importing module '{module_name}' failed: "
            f"{_describe_exception(exc)}"
        ) from None


def _root_package(base_dir: Path) -> str:
    """A private package whose `__path__` is `base_dir`: its submodules are the tool modules."""
    digest = hashlib.sha1(str(base_dir).encode(), usedforsecurity=False).hexdigest()[:12]
    name = _PACKAGE_PREFIX + digest
    with _root_lock:
        if name in sys.modules:
            return name
        spec = importlib.util.spec_from_loader(name, loader=None, is_package=True)
        assert spec is not None and spec.submodule_search_locations is not None
        spec.submodule_search_locations.append(str(base_dir))
        sys.modules[name] = importlib.util.module_from_spec(spec)
    return name


# -- command handlers --------------------------------------------------------------------


async def _run_command(tool: Tool, arguments: dict[str, Any]) -> str:
    assert tool.command is not None
    argv = [resolve_program(tool), *tool.command[1:]]
    stdin = json.dumps(arguments, ensure_ascii=False).encode()
    process = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=tool.base_dir.resolve(),
        start_new_session=True,  # its own process group, so a timeout kills its children too
    )
    assert process.stdin and process.stdout and process.stderr
    try:
        async with asyncio.TaskGroup() as group:
            group.create_task(_feed(process.stdin, stdin))
            out_task = group.create_task(_read_capped(process.stdout, MAX_OUTPUT_BYTES))
            err_task = group.create_task(_read_tail(process.stderr, _STDERR_TAIL_BYTES))
        code = await process.wait()
    finally:
        if process.returncode is None:
            _kill(process)
            await process.wait()
    out, total = out_task.result()
    if code != 0:
        tail = _tail_lines(err_task.result())
        detail = f"; stderr:\n{tail}" if tail else " (no stderr)"
        raise ToolError(f"tool '{tool.name}': command exited with code {code}{detail}")
    text = out.decode("utf-8", errors="replace").strip()
    if total > MAX_OUTPUT_BYTES:
        text += _truncation_note(total)
    return text


async def _feed(stream: asyncio.StreamWriter, data: bytes) -> None:
    # A command that ignores its input may exit before reading it: that is not an error.
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        stream.write(data)
        await stream.drain()
    stream.close()


async def _read_capped(stream: asyncio.StreamReader, cap: int) -> tuple[bytes, int]:
    """The first `cap` bytes and the total size; the rest is read and dropped."""
    kept = bytearray()
    total = 0
    while chunk := await stream.read(_READ_CHUNK):
        total += len(chunk)
        if len(kept) < cap:
            kept += chunk[: cap - len(kept)]
    return bytes(kept), total


async def _read_tail(stream: asyncio.StreamReader, keep: int) -> bytes:
    tail = bytearray()
    while chunk := await stream.read(_READ_CHUNK):
        tail += chunk
        if len(tail) > keep:
            del tail[:-keep]
    return bytes(tail)


def _tail_lines(data: bytes) -> str:
    lines = data.decode("utf-8", errors="replace").strip().splitlines()
    return "\n".join(lines[-_STDERR_TAIL_LINES:])


def _kill(process: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if hasattr(os, "killpg"):
            os.killpg(process.pid, signal.SIGKILL)
        else:  # pragma: no cover - Windows has no process groups to kill
            process.kill()


# -- helpers -----------------------------------------------------------------------------


def _cap(text: str) -> str:
    data = text.encode("utf-8")
    if len(data) <= MAX_OUTPUT_BYTES:
        return text
    kept = data[:MAX_OUTPUT_BYTES].decode("utf-8", errors="ignore")
    return kept + _truncation_note(len(data))


def _truncation_note(total: int) -> str:
    return f"\n[output truncated: showing the first {MAX_OUTPUT_BYTES} of {total} bytes]"


def _describe_exception(exc: BaseException) -> str:
    message = str(exc)
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def _compact(value: Any) -> str:
    text = json.dumps(value, default=dict, separators=(",", ":"), ensure_ascii=False)
    return text if len(text) <= 1000 else text[:1000] + "..."


def _seconds(value: float) -> str:
    return f"{value:g}s"
