"""The core functions the CLI calls: load and check workflow files.

`analyze(path)` runs load → schema → semantic checks → build and returns every
diagnostic; `load_workflow(path)` returns the frozen `Workflow` or raises
`WorkflowInvalid`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath

from agentflow.check import check_semantics
from agentflow.errors import Diagnostic, Severity, UsageError, WorkflowInvalid
from agentflow.loading import load_document, load_text
from agentflow.model.build import build_workflow, price_entry
from agentflow.model.types import Workflow
from agentflow.schema.workflow import validate_document

WORKFLOW_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True, slots=True)
class Analysis:
    """The outcome of checking one file: the workflow when it has no errors, and diagnostics."""

    path: Path
    workflow: Workflow | None
    diagnostics: tuple[Diagnostic, ...]

    @property
    def errors(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.severity == "error")

    @property
    def warnings(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.severity == "warning")


def _price_lookup(data: object) -> Callable[[str], bool]:
    from agentflow.plan.pricing import load_price_book

    pricing = data.get("pricing") if isinstance(data, dict) else None
    overrides = tuple(price_entry(m, p) for m, p in (pricing or {}).items())
    book = load_price_book(overrides)
    return lambda model: book.lookup(model) is not None


def _tool_problems(workflow: Workflow, *, import_modules: bool) -> list[Diagnostic]:
    """Tool handlers that cannot run. Python modules are only parsed unless
    `import_modules` (for `run`, which imports them before its first call anyway)."""
    from agentflow.check.tools import check_tool_handler

    out = []
    for tool in workflow.tools:
        problem = check_tool_handler(tool)
        if problem is None and import_modules:
            from agentflow.run.tools import import_tool_handler

            problem = import_tool_handler(tool)
        if problem:
            key = "python" if tool.python else "command"
            pos = workflow.source.value(("tools", tool.name, key))
            out.append(
                Diagnostic(
                    pos.file,
                    pos.line,
                    pos.column,
                    f"tools.{tool.name}.{key}",
                    problem,
                    code="tool_handler",
                )
            )
    out.extend(_mcp_server_problems(workflow, at_run=import_modules))
    return out


def _mcp_server_problems(workflow: Workflow, *, at_run: bool) -> list[Diagnostic]:
    """MCP servers that cannot start, found without starting them. A missing program or
    folder is only a warning for `validate` (CI may lack the server), an error for `run`."""
    from agentflow.check.tools import check_mcp_server

    out = []
    for server in workflow.mcp_servers:
        for key, problem in check_mcp_server(server):
            path = ("mcp_servers", server.name, *key.split(".", 1))
            pos = workflow.source.value(path)
            severity: Severity = "error" if at_run or key.startswith("env.") else "warning"
            out.append(
                Diagnostic(
                    pos.file,
                    pos.line,
                    pos.column,
                    f"mcp_servers.{server.name}.{key}",
                    problem,
                    severity=severity,
                    code="mcp_server",
                )
            )
    return out


def _deadline_problems(workflow: Workflow) -> list[Diagnostic]:
    """A warning when the plan, under the declared limits, cannot meet the deadline."""
    if workflow.deadline is None:
        return []
    from agentflow.plan.estimate import make_plan
    from agentflow.plan.pricing import load_price_book
    from agentflow.plan.render import deadline_line

    plan = make_plan(workflow, None, load_price_book(workflow.pricing))
    if plan.deadline is None or plan.deadline.meets:
        return []
    pos = workflow.source.value(("deadline",))
    line = deadline_line(plan)
    message = line.plain if line is not None else "the plan cannot meet the deadline"
    return [
        Diagnostic(
            pos.file,
            pos.line,
            pos.column,
            "deadline",
            message[0].lower() + message[1:],
            severity="warning",
            code="deadline_unmet",
        )
    ]


def analyze(path: Path, text: str | bytes | None = None, *, import_tools: bool = False) -> Analysis:
    """Check one workflow file completely; never raises for a bad file.

    With `text`, that is the file's content and `path` only names it (`<stdin>`).
    No user code runs: Python tool modules are parsed, not imported, unless `import_tools`
    (what `run` asks for, so that a module failing to import stops it before any call).
    """
    try:
        doc = load_document(path) if text is None else load_text(text, str(path))
    except WorkflowInvalid as exc:
        return Analysis(path, None, tuple(exc.diagnostics))
    diagnostics = validate_document(doc)
    if any(d.severity == "error" for d in diagnostics):
        return Analysis(path, None, tuple(diagnostics))
    semantic = check_semantics(doc.data, doc.source, has_price=_price_lookup(doc.data))
    diagnostics.extend(semantic.diagnostics)
    if any(d.severity == "error" for d in diagnostics):
        return Analysis(path, None, tuple(diagnostics))
    workflow = build_workflow(doc.data, path, doc.source, semantic.depends_on)
    diagnostics.extend(_tool_problems(workflow, import_modules=import_tools))
    if any(d.severity == "error" for d in diagnostics):
        return Analysis(path, None, tuple(diagnostics))
    diagnostics.extend(_deadline_problems(workflow))
    return Analysis(path, workflow, tuple(diagnostics))


def load_workflow(path: Path | str, *, import_tools: bool = False) -> Workflow:
    """The validated workflow in `path`. Raises `WorkflowInvalid` with every error.

    `import_tools` imports the Python tool modules too (see `analyze`); only `run` sets it.
    """
    analysis = analyze(Path(path), import_tools=import_tools)
    if analysis.workflow is None:
        raise WorkflowInvalid(list(analysis.errors))
    return analysis.workflow


STDIN = Path("-")
"""The path `-`: one workflow read from standard input."""


def _excluded(path: Path, globs: Sequence[str]) -> bool:
    # PurePath.match compares from the right: "drafts/*" matches "workflows/drafts/a.yaml";
    # a pattern that matches a folder on the way excludes everything under it.
    candidates = (path, *(p for p in path.parents if p.name))
    return any(PurePath(c).match(glob) for glob in globs for c in candidates)


def collect_paths(paths: Iterable[Path], exclude: Sequence[str] = ()) -> list[Path]:
    """Workflow files named directly, plus every *.yaml / *.yml under named folders.

    Files matching an `exclude` glob are left out; a file reached twice (a folder and a
    file in it, a symlink) is listed once, under the first path that reached it. `-`
    stands for standard input and is kept as is.
    """
    out: list[Path] = []
    seen: set[str] = set()

    def add(path: Path) -> None:
        key = "-" if path == STDIN else os.path.realpath(path)
        if key not in seen and not _excluded(path, exclude):
            seen.add(key)
            out.append(path)

    for path in paths:
        if path == STDIN:
            add(path)
        elif path.is_dir():
            found = sorted(
                p
                for p in path.rglob("*")
                if p.suffix in WORKFLOW_SUFFIXES
                and p.is_file()
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
            if not found:
                raise UsageError(f"{path}: no workflow files (*.yaml, *.yml) in this folder")
            for file in found:
                add(file)
        elif path.exists():
            add(path)
        else:
            raise UsageError(f"{path}: no such file or folder")
    if not out:
        raise UsageError("every workflow file was left out by --exclude")
    return out
