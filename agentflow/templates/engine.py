"""Compile, inspect and render workflow templates."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

from agentflow.errors import TemplateRenderError
from agentflow.model.types import FrozenDict

# A template that is exactly one expression evaluates to a native value (a list for
# `for_each`, a bool for `when`) instead of a string.
_SINGLE_EXPRESSION = re.compile(r"^\s*\{\{(?P<expr>(?:(?!\}\}|\{\{).)*)\}\}\s*$", re.DOTALL)

CONTEXT_NAMES = frozenset({"inputs", "agents", "item", "index"})


class TemplateSyntax(Exception):  # a value carried to a Diagnostic, never shown as is
    """A template does not parse; `line` is 1-based within the template."""

    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


def _to_json(value: Any) -> Any:
    if isinstance(value, FrozenDict):
        return dict(value)
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _finalize(value: Any) -> Any:
    # Values print as JSON (true, null, {"a": 1}), the way a model reads data best.
    if value is None or isinstance(value, bool | Mapping | list | tuple):
        return json.dumps(value, ensure_ascii=False, default=_to_json)
    return value


def _tojson(value: Any, indent: int | None = None) -> str:
    return json.dumps(value, ensure_ascii=False, indent=indent, default=_to_json)


def _make_env() -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(
        undefined=jinja2.StrictUndefined,
        finalize=_finalize,
        autoescape=False,
        keep_trailing_newline=True,
    )
    env.filters["tojson"] = _tojson
    # Templates see only the run's data: no helpers that reach outside it. (`range` stays:
    # the sandbox's own version, capped at MAX_RANGE items.)
    for name in ("lipsum", "cycler", "joiner", "namespace", "dict"):
        env.globals.pop(name, None)
    return env


_ENV = _make_env()


@dataclass(frozen=True, slots=True)
class TemplateRefs:
    """What a template reads: agent ids, input names, and other free names."""

    agents: tuple[str, ...]
    inputs: tuple[str, ...]
    names: tuple[str, ...]
    agent_attrs: tuple[tuple[str, str], ...]


_NO_REFS = TemplateRefs(agents=(), inputs=(), names=(), agent_attrs=())

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


@lru_cache(maxsize=16384)
def simple_lookups(source: str) -> tuple[Lookup, ...] | None:
    """The lookups of a template made only of text and `{{ a.b[0] }}` blocks, else None."""
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
    shown = _finalize(value)
    return shown if isinstance(shown, str) else str(shown)


def _simple_references(lookups: tuple[Lookup, ...]) -> TemplateRefs:
    agents: dict[str, None] = {}
    inputs: dict[str, None] = {}
    attrs: dict[tuple[str, str], None] = {}
    names: set[str] = set()
    for lookup in lookups:
        names.add(lookup.head)
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


@lru_cache(maxsize=4096)
def references(source: str) -> TemplateRefs:
    """The names a template reads. Raises `TemplateSyntax` when it does not parse."""
    if "{" not in source:  # plain text: nothing for Jinja to read
        return _NO_REFS
    lookups = simple_lookups(source)
    if lookups is not None:
        return _simple_references(lookups)
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
    )


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
        parts.append(as_text(value))
        last = lookup.end
    parts.append(source[last:])
    return "".join(parts)


def render(source: str, context: Mapping[str, Any]) -> str:
    """Render a template to text. Raises `TemplateRenderError` with a readable reason."""
    if "{" not in source:
        return source
    fast = _render_lookups(source, context)
    if fast is not None:
        return fast
    try:
        template = _compiled(source)
        return template.render(context)
    except TemplateSyntax as exc:
        raise TemplateRenderError(f"template syntax error: {exc.message}") from None
    except Exception as exc:  # any failure inside user template code is the user's to fix
        raise TemplateRenderError(_describe(exc)) from None


def evaluate(source: str, context: Mapping[str, Any]) -> Any:
    """Evaluate a template: a lone `{{ expression }}` gives its native value, else text."""
    expression = _expression(source)
    if expression is None:
        return render(source, context)
    try:
        value = expression(**context)
    except Exception as exc:
        raise TemplateRenderError(_describe(exc)) from None
    if isinstance(value, jinja2.Undefined):
        try:
            str(value)  # a strict Undefined raises here, saying what was missing or refused
        except Exception as exc:
            raise TemplateRenderError(_describe(exc)) from None
        raise TemplateRenderError("undefined value")
    return value
