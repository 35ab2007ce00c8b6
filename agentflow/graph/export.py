"""Render a workflow's DAG as Mermaid, Graphviz DOT, or JSON.

Any valid agent id must survive both languages: `end`, `graph`, `class`, `style`, `click`,
`default`, `subgraph`... are Mermaid keywords, and `node`, `edge`, `graph`, `digraph`, `strict`
are DOT's. Mermaid node ids are therefore prefixed (`n_end`) with the agent id as the label;
DOT ids are always quoted. tests/graph checks both with the real parsers.
"""

from __future__ import annotations

import json
from typing import Any

from agentflow.graph.compile import WorkflowGraph
from agentflow.model.types import Agent, Workflow

GRAPH_FORMAT = "agentflow.graph/v1"


def _label(agent: Agent) -> str:
    parts = [agent.id, agent.model]
    if agent.for_each:
        parts.append("for each")
    if agent.when:
        parts.append("conditional")
    if not agent.critical:
        parts.append("non-critical")
    return " · ".join(parts)


def _edge_kind(agent: Agent, dep: str) -> str:
    return "needs" if dep in agent.needs else "data"


def _mermaid_id(agent_id: str) -> str:
    # A prefix keeps keywords (`end`, `class`, `default`, ...) and edge markers (`o`, `x` right
    # after an arrow) from being read as syntax; the label shows the agent id as written.
    return f"n_{agent_id}"


def _mermaid_text(text: str) -> str:
    # Inside a quoted label Mermaid reads `#name;` / `#123;` as entity codes and `"` ends it.
    return text.replace('"', "#quot;")


def to_mermaid(workflow: Workflow, graph: WorkflowGraph) -> str:
    critical = set(graph.critical_path()[0])
    lines = ["flowchart TD"]
    for agent in workflow.agents:
        lines.append(f'    {_mermaid_id(agent.id)}["{_mermaid_text(_label(agent))}"]')
    for agent in workflow.agents:
        for dep in agent.depends_on:
            arrow = "-.->" if _edge_kind(agent, dep) == "needs" else "-->"
            lines.append(f"    {_mermaid_id(dep)} {arrow} {_mermaid_id(agent.id)}")
    if critical:
        lines.append("    classDef critical stroke-width:3px")
        ids = [_mermaid_id(a.id) for a in workflow.agents if a.id in critical]
        lines.append("    class " + ",".join(ids) + " critical")
    return "\n".join(lines) + "\n"


def _dot_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_dot(workflow: Workflow, graph: WorkflowGraph) -> str:
    critical = set(graph.critical_path()[0])
    lines = [f"digraph {_dot_quote(workflow.name)} {{", "    rankdir=TB;", "    node [shape=box];"]
    for agent in workflow.agents:
        attrs = [f"label={_dot_quote(_label(agent))}"]
        if agent.id in critical:
            attrs.append("penwidth=2")
        if not agent.critical:
            attrs.append("style=dashed")
        lines.append(f"    {_dot_quote(agent.id)} [{', '.join(attrs)}];")
    for agent in workflow.agents:
        for dep in agent.depends_on:
            style = " [style=dashed]" if _edge_kind(agent, dep) == "needs" else ""
            lines.append(f"    {_dot_quote(dep)} -> {_dot_quote(agent.id)}{style};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def to_json(workflow: Workflow, graph: WorkflowGraph) -> dict[str, Any]:
    path, length = graph.critical_path()
    return {
        "format": GRAPH_FORMAT,
        "workflow": workflow.name,
        "nodes": [
            {
                "id": a.id,
                "model": a.model,
                "for_each": a.for_each is not None,
                "conditional": a.when is not None,
                "critical": a.critical,
                "level": next(i for i, level in enumerate(graph.levels) if a.id in level),
            }
            for a in workflow.agents
        ],
        "edges": [
            {"from": dep, "to": a.id, "kind": _edge_kind(a, dep)}
            for a in workflow.agents
            for dep in a.depends_on
        ],
        "levels": [list(level) for level in graph.levels],
        "critical_path": {"agents": list(path), "length": int(length)},
    }


def render_graph(workflow: Workflow, graph: WorkflowGraph, fmt: str) -> str:
    if fmt == "mermaid":
        return to_mermaid(workflow, graph)
    if fmt == "dot":
        return to_dot(workflow, graph)
    return json.dumps(to_json(workflow, graph), indent=2) + "\n"
