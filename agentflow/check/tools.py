"""Check tool handlers without running them: Python modules are parsed, never imported.

`validate`, `plan` and `graph` run in CI on files from pull requests, where importing a tool
module would run its top-level code. So a `python: tools.hr:lookup_employee` handler is
checked from its source: the module file is found relative to the workflow's folder
(`tools/hr.py`, or the package `tools/hr/__init__.py`), parsed with `ast`, and the function
looked for among the names the module binds at its top level. Only `run` imports the module
(`agentflow.run.tools`), before its first call.

What defines the function, for this check:

- `def name` or `async def name` at the top level, also inside a top-level `if`, `try`,
  `with` or `match` block (a definition that depends on the platform or an optional import);
- any other top-level binding of the name: a class, an assignment (`name = make_lookup()`),
  an import (`from .impl import name`). Whether such a value is callable is known only when
  `run` imports the module; an assignment of a literal (`name = 42`, `name = "x"`) is
  reported at once as not a function;
- a module with `from x import *` or a module-level `__getattr__` may bind any name, so the
  function is not looked for there.

A `command:` handler is checked for a program that exists and is executable; it is never
started. So is an MCP server's `command` (`check_mcp_server`), with its `env` references
and `cwd`.

    problem = check_tool_handler(tool)   # None, or one line that says what is wrong
"""

from __future__ import annotations

import ast
import os
import re
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from agentflow.errors import ToolError
from agentflow.model.types import McpServer, Tool
from agentflow.schema.suggest import did_you_mean

__all__ = [
    "check_mcp_server",
    "check_tool_handler",
    "env_references",
    "module_file",
    "resolve_program",
    "resolve_server_program",
    "split_python_reference",
]


def check_tool_handler(tool: Tool) -> str | None:
    """Why `tool`'s handler cannot run, or None when it looks runnable; runs no user code."""
    try:
        if tool.python is not None:
            _check_python(tool)
        elif tool.command is not None:
            resolve_program(tool)
        else:
            return f"tool '{tool.name}' has neither `python` nor `command`"
    except ToolError as exc:
        return str(exc)
    return None


def split_python_reference(tool: Tool) -> tuple[str, str]:
    """`("tools.hr", "lookup_employee")` for `python: tools.hr:lookup_employee`.

    Raises ToolError when the reference does not have the form 'package.module:function'.
    """
    reference = tool.python or ""
    module_name, sep, attribute = reference.partition(":")
    parts = module_name.split(".")
    if not sep or not attribute or not all(p.isidentifier() for p in parts):
        raise ToolError(
            f"tool '{tool.name}': python handler '{reference}' must look like "
            "'package.module:function'"
        )
    if not all(a.isidentifier() for a in attribute.split(".")):
        raise ToolError(f"tool '{tool.name}': '{attribute}' is not a valid function name")
    return module_name, attribute


def module_file(tool: Tool, module_name: str) -> Path:
    """The source file of `module_name` under the tool's folder: the package's `__init__.py`
    when `a/b/` is a package (as the import system prefers it), else `a/b.py`.

    Raises ToolError naming the file it looked for when there is neither.
    """
    expected = tool.base_dir.resolve().joinpath(*module_name.split("."))
    package = expected / "__init__.py"
    if package.is_file():
        return package
    plain = expected.with_suffix(".py")
    if plain.is_file():
        return plain
    raise ToolError(f"tool '{tool.name}': module '{module_name}' not found: no file {plain}")


def resolve_program(tool: Tool) -> str:
    """The path of the program a `command:` tool starts. Raises ToolError when it does not
    exist, is not executable or is not on PATH."""
    assert tool.command is not None
    return _find_program(f"tool '{tool.name}'", tool.command, tool.base_dir)


def resolve_server_program(server: McpServer) -> str:
    """The path of the program an MCP server starts; raises ToolError like `resolve_program`."""
    return _find_program(f"MCP server '{server.name}'", server.command, server.base_dir)


def _find_program(owner: str, command: tuple[str, ...], base_dir: Path) -> str:
    if not command or not command[0]:
        raise ToolError(f"{owner}: `command` is empty")
    program = command[0]
    if os.path.isabs(program):
        path = Path(program)
    elif program.startswith("./") or "/" in program or os.sep in program:
        path = base_dir.resolve() / program
    else:
        found = shutil.which(program)
        if found is None:
            raise ToolError(f"{owner}: command '{program}' not found on PATH")
        return found
    if not path.is_file():
        raise ToolError(f"{owner}: command '{program}' not found: no file {path}")
    if not os.access(path, os.X_OK):
        raise ToolError(
            f"{owner}: command '{program}' is not executable ({path}); run `chmod +x {program}`"
        )
    return str(path)


# -- MCP servers ------------------------------------------------------------------------------

_ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def env_references(value: str) -> tuple[str, ...]:
    """The variable names `value` refers to as `${NAME}`. Raises ToolError for a `${`
    that does not open such a reference."""
    names = tuple(_ENV_REFERENCE.findall(value))
    if "${" in _ENV_REFERENCE.sub("", value):
        raise ToolError(f"'{value}' has a '${{' that is not a reference like ${{NAME}}")
    return names


def check_mcp_server(server: McpServer) -> list[tuple[str, str]]:
    """(key, problem) for each way `server` cannot start; starts nothing.

    `env` values must use well-formed `${NAME}` references; the program must exist (a
    missing one is a warning for `validate`, which may run where the server is not
    installed, and an error for `run`: the caller decides); `cwd` must be a folder.
    """
    problems = []
    for name, value in server.env:
        try:
            env_references(value)
        except ToolError as exc:
            problems.append((f"env.{name}", f"MCP server '{server.name}': env {name}: {exc}"))
    try:
        resolve_server_program(server)
    except ToolError as exc:
        problems.append(("command", str(exc)))
    if not server.cwd.is_dir():
        problems.append(("cwd", f"MCP server '{server.name}': cwd {server.cwd} is not a folder"))
    return problems


# -- python handlers, from their source --------------------------------------------------------


def _check_python(tool: Tool) -> None:
    module_name, attribute = split_python_reference(tool)
    path = module_file(tool, module_name)
    # Importing `tools.hr` first runs `tools/__init__.py`: a syntax error there fails it too.
    for parent in _parent_packages(tool, module_name):
        _parse(tool, module_name, parent)
    scope = _parse(tool, module_name, path)
    name = attribute.split(".")[0]
    if scope.open or name in scope.callables:
        return
    if name in scope.literals:
        raise ToolError(f"tool '{tool.name}': '{tool.python}' is not a function")
    guess = did_you_mean(name, [n for n in scope.callables if not n.startswith("_")])
    hint = f"; did you mean '{guess}'?" if guess else ""
    raise ToolError(
        f"tool '{tool.name}': module '{module_name}' ({path}) has no function '{attribute}'{hint}"
    )


def _parent_packages(tool: Tool, module_name: str) -> Iterator[Path]:
    folder = tool.base_dir.resolve()
    for part in module_name.split(".")[:-1]:
        folder = folder / part
        init = folder / "__init__.py"
        if init.is_file():
            yield init


def _parse(tool: Tool, module_name: str, path: Path) -> _Scope:
    try:
        stat = path.stat()
        return _scope_of(path, stat.st_mtime_ns, stat.st_size)
    except _Unparsable as exc:
        raise ToolError(f"tool '{tool.name}': module '{module_name}' {exc}") from None
    except OSError as exc:
        raise ToolError(
            f"tool '{tool.name}': module '{module_name}' cannot be read ({path}): "
            f"{exc.strerror or exc}"
        ) from None


class _Unparsable(Exception):
    """Raised inside this module when a tool module's source does not parse."""


@dataclass(slots=True)
class _Scope:
    """The names a module binds at its top level."""

    callables: dict[str, None] = field(default_factory=dict)  # may be a function
    literals: set[str] = field(default_factory=set)  # only ever bound to a literal
    open: bool = False  # `import *` or a module `__getattr__`: any name may exist


@lru_cache(maxsize=256)
def _scope_of(path: Path, mtime_ns: int, size: int) -> _Scope:
    # Keyed on the file's mtime and size too, so an edited file is parsed again.
    source = path.read_bytes()
    try:
        tree = ast.parse(source, filename=str(path))
    except SyntaxError as exc:
        where = f"{path}:{exc.lineno or 1}:{exc.offset or 1}"
        raise _Unparsable(f"has a syntax error at {where}: {exc.msg}") from None
    except (ValueError, RecursionError, MemoryError) as exc:  # null bytes, absurd nesting
        raise _Unparsable(f"cannot be parsed ({path}): {exc}") from None
    scope = _Scope()
    _collect(tree.body, scope)
    scope.literals -= set(scope.callables)
    return scope


_LITERALS = (
    ast.Constant,
    ast.JoinedStr,
    ast.List,
    ast.Tuple,
    ast.Dict,
    ast.Set,
    ast.ListComp,
    ast.SetComp,
    ast.DictComp,
)


def _collect(body: Iterable[ast.stmt], scope: _Scope) -> None:
    for stmt in body:
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            scope.callables[stmt.name] = None
            if stmt.name == "__getattr__" and not isinstance(stmt, ast.ClassDef):
                scope.open = True
        elif isinstance(stmt, ast.Assign):
            for target in stmt.targets:
                _bind(target, stmt.value, scope)
        elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
            _bind(stmt.target, stmt.value, scope)
        elif isinstance(stmt, ast.Import):
            for alias in stmt.names:
                scope.callables[alias.asname or alias.name.split(".")[0]] = None
        elif isinstance(stmt, ast.ImportFrom):
            for alias in stmt.names:
                if alias.name == "*":
                    scope.open = True
                else:
                    scope.callables[alias.asname or alias.name] = None
        elif isinstance(stmt, ast.If | ast.For | ast.AsyncFor | ast.While):
            _collect(stmt.body, scope)
            _collect(stmt.orelse, scope)
        elif isinstance(stmt, ast.With | ast.AsyncWith):
            _collect(stmt.body, scope)
        elif isinstance(stmt, ast.Try | ast.TryStar):
            _collect(stmt.body, scope)
            for handler in stmt.handlers:
                _collect(handler.body, scope)
            _collect(stmt.orelse, scope)
            _collect(stmt.finalbody, scope)
        elif isinstance(stmt, ast.Match):
            for case in stmt.cases:
                _collect(case.body, scope)


def _bind(target: ast.expr, value: ast.expr, scope: _Scope) -> None:
    if isinstance(target, ast.Name):
        if isinstance(value, _LITERALS):
            scope.literals.add(target.id)
        else:
            scope.callables[target.id] = None
    elif isinstance(target, ast.Tuple | ast.List):
        for element in target.elts:  # `a, b = make()`: each may be anything
            inner = element.value if isinstance(element, ast.Starred) else element
            _bind(inner, ast.Name(id="_unknown"), scope)
