"""Checks on a schema-valid workflow document that need the whole file in view.

Each problem becomes a `Diagnostic` with file:line:column and a key path. The result also
carries every agent's dependencies (`needs` plus template references, in file order), so
the builder does not parse templates again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from agentflow.errors import Diagnostic, Severity
from agentflow.graph import find_cycle
from agentflow.model.types import KeyPath, SourceMap, format_path, freeze
from agentflow.schema.instance import instance_errors
from agentflow.schema.suggest import did_you_mean
from agentflow.templates import (
    FILTER_NAMES,
    TEST_NAMES,
    FieldRef,
    TemplateSyntax,
    is_single_expression,
    references,
    simple_lookups,
)

PriceLookup = Callable[[str], bool]
"""Answers "does this model have a known price?" (workflow `pricing:` included)."""


@dataclass(slots=True)
class SemanticResult:
    """Diagnostics found, and each agent's dependencies in file order."""

    diagnostics: list[Diagnostic] = field(default_factory=list)
    depends_on: dict[str, tuple[str, ...]] = field(default_factory=dict)


class _Reporter:
    def __init__(self, source: SourceMap, result: SemanticResult) -> None:
        self.source = source
        self.result = result

    def at(
        self,
        path: KeyPath,
        message: str,
        *,
        severity: Severity = "error",
        code: str = "invalid",
        key: bool = False,
        line_offset: int = 0,
    ) -> None:
        pos = self.source.key(path) if key else self.source.value(path)
        self.result.diagnostics.append(
            Diagnostic(
                file=self.source.file,
                line=pos.line + line_offset,
                column=pos.column,
                path=format_path(path),
                message=message,
                severity=severity,
                code=code,
            )
        )


def _names(choices: Iterator[str] | list[str]) -> str:
    listed = sorted(choices)
    if not listed:
        return "none are declared"
    if len(listed) > 12:
        return ", ".join(listed[:12]) + f", ... ({len(listed)} in all)"
    return ", ".join(listed)


def _unknown(kind: str, name: str, choices: list[str]) -> str:
    hint = did_you_mean(name, choices)
    if hint:
        return f"unknown {kind} '{name}'; did you mean '{hint}'?"
    return f"unknown {kind} '{name}'; known {kind}s: {_names(choices)}"


def _template_fields(
    agent_id: str, agent: Mapping[str, Any], defaults: Mapping[str, Any]
) -> Iterator[tuple[KeyPath, str, str]]:
    """(path, key, text) of each template the agent runs; an inherited system prompt is
    checked where it is written, under defaults."""
    for key in ("system", "prompt", "for_each", "when"):
        value = agent.get(key)
        if isinstance(value, str):
            yield ("agents", agent_id, key), key, value
        elif value is None and key == "system":
            value = defaults.get("system")
            if isinstance(value, str):
                yield ("defaults", "system"), key, value


def _not_a_template(report: _Reporter, path: KeyPath, key: str, text: str) -> bool:
    """`when:` and `for_each:` are templates: a bare string would be always true, or never a
    list. Reports the problem (with the fix) and returns True when there is one."""
    if "{{" not in text and "{%" not in text:
        what = "always be true" if key == "when" else "be a string, not a list"
        report.at(
            path,
            f'{key} is a plain string, so it would {what}; write "{{{{ {text.strip()} }}}}"',
            code="not_a_template",
        )
        return True
    if key == "for_each" and not is_single_expression(text):
        report.at(
            path,
            "for_each renders text, not a list; make it one expression giving a list, "
            'e.g. "{{ inputs.items }}"',
            code="not_a_template",
        )
        return True
    if key == "when" and not is_single_expression(text) and "{%" not in text:
        report.at(
            path,
            "when renders text around its {{ }}, and any text but false/no/0/none/null is true;"
            ' make it one expression, e.g. "{{ a and b }}"',
            severity="warning",
            code="not_a_template",
        )
    return False


# -- field references against declared schemas ----------------------------------------------

_UNRESOLVABLE = ("$ref", "$dynamicRef", "anyOf", "oneOf", "allOf", "not", "if")
_SCALARS = ("integer", "number", "boolean", "null")


@dataclass(frozen=True, slots=True)
class _Shape:
    """What `agents.<id>.output` is, as far as the file declares it."""

    schema: Mapping[str, Any] | None  # the output schema (per item for a fan-out)
    text: bool  # output.format text: a string
    fans_out: bool  # for_each: a list of per-item outputs


@dataclass(frozen=True, slots=True)
class _Problem:
    severity: Severity
    message: str


def _kind(schema: Mapping[str, Any]) -> str | None:
    kind = schema.get("type")
    if isinstance(kind, str):
        return kind
    if isinstance(kind, list | tuple):
        kinds = [k for k in kind if k != "null"]
        return kinds[0] if len(kinds) == 1 and len(kind) == 1 else None
    return None


def _fields_hint(key: str, names: list[str]) -> str:
    hint = did_you_mean(key, names)
    if hint:
        return f"; did you mean '{hint}'?"
    return f"; its fields: {_names(names)}"


def _resolve(
    schema: Any, path: tuple[str | int, ...], shown: str, owner: str
) -> tuple[_Problem | None, Mapping[str, Any] | None]:
    """Follow `path` through a JSON Schema: a problem when the schema says the path cannot
    exist, else the schema at its end (None when the schema does not say)."""
    for key in path:
        if not isinstance(schema, Mapping) or any(k in schema for k in _UNRESOLVABLE):
            return None, None
        kind = _kind(schema)
        if isinstance(key, int):
            prefix = schema.get("prefixItems")
            if isinstance(prefix, list | tuple) and 0 <= key < len(prefix):
                schema, shown = prefix[key], f"{shown}[{key}]"
            elif kind in ("array", None) and isinstance(schema.get("items"), Mapping):
                schema, shown = schema["items"], f"{shown}[{key}]"
            elif kind in (*_SCALARS, "object", "string"):
                return _Problem(
                    "error", f"{shown} is declared as {kind} in {owner}: it has no item [{key}]"
                ), None
            else:
                return None, None
            continue
        if kind == "array":
            return _Problem(
                "error",
                f"{shown} is declared as a list (type: array) in {owner}: it has no field '{key}'",
            ), None
        if kind in _SCALARS or (kind == "string" and not hasattr(str, key)):
            return _Problem(
                "error", f"{shown} is declared as {kind} in {owner}: it has no field '{key}'"
            ), None
        if kind == "string":
            return None, None  # a str method, e.g. .upper()
        props = schema.get("properties")
        props = props if isinstance(props, Mapping) else {}
        if key in props:
            schema, shown = props[key], f"{shown}.{key}"
            continue
        pattern_props = schema.get("patternProperties")
        if isinstance(pattern_props, Mapping) and pattern_props:
            return None, None  # whether a pattern matches is the run's to find out
        extra = schema.get("additionalProperties", True)
        if isinstance(extra, Mapping):
            schema, shown = extra, f"{shown}.{key}"
            continue
        names = [str(n) for n in props]
        if extra is False:
            return _Problem(
                "error",
                f"{shown}.{key}: {owner} has no field '{key}' (additionalProperties: false)"
                + _fields_hint(key, names),
            ), None
        if names and kind in (None, "object"):
            return _Problem(
                "warning",
                f"{shown}.{key}: '{key}' is not declared in {owner}" + _fields_hint(key, names),
            ), None
        return None, None
    return None, schema if isinstance(schema, Mapping) else None


@dataclass(frozen=True, slots=True)
class _Items:
    """The declared schema of `item` in a for_each agent, and where it comes from."""

    schema: Mapping[str, Any]
    source: str


class _TemplateChecker:
    """Checks one template's syntax, names, filters, tests and field references; returns the
    agents it references."""

    def __init__(
        self,
        report: _Reporter,
        agents: Mapping[str, Mapping[str, Any]],
        inputs: Mapping[str, Any],
    ) -> None:
        self.report = report
        self.agent_ids = list(agents)
        self.input_names = list(inputs)
        self.known_agents = frozenset(agents)  # membership in O(1): files have 10,000 agents
        self.known_inputs = frozenset(inputs)
        self.inputs = inputs
        self.shapes = {agent_id: _shape(agent) for agent_id, agent in agents.items()}
        self.filter_names = sorted(FILTER_NAMES)
        self.test_names = sorted(TEST_NAMES)

    def _target(
        self, ref: FieldRef
    ) -> tuple[Any, tuple[str | int, ...], str, str] | _Problem | None:
        """(schema, path within it, how the value is written, whose schema) of a reference."""
        if ref.head == "inputs":
            name = ref.path[0]
            spec = self.inputs.get(name) if isinstance(name, str) else None
            if not isinstance(spec, Mapping):
                return None
            schema = {k: v for k, v in spec.items() if k not in ("default", "description")}
            return schema, ref.path[1:], f"inputs.{name}", f"the schema of input '{name}'"
        if len(ref.path) < 2 or ref.path[1] != "output" or not isinstance(ref.path[0], str):
            return None
        agent_id = ref.path[0]
        shape = self.shapes.get(agent_id)
        if shape is None:
            return None
        rest, shown = ref.path[2:], f"agents.{agent_id}.output"
        if shape.fans_out and rest:
            if isinstance(rest[0], str):
                return _Problem(
                    "error",
                    f"{shown} is a list (agent '{agent_id}' runs for_each): it has no field"
                    f" '{rest[0]}'; read one item ({shown}[0].{rest[0]}) or all of them"
                    f" (| map(attribute='{rest[0]}'))",
                )
            rest, shown = rest[1:], f"{shown}[{rest[0]}]"
        elif shape.fans_out:  # the whole list: `for_each: "{{ agents.fan.output }}"`
            schema = {"type": "array", "items": shape.schema or {}}
            if shape.text:
                schema["items"] = {"type": "string"}
            return schema, rest, shown, f"the outputs of '{agent_id}'"
        if shape.text:
            if rest and isinstance(rest[0], str) and not hasattr(str, rest[0]):
                return _Problem(
                    "error",
                    f"{shown} is text (agent '{agent_id}' has output format text): it has no"
                    f" field '{rest[0]}'; declare output: {{format: json}} to read fields",
                )
            return None
        return shape.schema, rest, shown, f"the output schema of '{agent_id}'"

    def resolve(self, ref: FieldRef, items: _Items | None) -> tuple[_Problem | None, Any]:
        if ref.head == "item":
            if items is None:
                return None, None
            return _resolve(items.schema, ref.path, "item", f"the items of {items.source}")
        target = self._target(ref)
        if target is None or isinstance(target, _Problem):
            return target, None
        schema, path, shown, owner = target
        if schema is None:
            return None, None
        return _resolve(schema, path, shown, owner)

    def item_schema(self, path: KeyPath, for_each: str) -> _Items | None:
        """The declared schema of one item of a for_each that reads a declared list."""
        lookups = simple_lookups(for_each)
        if not lookups or len(lookups) != 1 or lookups[0].head not in ("agents", "inputs"):
            return None
        lookup = lookups[0]
        _, schema = self.resolve(FieldRef(lookup.head, lookup.path, 1), None)
        if schema is None:
            return None
        shown = ".".join([lookup.head, *(str(p) for p in lookup.path)])
        kind = _kind(schema)
        if kind is not None and kind != "array":
            self.report.at(
                path,
                f"for_each must give a list, but {shown} is declared as {kind}",
                code="for_each_not_a_list",
            )
            return None
        items = schema.get("items")
        return _Items(items, shown) if isinstance(items, Mapping) else None

    def _check_names(self, path: KeyPath, kind: str, used: tuple[tuple[str, int], ...]) -> None:
        known = FILTER_NAMES if kind == "filter" else TEST_NAMES
        choices = self.filter_names if kind == "filter" else self.test_names
        for name, line in used:
            if name not in known:
                hint = did_you_mean(name, choices)
                extra = f"; did you mean '{hint}'?" if hint else f"; see the standard Jinja {kind}s"
                self.report.at(
                    path,
                    f"unknown {kind} '{name}' on line {line} of the template{extra}",
                    code=f"unknown_{kind}",
                    line_offset=line - 1,
                )

    def check(
        self,
        path: KeyPath,
        text: str,
        *,
        allow_item: bool,
        owner: str | None,
        items: _Items | None = None,
    ) -> list[str]:
        try:
            refs = references(text)
        except TemplateSyntax as exc:
            self.report.at(
                path,
                f"template syntax error on line {exc.line} of the template: {exc.message}",
                code="template_syntax",
                line_offset=exc.line - 1,
            )
            return []
        self._check_names(path, "filter", refs.filters)
        self._check_names(path, "test", refs.tests)
        for ref in refs.fields:
            if ref.head == "item" and not allow_item:
                continue
            problem, _ = self.resolve(ref, items)
            if problem is None or (ref.guarded and problem.severity == "warning"):
                continue
            self.report.at(
                path,
                problem.message,
                severity=problem.severity,
                code="unknown_field",
                line_offset=ref.line - 1,
            )
        found: list[str] = []
        for agent_id in refs.agents:
            if agent_id == owner:
                self.report.at(
                    path, f"agent '{owner}' refers to its own output", code="self_dependency"
                )
            elif agent_id not in self.known_agents:
                self.report.at(
                    path,
                    "template refers to " + _unknown("agent", agent_id, self.agent_ids),
                    code="unknown_agent",
                )
            else:
                found.append(agent_id)
        for agent_id, attr in refs.agent_attrs:
            if attr != "output" and agent_id in self.known_agents:
                self.report.at(
                    path,
                    f"agents.{agent_id}.{attr} is not available; templates can read agents.{agent_id}.output",
                    code="unknown_attribute",
                )
        for name in refs.inputs:
            if name not in self.known_inputs:
                self.report.at(
                    path,
                    "template refers to " + _unknown("input", name, self.input_names),
                    code="unknown_input",
                )
        for name in refs.names:
            if name in ("item", "index"):
                if not allow_item:
                    self.report.at(
                        path,
                        f"'{name}' is only defined in agents with for_each",
                        code="item_outside_for_each",
                    )
            elif name not in ("inputs", "agents"):
                hint = did_you_mean(name, ["inputs", "agents", "item", "index"])
                extra = (
                    f"; did you mean '{hint}'?"
                    if hint
                    else "; templates can read inputs, agents, item and index"
                )
                self.report.at(
                    path, f"unknown name '{name}' in template{extra}", code="unknown_name"
                )
        return found


_PLAIN_TEXT = _Shape(schema=None, text=True, fans_out=False)  # most agents: one text answer


def _shape(agent: Mapping[str, Any]) -> _Shape:
    if "output" not in agent and "for_each" not in agent:
        return _PLAIN_TEXT
    output = agent.get("output")
    output = output if isinstance(output, Mapping) else {}
    schema = output.get("schema")
    text = output.get("format", "json" if schema is not None else "text") == "text"
    return _Shape(
        schema=schema if isinstance(schema, Mapping) else None,
        text=text and schema is None,
        fans_out="for_each" in agent,
    )


def check_semantics(
    data: Mapping[str, Any],
    source: SourceMap,
    *,
    has_price: PriceLookup | None = None,
) -> SemanticResult:
    """All semantic diagnostics of a schema-valid document, and its dependency lists.

    `has_price` enables the price check: a model without a known price cannot run under a
    budget. (Tool handlers are checked after the build, on the model's `Tool` records.)
    """
    result = SemanticResult()
    report = _Reporter(source, result)
    agents: Mapping[str, Mapping[str, Any]] = data.get("agents") or {}
    agent_ids = list(agents)
    inputs = data.get("inputs") or {}
    tools = data.get("tools") or {}
    mcp_servers = data.get("mcp_servers") or {}
    defaults = data.get("defaults") or {}
    templates = _TemplateChecker(report, agents, inputs)

    for name, spec in inputs.items():
        if "default" in spec:
            schema = {k: v for k, v in spec.items() if k not in ("default", "description")}
            for problem in instance_errors(freeze(schema), spec["default"], limit=3):
                report.at(
                    ("inputs", name, "default"), f"default of input '{name}' is invalid: {problem}"
                )

    for agent_id, agent in agents.items():
        base: KeyPath = ("agents", agent_id)
        deps: dict[str, None] = {}
        for i, need in enumerate(agent.get("needs", ())):
            if need == agent_id:
                report.at(
                    (*base, "needs", i), f"agent '{agent_id}' needs itself", code="self_dependency"
                )
            elif need not in agents:
                report.at(
                    (*base, "needs", i), _unknown("agent", need, agent_ids), code="unknown_agent"
                )
            else:
                deps[need] = None
        for_each = agent.get("for_each")
        items: _Items | None = None
        if isinstance(for_each, str) and is_single_expression(for_each):
            items = templates.item_schema((*base, "for_each"), for_each)
        for path, key, text in _template_fields(agent_id, agent, defaults):
            if key in ("when", "for_each") and _not_a_template(report, path, key, text):
                continue
            allow_item = "for_each" in agent and key in ("system", "prompt")
            for ref in templates.check(
                path,
                text,
                allow_item=allow_item,
                owner=agent_id,
                items=items if allow_item else None,
            ):
                deps[ref] = None
        result.depends_on[agent_id] = tuple(deps)

        if "model" not in agent and "model" not in defaults:
            report.at(
                base,
                f"agent '{agent_id}' has no model; set defaults.model or agents.{agent_id}.model",
                key=True,
                code="no_model",
            )
        if "max_parallel" in agent and "for_each" not in agent:
            report.at(
                (*base, "max_parallel"),
                "max_parallel has no effect without for_each",
                severity="warning",
                code="unused",
            )
        output = agent.get("output") or {}
        if output.get("format") == "text" and "schema" in output:
            report.at(
                (*base, "output", "schema"),
                "an output schema needs format: json",
                code="schema_needs_json",
            )
        for i, tool in enumerate(agent.get("tools", ())):
            server, dot, _ = tool.partition(".")
            if dot and server not in mcp_servers:
                message = _unknown("MCP server", server, list(mcp_servers))
                report.at((*base, "tools", i), f"{message} (in '{tool}')", code="unknown_tool")
            elif not dot and tool not in tools:
                report.at(
                    (*base, "tools", i), _unknown("tool", tool, list(tools)), code="unknown_tool"
                )

    for name, text in (data.get("outputs") or {}).items():
        if isinstance(text, str):
            templates.check(("outputs", name), text, allow_item=False, owner=None)

    cycle = find_cycle(agent_ids, result.depends_on)
    if cycle:
        hops = " -> ".join(cycle)
        lines = ", ".join(f"{a} (line {source.key(('agents', a)).line})" for a in cycle[:-1])
        report.at(
            ("agents", cycle[0]),
            f"dependency cycle: {hops}; defined at {lines}",
            key=True,
            code="cycle",
        )

    if has_price is not None:
        _check_prices(data, report, has_price)

    # A shared template (defaults.system) is checked once per agent: report each problem once.
    result.diagnostics = sorted(
        set(result.diagnostics), key=lambda d: (d.line, d.column, d.message)
    )
    return result


def _check_prices(data: Mapping[str, Any], report: _Reporter, has_price: PriceLookup) -> None:
    for model, entry in (data.get("pricing") or {}).items():
        if isinstance(entry, dict) and "same_as" in entry and not has_price(model):
            report.at(
                ("pricing", model, "same_as"),
                f"pricing '{model}': same_as '{entry['same_as']}' has no known price "
                "(nor a pricing: entry of its own), so the alias prices nothing",
                code="unknown_price",
            )
    defaults = data.get("defaults") or {}
    budgeted = "budget" in data
    seen: set[str] = set()
    priced: set[str] = set()  # models found priced: every agent of a big file names a few
    for agent_id, agent in (data.get("agents") or {}).items():
        model = agent.get("model", defaults.get("model"))
        # fallbacks answer under the same budgets: each needs a price too
        fallbacks = agent.get("fallbacks", defaults.get("fallbacks")) or ()
        if _all_in(priced, model, *fallbacks):
            continue
        path: KeyPath = ("agents", agent_id, "model") if "model" in agent else ("defaults", "model")
        models = [(model, path)]
        owner: KeyPath = ("agents", agent_id) if "fallbacks" in agent else ("defaults",)
        models += [(m, (*owner, "fallbacks", i)) for i, m in enumerate(fallbacks)]
        for model, where in models:
            _check_price(model, where, budgeted or "budget" in agent, seen, report, has_price)
            if isinstance(model, str) and has_price(model):
                priced.add(model)


def _all_in(names: set[str], *values: Any) -> bool:
    return all(isinstance(v, str) and v in names for v in values)


def _check_price(
    model: Any,
    path: KeyPath,
    budgeted: bool,
    seen: set[str],
    report: _Reporter,
    has_price: PriceLookup,
) -> None:
    if not isinstance(model, str) or has_price(model):
        return
    if budgeted:
        report.at(
            path,
            f"model '{model}' has no known price, so it cannot run under a budget; "
            f'add pricing: {{"{model}": {{input: <USD per 1M>, output: <USD per 1M>}}}}'
            f' or, for a gateway alias, {{"{model}": {{same_as: <a priced model>}}}}',
            code="unknown_price",
        )
    elif model not in seen:
        report.at(
            path,
            f"model '{model}' has no known price; its cost will show as unknown",
            severity="warning",
            code="unknown_price",
        )
    seen.add(model)
