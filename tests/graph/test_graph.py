"""The dependency DAG: levels, weighted critical path, cycles, and the three export formats."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

from agentflow.graph import find_cycle
from agentflow.graph.compile import compile_workflow
from agentflow.graph.export import render_graph, to_json
from agentflow.model.types import Agent, Workflow


def _agent(agent_id: str, *deps: str, needs: tuple[str, ...] = (), **extra: object) -> Agent:
    return Agent(
        id=agent_id,
        model="openai/gpt-4o-mini",
        prompt="p",
        needs=needs,
        depends_on=(*needs, *deps),
        **extra,  # type: ignore[arg-type]
    )


# parse -> screen -> {schedule, plan}; notes needs schedule; audit stands alone.
WORKFLOW = Workflow(
    name="hr",
    path=Path("hr.yaml"),
    agents=(
        _agent("parse"),
        _agent("screen", "parse"),
        _agent("schedule", "screen", "parse", when="{{ x }}"),
        _agent("plan", "screen"),
        _agent("notes", "parse", needs=("schedule",), for_each="{{ l }}", critical=False),
        _agent("audit"),
    ),
)


def test_levels_follow_dependencies_in_file_order() -> None:
    graph = compile_workflow(WORKFLOW)
    assert graph.levels == (
        ("parse", "audit"),
        ("screen",),
        ("schedule", "plan"),
        ("notes",),
    )
    assert set(graph.predecessors("notes")) == {"parse", "schedule"}
    assert set(graph.successors("screen")) == {"schedule", "plan"}


def test_critical_path_counts_agents_by_default() -> None:
    path, length = compile_workflow(WORKFLOW).critical_path()
    assert path == ("parse", "screen", "schedule", "notes")
    assert length == 4


def test_critical_path_follows_the_weights() -> None:
    weights = {"parse": 1.0, "screen": 2.0, "schedule": 1.0, "plan": 10.0, "notes": 1.0, "audit": 3}
    path, length = compile_workflow(WORKFLOW).critical_path(weights.__getitem__)
    assert path == ("parse", "screen", "plan")
    assert length == 13.0


def test_a_single_heavy_agent_can_be_the_critical_path() -> None:
    weights = {"parse": 1.0, "screen": 1.0, "schedule": 1.0, "plan": 1.0, "notes": 1.0, "audit": 50}
    assert compile_workflow(WORKFLOW).critical_path(weights.__getitem__) == (("audit",), 50.0)


def test_find_cycle_returns_the_closed_path_in_needs_order() -> None:
    # a needs c, c needs b, b needs a
    cycle = find_cycle(["a", "b", "c"], {"a": ["c"], "b": ["a"], "c": ["b"]})
    assert cycle == ["a", "c", "b", "a"]


def test_find_cycle_self_loop_and_none() -> None:
    assert find_cycle(["a"], {"a": ["a"]}) == ["a", "a"]
    assert find_cycle(["a", "b"], {"b": ["a"]}) is None
    assert find_cycle(["a"], {"a": ["ghost"]}) is None  # unknown names are reported elsewhere


def test_find_cycle_finds_a_cycle_off_the_first_root() -> None:
    edges = {"a": [], "b": ["a", "d"], "c": ["b"], "d": ["c"]}
    cycle = find_cycle(["a", "b", "c", "d"], edges)
    assert cycle is not None
    assert cycle[0] == cycle[-1]
    assert set(cycle) == {"b", "c", "d"}
    for node, dep in itertools.pairwise(cycle):
        assert dep in edges[node]


def test_find_cycle_handles_a_long_chain() -> None:
    names = [f"a{i}" for i in range(20_000)]
    edges = {n: [names[i - 1]] for i, n in enumerate(names) if i}
    assert find_cycle(names, edges) is None
    edges["a0"] = [names[-1]]
    cycle = find_cycle(names, edges)
    assert cycle is not None and len(cycle) == 20_001


def test_mermaid_export() -> None:
    text = render_graph(WORKFLOW, compile_workflow(WORKFLOW), "mermaid")
    lines = text.splitlines()
    assert lines[0] == "flowchart TD"
    assert '    n_notes["notes · openai/gpt-4o-mini · for each · non-critical"]' in lines
    assert '    n_schedule["schedule · openai/gpt-4o-mini · conditional"]' in lines
    assert "    n_schedule -.-> n_notes" in lines  # needs: dotted
    assert "    n_parse --> n_notes" in lines  # data: solid
    assert lines[-1] == "    class n_parse,n_screen,n_schedule,n_notes critical"
    assert text.endswith("\n")


def test_dot_export() -> None:
    text = render_graph(WORKFLOW, compile_workflow(WORKFLOW), "dot")
    assert text.startswith('digraph "hr" {\n')
    assert '    "schedule" -> "notes" [style=dashed];' in text
    assert '    "parse" -> "screen";' in text
    assert (
        '"notes" [label="notes · openai/gpt-4o-mini · for each · non-critical", penwidth=2, style=dashed];'
        in text
    )
    assert '"audit" [label="audit · openai/gpt-4o-mini"];' in text
    assert text.endswith("}\n")


def test_dot_quotes_names() -> None:
    odd = Workflow(name='we"ird', path=Path("x.yaml"), agents=(_agent("a"),))
    assert render_graph(odd, compile_workflow(odd), "dot").startswith('digraph "we\\"ird" {')


def test_json_export() -> None:
    document = json.loads(render_graph(WORKFLOW, compile_workflow(WORKFLOW), "json"))
    assert document == to_json(WORKFLOW, compile_workflow(WORKFLOW))
    assert document["format"] == "agentflow.graph/v1"
    assert document["workflow"] == "hr"
    notes = next(n for n in document["nodes"] if n["id"] == "notes")
    assert notes == {
        "id": "notes",
        "model": "openai/gpt-4o-mini",
        "for_each": True,
        "conditional": False,
        "critical": False,
        "level": 3,
    }
    assert {"from": "schedule", "to": "notes", "kind": "needs"} in document["edges"]
    assert {"from": "parse", "to": "notes", "kind": "data"} in document["edges"]
    assert len(document["edges"]) == 6
    assert document["levels"] == [["parse", "audit"], ["screen"], ["schedule", "plan"], ["notes"]]
    assert document["critical_path"] == {
        "agents": ["parse", "screen", "schedule", "notes"],
        "length": 4,
    }
