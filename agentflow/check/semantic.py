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
from agentflow.templates import TemplateSyntax, references

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
        path: KeyPath = ("agents", agent_id, key)
        if value is None and key == "system":
            value, path = defaults.get("system"), ("defaults", "system")
        if isinstance(value, str):
            yield path, key, value


class _TemplateChecker:
    """Checks one template's syntax and names; returns the agents it references."""

    def __init__(self, report: _Reporter, agent_ids: list[str], input_names: list[str]) -> None:
        self.report = report
        self.agent_ids = agent_ids
        self.input_names = input_names
        self.known_agents = frozenset(agent_ids)  # membership in O(1): files have 10,000 agents
        self.known_inputs = frozenset(input_names)

    def check(self, path: KeyPath, text: str, *, allow_item: bool, owner: str | None) -> list[str]:
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
    defaults = data.get("defaults") or {}
    templates = _TemplateChecker(report, agent_ids, list(inputs))

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
        for path, key, text in _template_fields(agent_id, agent, defaults):
            allow_item = "for_each" in agent and key in ("system", "prompt")
            for ref in templates.check(path, text, allow_item=allow_item, owner=agent_id):
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
            if tool not in tools:
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
    defaults = data.get("defaults") or {}
    budgeted = "budget" in data
    seen: set[str] = set()
    for agent_id, agent in (data.get("agents") or {}).items():
        model = agent.get("model", defaults.get("model"))
        if not isinstance(model, str) or has_price(model):
            continue
        path: KeyPath = ("agents", agent_id, "model") if "model" in agent else ("defaults", "model")
        if budgeted or "budget" in agent:
            report.at(
                path,
                f"model '{model}' has no known price, so it cannot run under a budget; "
                f'add pricing: {{"{model}": {{input: <USD per 1M>, output: <USD per 1M>}}}}',
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
