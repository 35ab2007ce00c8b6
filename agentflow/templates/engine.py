"""Compile, inspect and render workflow templates."""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import jinja2
from jinja2 import nodes

from agentflow.errors import TemplateRenderError
from agentflow.templates.sandbox import (
    INTERNAL_FILTERS,
    MAX_OUTPUT,
    MAX_STEPS,
    RenderCancelled,
    StepBudgetSpent,
    budget,
    finalize,
    make_environment,
)

# A template that is exactly one expression evaluates to a native value (a list for
# `for_each`, a bool for `when`) instead of a string.
_SINGLE_EXPRESSION = re.compile(r"^\s*\{\{(?P<expr>(?:(?!\}\}|\{\{).)*)\}\}\s*$", re.DOTALL)

CONTEXT_NAMES = frozenset({"inputs", "agents", "item", "index"})

# Steps a render may take on the event loop's thread before it moves to a worker thread,
# where a signal can stop it (about a millisecond of work: nearly every prompt fits).
INLINE_STEPS = 20_000


class TemplateSyntax(Exception):  # a value carried to a Diagnostic, never shown as is
    """A template does not parse; `line` is 1-based within the template."""

    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


_ENV = make_environment()

FILTER_NAMES = frozenset(_ENV.filters) - INTERNAL_FILTERS
"""The filters a template may use (`{{ x | upper }}`)."""
TEST_NAMES = frozenset(_ENV.tests)
"""The tests a template may use (`{% if x is defined %}`)."""


def is_single_expression(source: str) -> bool:
    """True when the template is exactly one `{{ expression }}` (so it has a native value)."""
    return _SINGLE_EXPRESSION.match(source) is not None


@dataclass(frozen=True, slots=True)
class FieldRef:
    """One constant lookup path: `agents.parse.output.name` is head `agents` and path
    `("parse", "output", "name")`; `line` is 1-based within the template. `guarded` when
    the template allows the value to be missing (`| default(...)`, `is defined`)."""

    head: str
    path: tuple[str | int, ...]
    line: int
    guarded: bool = False


@dataclass(frozen=True, slots=True)
class TemplateRefs:
    """What a template reads (agent ids, input names, other free names, lookup paths) and
    which filters and tests it uses, each with its line in the template."""

    agents: tuple[str, ...]
    inputs: tuple[str, ...]
    names: tuple[str, ...]
    agent_attrs: tuple[tuple[str, str], ...]
    fields: tuple[FieldRef, ...] = ()
    filters: tuple[tuple[str, int], ...] = ()
    tests: tuple[tuple[str, int], ...] = ()


_NO_REFS = TemplateRefs(agents=(), inputs=(), names=(), agent_attrs=())
_PATH_HEADS = frozenset({"agents", "inputs", "item"})

# `{{ name.attr["key"][0] }}`: the one kind of expression most prompts use. Parsing it by hand
# is ~50x cheaper than compiling a Jinja template, which matters for 10,000-agent files.
_SIMPLE_EXPR = re.compile(
    r"\{\{\s*([A-Za-z_]\w*(?:\.[A-Za-z_]\w*|\[\s*(?:'[^']*'|\"[^\"]*\"|\d+)\s*\])*)\s*\}\}"
)
_PATH_PART = re.compile(r"\.([A-Za-z_]\w*)|\[\s*(?:'([^']*)'|\"([^\"]*)\"|(\d+))\s*\]")
_HEAD = re.compile(r"[A-Za-z_]\w*")


@dataclass(frozen=True, slots=True)
class Lookup:
    """One `{{ head.path... }}` block: where it is in the template and what it reads."""

    start: int
    end: int
    head: str
    path: tuple[str | int, ...]


# Templates are read several times each (checks, graph, plan, every render of a run), in
# the file's order: an LRU cache smaller than a file's templates misses on every read of a
# big file (a plan past 16,384 agents was 10% slower per agent). Entries are small (the
# lookups or names of one template), so the bound sits far above any file's templates
# (a 5 MiB file holds at most ~100,000 agents) and only stops a long-lived process that
# loads ever new files from growing without end.
TEMPLATE_CACHE_SIZE = 1 << 19


@lru_cache(maxsize=TEMPLATE_CACHE_SIZE)
def simple_lookups(source: str) -> tuple[Lookup, ...] | None:
    """The lookups of a template made only of text and `{{ a.b[0] }}` blocks, else None."""
    if "{" not in source:  # plain text
        return ()
    if "{%" in source or "{#" in source or "{{" in _SIMPLE_EXPR.sub("", source):
        return None
    found = []
    for match in _SIMPLE_EXPR.finditer(source):
        expr = match.group(1)
        head = _HEAD.match(expr)
        assert head is not None  # the pattern starts with a name
        path: list[str | int] = []
        for part in _PATH_PART.finditer(expr, head.end()):
            key = part.group(1) or part.group(2) or part.group(3)
            path.append(int(part.group(4)) if key is None else key)
        found.append(Lookup(match.start(), match.end(), head.group(0), tuple(path)))
    return tuple(found)


def as_text(value: Any) -> str:
    """How a value prints inside a template (JSON for data, text for strings and numbers)."""
    shown = finalize(value)
    return shown if isinstance(shown, str) else str(shown)


def _simple_references(source: str, lookups: tuple[Lookup, ...]) -> TemplateRefs:
    agents: dict[str, None] = {}
    inputs: dict[str, None] = {}
    attrs: dict[tuple[str, str], None] = {}
    names: set[str] = set()
    fields: list[FieldRef] = []
    for lookup in lookups:
        names.add(lookup.head)
        if lookup.head in _PATH_HEADS and lookup.path:
            line = source.count("\n", 0, lookup.start) + 1
            fields.append(FieldRef(lookup.head, lookup.path, line))
        first = lookup.path[0] if lookup.path else None
        if not isinstance(first, str):
            continue
        if lookup.head == "agents":
            agents[first] = None
            second = lookup.path[1] if len(lookup.path) > 1 else None
            if isinstance(second, str):
                attrs[(first, second)] = None
        elif lookup.head == "inputs":
            inputs[first] = None
    return TemplateRefs(
        agents=tuple(agents),
        inputs=tuple(inputs),
        names=tuple(sorted(n for n in names if n not in _ENV.globals)),
        agent_attrs=tuple(attrs),
        fields=tuple(fields),
    )


def _syntax(exc: jinja2.TemplateSyntaxError) -> TemplateSyntax:
    return TemplateSyntax(exc.message or "syntax error", exc.lineno or 1)


@lru_cache(maxsize=4096)
def _parse(source: str) -> nodes.Template:
    try:
        return _ENV.parse(source)
    except jinja2.TemplateSyntaxError as exc:
        raise _syntax(exc) from None


def _const_key(node: nodes.Node) -> str | None:
    if isinstance(node, nodes.Getattr):
        return node.attr
    if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
        value = node.arg.value
        return value if isinstance(value, str) else None
    return None


@lru_cache(maxsize=TEMPLATE_CACHE_SIZE)
def references(source: str) -> TemplateRefs:
    """The names a template reads. Raises `TemplateSyntax` when it does not parse."""
    if "{" not in source:  # plain text: nothing for Jinja to read
        return _NO_REFS
    lookups = simple_lookups(source)
    if lookups is not None:
        return _simple_references(source, lookups)
    tree = _parse(source)
    agents: dict[str, None] = {}
    inputs: dict[str, None] = {}
    attrs: dict[tuple[str, str], None] = {}
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        inner: nodes.Node = node.node  # type: ignore[attr-defined]  # both kinds have .node
        if isinstance(inner, nodes.Name):
            key = _const_key(node)
            if key is None:
                continue
            if inner.name == "agents":
                agents[key] = None
            elif inner.name == "inputs":
                inputs[key] = None
        elif (
            isinstance(inner, nodes.Getattr | nodes.Getitem)
            and isinstance(inner.node, nodes.Name)
            and inner.node.name == "agents"
        ):
            agent_id, attr = _const_key(inner), _const_key(node)
            if agent_id is not None and attr is not None:
                attrs[(agent_id, attr)] = None
    assigned = {n.name for n in tree.find_all(nodes.Name) if n.ctx in ("store", "param")}
    if any(True for _ in tree.find_all(nodes.For)):
        assigned.add("loop")  # Jinja's loop helper inside {% for %}
    free = {
        n.name
        for n in tree.find_all(nodes.Name)
        if n.ctx == "load" and n.name not in assigned and n.name not in _ENV.globals
    }
    return TemplateRefs(
        agents=tuple(agents),
        inputs=tuple(inputs),
        names=tuple(sorted(free)),
        agent_attrs=tuple(attrs),
        fields=tuple(_field_refs(tree, assigned)),
        filters=tuple(
            (n.name, n.lineno) for n in tree.find_all(nodes.Filter) if n.name is not None
        ),
        tests=tuple((n.name, n.lineno) for n in tree.find_all(nodes.Test)),
    )


def _chain(node: nodes.Node) -> tuple[str, tuple[str | int, ...]] | None:
    """(head name, constant path) of a lookup chain `a.b["c"][0]`; a dynamic key cuts the
    path where it stands (`a.b[x].c` reads `a.b`)."""
    path: list[str | int] = []
    while isinstance(node, nodes.Getattr | nodes.Getitem):
        if isinstance(node, nodes.Getattr):
            path.append(node.attr)
        elif isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str | int):
            path.append(node.arg.value)
        else:
            path.clear()  # what follows a dynamic key is not a known path
        node = node.node
    if not isinstance(node, nodes.Name):
        return None
    return node.name, tuple(reversed(path))


def _walk(node: nodes.Node, parent: nodes.Node | None) -> Iterator[tuple[nodes.Node, Any]]:
    yield node, parent
    for child in node.iter_child_nodes():
        yield from _walk(child, node)


def _guards(parent: nodes.Node | None, node: nodes.Node) -> bool:
    if isinstance(parent, nodes.Filter) and parent.node is node:
        return parent.name in ("default", "d")
    if isinstance(parent, nodes.Test) and parent.node is node:
        return parent.name in ("defined", "undefined")
    return False


def _field_refs(tree: nodes.Template, assigned: set[str]) -> Iterator[FieldRef]:
    for node, parent in _walk(tree, None):
        if not isinstance(node, nodes.Getattr | nodes.Getitem):
            continue
        if isinstance(parent, nodes.Getattr | nodes.Getitem) and parent.node is node:
            continue  # only the outermost lookup of a chain
        chain = _chain(node)
        if chain is None or chain[0] not in _PATH_HEADS or chain[0] in assigned:
            continue
        if chain[1]:
            yield FieldRef(chain[0], chain[1], node.lineno, _guards(parent, node))


@lru_cache(maxsize=4096)
def _compiled(source: str) -> jinja2.Template:
    try:
        return _ENV.from_string(source)
    except jinja2.TemplateSyntaxError as exc:
        raise _syntax(exc) from None


@lru_cache(maxsize=4096)
def _expression(source: str) -> Any:
    match = _SINGLE_EXPRESSION.match(source)
    if match is None:
        return None
    try:
        return _ENV.compile_expression(match.group("expr"), undefined_to_none=False)
    except jinja2.TemplateSyntaxError:
        return None


def _describe(exc: Exception) -> str:
    if isinstance(exc, jinja2.UndefinedError):
        return f"undefined value: {exc.message}"
    if isinstance(exc, jinja2.exceptions.SecurityError):
        return f"not allowed in a template: {exc}"
    return f"{type(exc).__name__}: {exc}"


def _render_lookups(source: str, context: Mapping[str, Any]) -> str | None:
    """Render a `{{ a.b[0] }}`-only template without Jinja; None when any lookup is not a
    plain dict key or list index that exists (Jinja then renders it, or explains why not)."""
    lookups = simple_lookups(source)
    if lookups is None:
        return None
    parts: list[str] = []
    last = 0
    size = len(source)
    for lookup in lookups:
        if lookup.head not in context:
            return None
        value = context[lookup.head]
        for key in lookup.path:
            if isinstance(key, str):
                if not (isinstance(value, Mapping) and key in value):
                    return None
                value = value[key]
            else:
                if not (isinstance(value, list | tuple) and key < len(value)):
                    return None
                value = value[key]
        if not isinstance(value, str | int | float | bool | Mapping | list | tuple | None):
            return None
        parts.append(source[last : lookup.start])
        text = as_text(value)
        size += len(text)
        if size > MAX_OUTPUT:
            raise _too_long()
        parts.append(text)
        last = lookup.end
    parts.append(source[last:])
    return "".join(parts)


def _too_long() -> TemplateRenderError:
    return TemplateRenderError(
        f"template bound exceeded: the rendered text passes the limit of {MAX_OUTPUT:,} characters"
    )


def _jinja_render(source: str, context: Mapping[str, Any]) -> str:
    parts: list[str] = []
    size = 0
    for chunk in _compiled(source).generate(context):
        size += len(chunk)
        if size > MAX_OUTPUT:
            raise _too_long()
        parts.append(chunk)
    return "".join(parts)


def _jinja_evaluate(source: str, context: Mapping[str, Any]) -> Any:
    expression = _expression(source)
    value = expression(**context)
    if isinstance(value, jinja2.Undefined):
        str(value)  # a strict Undefined raises here, saying what was missing or refused
        raise TemplateRenderError("undefined value")
    return value


def _guarded(run: Callable[[str, Mapping[str, Any]], Any], source: str, context: Any) -> Any:
    """Run Jinja code, turning what fails inside it into a `TemplateRenderError`."""
    try:
        return run(source, context)
    except (TemplateRenderError, StepBudgetSpent, RenderCancelled):
        raise
    except TemplateSyntax as exc:
        raise TemplateRenderError(f"template syntax error: {exc.message}") from None
    except Exception as exc:  # any failure inside user template code is the user's to fix
        raise TemplateRenderError(_describe(exc)) from None


def _bounded_run(
    run: Callable[[str, Mapping[str, Any]], Any],
    source: str,
    context: Mapping[str, Any],
    cancel: threading.Event | None = None,
    max_steps: int = MAX_STEPS,
) -> Any:
    with budget(max_steps, cancel):
        try:
            return _guarded(run, source, context)
        except StepBudgetSpent:
            raise TemplateRenderError(
                f"template bound exceeded: the template does more than {max_steps:,} steps"
                " of work (lookups, calls, loop iterations)"
            ) from None


async def _off_loop(
    run: Callable[[str, Mapping[str, Any]], Any],
    source: str,
    context: Mapping[str, Any],
    max_steps: int,
) -> Any:
    """Run on the loop's thread while the work is small; a heavy render continues in a
    worker thread, so the loop (and its signal handlers) stay responsive. Cancelling the
    awaiting task stops the worker at its next step."""
    try:
        with budget(INLINE_STEPS):
            return _guarded(run, source, context)
    except StepBudgetSpent:
        pass  # templates are pure: rendering again from the start gives the same result
    cancel = threading.Event()
    try:
        return await asyncio.to_thread(_bounded_run, run, source, context, cancel, max_steps)
    finally:
        cancel.set()


def render(source: str, context: Mapping[str, Any], *, max_steps: int = MAX_STEPS) -> str:
    """Render a template to text. Raises `TemplateRenderError` with a readable reason."""
    if "{" not in source:
        return source
    fast = _render_lookups(source, context)
    if fast is not None:
        return fast
    text: str = _bounded_run(_jinja_render, source, context, max_steps=max_steps)
    return text


def evaluate(source: str, context: Mapping[str, Any], *, max_steps: int = MAX_STEPS) -> Any:
    """Evaluate a template: a lone `{{ expression }}` gives its native value, else text."""
    if _expression(source) is None:
        return render(source, context, max_steps=max_steps)
    return _bounded_run(_jinja_evaluate, source, context, max_steps=max_steps)


async def render_async(
    source: str, context: Mapping[str, Any], *, max_steps: int = MAX_STEPS
) -> str:
    """`render()` for the run engine: a heavy template does not block the event loop."""
    if "{" not in source:
        return source
    fast = _render_lookups(source, context)
    if fast is not None:
        return fast
    text: str = await _off_loop(_jinja_render, source, context, max_steps)
    return text


async def evaluate_async(
    source: str, context: Mapping[str, Any], *, max_steps: int = MAX_STEPS
) -> Any:
    """`evaluate()` for the run engine: a heavy template does not block the event loop."""
    if _expression(source) is None:
        return await render_async(source, context, max_steps=max_steps)
    return await _off_loop(_jinja_evaluate, source, context, max_steps)
