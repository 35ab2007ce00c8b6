"""The core functions the CLI calls: load and check workflow files.

`analyze(path)` runs load → schema → semantic checks → build and returns every
diagnostic; `load_workflow(path)` returns the frozen `Workflow` or raises
`WorkflowInvalid`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from agentflow.check import check_semantics
from agentflow.errors import Diagnostic, UsageError, WorkflowInvalid
from agentflow.loading import load_document
from agentflow.model.build import build_workflow
from agentflow.model.types import Price, Workflow
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
    overrides = tuple(
        Price(model=m, input=float(p["input"]), output=float(p["output"]))
        for m, p in (pricing or {}).items()
    )
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
    return out


def analyze(path: Path, *, import_tools: bool = False) -> Analysis:
    """Check one workflow file completely; never raises for a bad file.

    No user code runs: Python tool modules are parsed, not imported, unless `import_tools`
    (what `run` asks for, so that a module failing to import stops it before any call).
    """
    try:
        doc = load_document(path)
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
    return Analysis(path, workflow, tuple(diagnostics))


def load_workflow(path: Path | str, *, import_tools: bool = False) -> Workflow:
    """The validated workflow in `path`. Raises `WorkflowInvalid` with every error.

    `import_tools` imports the Python tool modules too (see `analyze`); only `run` sets it.
    """
    analysis = analyze(Path(path), import_tools=import_tools)
    if analysis.workflow is None:
        raise WorkflowInvalid(list(analysis.errors))
    return analysis.workflow


def collect_paths(paths: Iterable[Path]) -> list[Path]:
    """Workflow files named directly, plus every *.yaml / *.yml under named folders."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(
                p
                for p in path.rglob("*")
                if p.suffix in WORKFLOW_SUFFIXES
                and p.is_file()
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
            if not found:
                raise UsageError(f"{path}: no workflow files (*.yaml, *.yml) in this folder")
            out.extend(found)
        elif path.exists():
            out.append(path)
        else:
            raise UsageError(f"{path}: no such file or folder")
    return out
