"""The sandboxed Jinja environment: data-first lookups, bounded values, counted work.

Every template (prompts, `for_each`, `when`, `outputs`, and the plan's static renders) runs in
this one environment, so they all read data the same way and stop at the same bounds:

- **Data names are data.** A mapping's attributes are its keys: `inputs.items` reads the key
  `items`, never `dict.items`; a list or tuple has no attributes. (Jinja's default prefers the
  Python attribute, so a field named `items`, `keys` or `update` read as a method.)
- **Values are bounded.** A string or list a template builds holds at most `MAX_SIZE`
  characters or items, an integer at most `MAX_INT_BITS` bits, and the text a render emits
  at most `MAX_OUTPUT` characters. The check runs before the value is built (`'x' * 10**8`
  is refused, not computed and then measured).
- **Work is counted.** Lookups, calls, filters and comparisons (by the size of what they
  traverse), outputs and loop iterations are steps; a render that passes its step budget
  stops. A render running in a worker thread also checks a cancel flag at every step, so a
  signal stops it at once.

Exceeding a bound raises `TemplateRenderError` (a `template_error`).
"""

from __future__ import annotations

import json
import re
import string
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, cast

import jinja2
from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.visitor import NodeTransformer

from agentflow.errors import TemplateRenderError
from agentflow.model.types import FrozenDict

MAX_SIZE = 1_000_000
"""Characters in a string, or items in a list, that one template operation may build."""
MAX_OUTPUT = 1_000_000
"""Characters one render may produce (about 1 MB)."""
MAX_INT_BITS = 100_000
"""Bits in an integer a template may compute (about 30,000 digits)."""
MAX_STEPS = 2_000_000
"""Steps (lookups, calls, iterations, items traversed) in one render."""

_ITER_FILTER = "_af_counted"
_CONCAT_FILTER = "_af_concat"
_MEASURE_FILTER = "_af_measured"
INTERNAL_FILTERS = frozenset({_ITER_FILTER, _CONCAT_FILTER, _MEASURE_FILTER})


# -- the step budget ---------------------------------------------------------------------------


class StepBudgetSpent(Exception):  # a control signal: the caller decides what it means
    """The active budget allowed fewer steps than the render needs."""


class RenderCancelled(Exception):  # raised inside a worker thread whose render was abandoned
    """The render's cancel flag was set."""


class _Budget:
    __slots__ = ("cancel", "emitted", "limit", "steps")

    def __init__(self, limit: int, cancel: threading.Event | None) -> None:
        self.limit = limit
        self.cancel = cancel
        self.steps = 0
        self.emitted = 0


_local = threading.local()


class budget:
    """Render under a step budget in this thread: `with budget(limit, cancel): ...`."""

    def __init__(self, limit: int, cancel: threading.Event | None = None) -> None:
        self._budget = _Budget(limit, cancel)
        self._outer: _Budget | None = None

    def __enter__(self) -> budget:
        self._outer = getattr(_local, "budget", None)
        _local.budget = self._budget
        return self

    def __exit__(self, *exc: object) -> None:
        _local.budget = self._outer


def tick(steps: int = 1) -> None:
    """Count work against the thread's budget; raises when it is spent or cancelled."""
    current: _Budget | None = getattr(_local, "budget", None)
    if current is None:  # compile-time constant folding: bounded by the source itself
        return
    current.steps += steps
    if current.steps > current.limit:
        raise StepBudgetSpent
    if current.cancel is not None and current.cancel.is_set():
        raise RenderCancelled


def _over(what: str, size: int, limit: int, unit: str = "characters") -> TemplateRenderError:
    return TemplateRenderError(
        f"template bound exceeded: {what} of {size:,}{' ' + unit if unit else ''}"
        f" is over the limit of {limit:,}"
    )


def check_size(size: int, what: str = "a value", unit: str = "characters or items") -> None:
    if size > MAX_SIZE:
        raise _over(what, size, MAX_SIZE, unit)


def _check_sequence(kind: Any, size: int) -> None:
    if kind is str:
        check_size(size, "a string", "characters")
    else:
        check_size(size, "a list", "items")


# -- sizes of values ---------------------------------------------------------------------------

_PLAIN_MAPPINGS = (dict, FrozenDict)
_PLAIN_SIZED = (str, list, tuple, dict, FrozenDict)


def _is_mapping(value: Any) -> bool:
    # `isinstance(x, Mapping)` is an ABC check (slow); most values are plain types.
    kind = type(value)
    if kind in _PLAIN_MAPPINGS:
        return True
    if kind in (str, int, float, bool, list, tuple) or value is None:
        return False
    return isinstance(value, Mapping)


def text_size(value: Any, limit: int = MAX_SIZE, indent: int = 0) -> int:
    """A lower bound of how many characters `value` prints as (JSON or `str()`), counted
    until it passes `limit`. Shared references count each time they print, so
    `[big] * 1000` is seen for what it prints, not for what it stores."""
    if isinstance(value, str):
        return len(value)
    total = 0
    visited = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack and total <= limit:
        item, depth = stack.pop()
        visited += 1
        if isinstance(item, str):
            total += len(item) + 2
        elif isinstance(item, Mapping):
            total += 2 + indent * depth
            for key, inner in item.items():
                total += 2 + indent * (depth + 1)
                stack.append((key, depth + 1))
                stack.append((inner, depth + 1))
                if total > limit:
                    break
        elif isinstance(item, list | tuple):
            total += 2 + (len(item) + 1) * indent * (depth + 1)
            if total <= limit:
                stack.extend((inner, depth + 1) for inner in item)
        else:
            total += 1
    tick(visited)
    return total


def check_text(value: Any, what: str = "a value's text") -> None:
    """Refuse a container that would print as more than `MAX_SIZE` characters."""
    if isinstance(value, str | int | float | bool) or value is None:
        return
    size = text_size(value)
    if size > MAX_SIZE:
        raise _over(what, size, MAX_SIZE)


def _to_json(value: Any) -> Any:
    if isinstance(value, FrozenDict):
        return dict(value)
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def dumps(value: Any, indent: int | str | None = None) -> str:
    """JSON text of a value, refused before it is built when it would be too large."""
    width = indent if isinstance(indent, int) else len(indent or "")
    size = text_size(value, MAX_SIZE, width)
    if size > MAX_SIZE:
        raise _over("JSON text", size, MAX_SIZE)
    text = json.dumps(value, ensure_ascii=False, indent=indent, default=_to_json)
    check_size(len(text), "JSON text")
    return text


def finalize(value: Any) -> Any:
    """How a `{{ value }}` prints: data as JSON (true, null, {"a": 1}), the way a model reads
    it best; text as is. Counts what a render emits, even into `{% set %}` blocks."""
    if type(value) is not str and (
        value is None or isinstance(value, bool | list | tuple) or _is_mapping(value)
    ):
        value = dumps(value)
    current: _Budget | None = getattr(_local, "budget", None)
    if current is not None and isinstance(value, str):
        current.emitted += len(value)
        if current.emitted > 4 * MAX_OUTPUT:  # set blocks and macros may print text twice
            raise _over("text printed by the template", current.emitted, 4 * MAX_OUTPUT)
        tick()
    return value


# -- operators ---------------------------------------------------------------------------------

_SEQUENCES = (str, list, tuple)


def _mul(left: Any, right: Any) -> Any:
    if isinstance(left, int) and isinstance(right, int):
        bits = left.bit_length() + right.bit_length()
        if bits > MAX_INT_BITS:
            raise _over("an integer", bits, MAX_INT_BITS, "bits")
    elif isinstance(left, _SEQUENCES) and isinstance(right, int):
        _check_sequence(type(left), len(left) * right)
    elif isinstance(right, _SEQUENCES) and isinstance(left, int):
        _check_sequence(type(right), len(right) * left)
    return left * right


def _add(left: Any, right: Any) -> Any:
    if isinstance(left, _SEQUENCES) and isinstance(right, _SEQUENCES):
        _check_sequence(type(left), len(left) + len(right))
    return left + right


def _pow(left: Any, right: Any) -> Any:
    if isinstance(left, int) and isinstance(right, int) and right > 0 and abs(left) > 1:
        bits = left.bit_length() * right
        if bits > MAX_INT_BITS:
            raise _over("an integer", bits, MAX_INT_BITS, "bits")
    return left**right


# `%` conversions with a width or precision: `%-10s`, `%*d`, `%.3f`, `%(name)08x`.
_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?[a-zA-Z%]")


def _check_widths(widths: Iterable[str]) -> None:
    for width in widths:
        if width.isdigit():
            check_size(int(width), "a field width", "characters")


def _check_format_args(args: Iterable[Any]) -> None:
    for arg in args:
        if isinstance(arg, int) and not isinstance(arg, bool):
            check_size(arg, "a width argument", "")
        check_text(arg, "a formatted value's text")


def check_percent(template: str, args: Any) -> None:
    """Bounds of `template % args`, checked before formatting."""
    for match in _PERCENT_SPEC.finditer(template):
        _check_widths(w for w in match.groups() if w)
    values = args.values() if isinstance(args, Mapping) else args
    _check_format_args(values if isinstance(values, tuple | list) else (values,))


def check_format(template: str, args: Iterable[Any]) -> None:
    """Bounds of `template.format(*args)`, checked before formatting."""
    try:
        fields = list(string.Formatter().parse(template))
    except ValueError:
        return  # str.format will explain the bad format itself
    for _, _, spec, _ in fields:
        if spec:
            _check_widths(re.findall(r"\d+", spec))
    _check_format_args(args)


def _mod(left: Any, right: Any) -> Any:
    if isinstance(left, str):
        check_percent(left, right)
        result = left % right
        check_size(len(result), "a formatted string")
        return result
    return left % right


_BINOPS: dict[str, Callable[[Any, Any], Any]] = {"*": _mul, "+": _add, "**": _pow, "%": _mod}


def _concat(parts: list[Any]) -> str:
    """`a ~ b ~ c`, with the size checked before the text is joined."""
    texts = []
    size = 0
    for part in parts:
        check_text(part)
        text = str(part)  # a strict Undefined raises here, as in Jinja's own concat
        size += len(text)
        check_size(size, "a string", "characters")
        texts.append(text)
    return "".join(texts)


@jinja2.pass_context
def _counted(context: Any, iterable: Any) -> Iterator[Any]:
    """The iterable of a `{% for %}`: one step per item."""
    for item in iterable:
        tick()
        yield item


def _measured(value: Any) -> Any:
    """An operand of a comparison: as many steps as the items it holds."""
    tick(1 + _sized(value))
    return value


# -- filters -----------------------------------------------------------------------------------


def _sized(value: Any) -> int:
    if type(value) in _PLAIN_SIZED or isinstance(value, str | list | tuple | range):
        return len(value)
    return len(value) if _is_mapping(value) else 0


def _check_sum(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    # `sum(start=[])` over lists copies quadratically; bound what it would build.
    items = args[0] if args else ()
    start = kwargs.get("start", args[2] if len(args) > 2 else 0)
    if isinstance(start, _SEQUENCES) or any(isinstance(i, _SEQUENCES) for i in list(items)):
        check_size(_sized(start) + sum(_sized(i) for i in items), "a sum", "items")


def _check_indent(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    text = str(args[0]) if args else ""
    width = kwargs.get("width", args[1] if len(args) > 1 else 4)
    width = len(width) if isinstance(width, str) else int(width)
    check_size(
        len(text) + (text.count("\n") + 1) * max(width, 0), "an indented string", "characters"
    )


def _check_replace(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    if len(args) >= 3:
        text, old, new = (str(a) for a in args[:3])
        count = text.count(old) if old else len(text) + 1
        check_size(
            len(text) + count * max(len(new) - len(old), 0), "a replaced string", "characters"
        )


def _check_join(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    items = list(args[0]) if args and isinstance(args[0], Iterable) else []
    sep = str(kwargs.get("d", args[1] if len(args) > 1 else ""))
    for item in items:
        check_text(item)
    size = sum(len(i) if isinstance(i, str) else 8 for i in items) + len(sep) * len(items)
    check_size(size, "a joined string", "characters")


def _check_count_arg(index: int, name: str) -> Callable[[tuple[Any, ...], dict[str, Any]], None]:
    def check(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        value = kwargs.get(name, args[index] if len(args) > index else 0)
        if isinstance(value, int):
            check_size(value, f"{name} argument", "")

    return check


def _check_format_filter(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    if args and isinstance(args[0], str):
        check_percent(args[0], kwargs or tuple(args[1:]))


def _check_value_text(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    if args:
        check_text(args[0])


# Filters that build something larger than their input, and what bounds each one.
_FILTER_CHECKS: dict[str, Callable[[tuple[Any, ...], dict[str, Any]], None]] = {
    "center": _check_count_arg(1, "width"),
    "indent": _check_indent,
    "replace": _check_replace,
    "join": _check_join,
    "batch": _check_count_arg(1, "linecount"),
    "slice": _check_count_arg(1, "slices"),
    "sum": _check_sum,
    "format": _check_format_filter,
}
# Filters that print their value with str(): a container is measured first.
_TEXT_FILTERS = frozenset(
    {
        "capitalize",
        "center",
        "e",
        "escape",
        "forceescape",
        "indent",
        "lower",
        "pprint",
        "replace",
        "safe",
        "string",
        "striptags",
        "title",
        "trim",
        "truncate",
        "upper",
        "urlencode",
        "urlize",
        "wordcount",
        "wordwrap",
        "xmlattr",
    }
)


_MATERIALIZED = frozenset({"join", "sum"})
_SIZED = (str, list, tuple, Mapping)


def _bounded(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """A filter or test that counts the items it traverses and checks what it builds."""
    pass_arg = getattr(func, "jinja_pass_arg", None)
    skip = 0 if pass_arg is None else 1  # the context or environment Jinja passes first
    check = _FILTER_CHECKS.get(name)
    text_check = _check_value_text if name in _TEXT_FILTERS else None

    def bounded(*args: Any, **kwargs: Any) -> Any:
        if name in _MATERIALIZED and len(args) > skip and not isinstance(args[skip], _SIZED):
            # Measured before it is built, so an iterator is read once, here.
            args = (*args[:skip], list(args[skip]), *args[skip + 1 :])
        values = args[skip:]
        tick(1 + sum(_sized(a) for a in values))
        if text_check is not None:
            text_check(values, kwargs)
        if check is not None:
            check(values, kwargs)
        result = func(*args, **kwargs)
        if isinstance(result, str | list | tuple):
            check_size(len(result), f"the result of '{name}'")
        return result

    bounded.__name__ = getattr(func, "__name__", name)
    bounded.__doc__ = func.__doc__
    if pass_arg is not None:
        bounded.jinja_pass_arg = pass_arg  # type: ignore[attr-defined]
    return bounded


# -- methods of values -------------------------------------------------------------------------


def _check_str_method(text: str, name: str, args: tuple[Any, ...]) -> None:
    if name in ("ljust", "rjust", "center", "zfill") and args and isinstance(args[0], int):
        check_size(args[0], "a padded string", "characters")
    elif name == "expandtabs":
        tabsize = args[0] if args and isinstance(args[0], int) else 8
        check_size(len(text) + text.count("\t") * tabsize, "an expanded string", "characters")
    elif name == "replace" and len(args) >= 2:
        _check_replace((text, *args[:2]), {})
    elif name == "translate" and args and isinstance(args[0], Mapping):
        longest = max((text_size(v) for v in args[0].values()), default=1)
        check_size(len(text) * longest, "a translated string", "characters")
    elif name in ("format", "format_map"):
        values = args[0].values() if name == "format_map" and args else args
        check_format(text, list(values))


def _method_owner(func: Any) -> tuple[Any, str] | None:
    """(the value, method name) when `func` is a bound method of a built-in value (or the
    sandbox's wrapper around `str.format`)."""
    wrapped = getattr(func, "__wrapped__", func)
    owner = getattr(wrapped, "__self__", None)
    name = getattr(wrapped, "__name__", None)
    if isinstance(owner, str | int | float | bytes | range) and isinstance(name, str):
        return owner, name
    return None


# -- the environment ---------------------------------------------------------------------------


def _measure(node: nodes.Expr) -> nodes.Expr:
    return nodes.Filter(node, _MEASURE_FILTER, [], [], None, None, lineno=node.lineno)


class _Bounds(NodeTransformer):
    """Routes `{% for %}` iterables and `~` through the bounded helpers above."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = nodes.Filter(node.iter, _ITER_FILTER, [], [], None, None, lineno=node.lineno)
        return node

    def visit_Compare(self, node: nodes.Compare) -> nodes.Node:
        # `a == b` and `x in y` walk their operands: each side counts by its size.
        self.generic_visit(node)
        node.expr = _measure(node.expr)
        for operand in node.ops:
            operand.expr = _measure(operand.expr)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        parts = nodes.List(node.nodes, lineno=node.lineno)
        return nodes.Filter(parts, _CONCAT_FILTER, [], [], None, None, lineno=node.lineno)


class _BoundedCodeGenerator(CodeGenerator):
    def visit_Template(self, node: nodes.Template, frame: Frame | None = None) -> None:
        tree = _Bounds().visit(node)
        tree.set_environment(self.environment)
        super().visit_Template(tree, frame)


# Names of dict methods: reading one that is not a key gets a hint instead of a method.
_MAPPING_METHODS = frozenset(n for n in dir(dict) if not n.startswith("_"))


class TemplateEnvironment(ImmutableSandboxedEnvironment):
    """The workflow's Jinja environment (see the module docstring for its rules)."""

    code_generator_class = _BoundedCodeGenerator
    intercepted_binops = frozenset(_BINOPS)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        tick()
        return _BINOPS[operator](left, right)

    def getattr(self, obj: Any, attribute: str) -> Any:
        tick()
        if _is_mapping(obj):
            return self._key(obj, attribute)
        if isinstance(obj, list | tuple):
            return self._no_attribute(obj, attribute)
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        tick()
        if _is_mapping(obj):
            return self._key(obj, argument)
        if isinstance(obj, list | tuple) and isinstance(argument, str):
            return self._no_attribute(obj, argument)
        return super().getitem(obj, argument)

    def _no_attribute(self, obj: list[Any] | tuple[Any, ...], name: str) -> Any:
        # A list holds data by position only; its Python methods are not data.
        if hasattr(obj, name):
            return self.unsafe_undefined(obj, name)
        return self.undefined(obj=obj, name=name)

    def _key(self, obj: Mapping[Any, Any], key: Any) -> Any:
        try:
            return obj[key]
        except (KeyError, TypeError):
            pass
        if isinstance(key, str) and key.startswith("_"):
            return self.unsafe_undefined(obj, key)  # say it is refused, as for any object
        if key in _MAPPING_METHODS:
            return self.undefined(
                f"{type(obj).__name__!r} object has no key {key!r} (a mapping's attributes are"
                f" its keys; to loop over its entries write '| items')",
                obj=obj,
                name=key,
            )
        return self.undefined(obj=obj, name=key)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        tick()
        method = _method_owner(__obj)
        if method is not None:
            owner, name = method
            tick(_sized(owner))
            if isinstance(owner, str):
                _check_str_method(owner, name, args)
            elif name == "to_bytes" and args and isinstance(args[0], int):
                check_size(args[0], "a bytes value", "bytes")
            if name == "join" and isinstance(owner, str) and args:
                items = list(args[0])
                _check_join((items, owner), {})
                args = (items, *args[1:])
        result = super().call(__context, __obj, *args, **kwargs)
        if isinstance(result, str | list | tuple | bytes):
            check_size(len(result))
        return result


def make_environment() -> TemplateEnvironment:
    env = TemplateEnvironment(
        undefined=jinja2.StrictUndefined,
        finalize=finalize,
        autoescape=False,
        keep_trailing_newline=True,
    )
    env.filters["tojson"] = lambda value, indent=None: dumps(value, indent)
    # Templates see only the run's data: no helpers that reach outside it. (`range` stays:
    # the sandbox's own version, capped at MAX_RANGE items.)
    for name in ("lipsum", "cycler", "joiner", "namespace", "dict"):
        env.globals.pop(name, None)
    for name, func in list(env.filters.items()):
        env.filters[name] = _bounded(name, func)
    for name, test in list(env.tests.items()):
        env.tests[name] = _bounded(name, cast("Callable[..., Any]", test))
    env.filters[_ITER_FILTER] = _counted
    env.filters[_CONCAT_FILTER] = _concat
    env.filters[_MEASURE_FILTER] = _measured
    return env
