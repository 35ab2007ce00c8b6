"""Compile a workflow's agents into a DAG: levels, critical path.

The DAG is two mappings of tuples (each agent's dependencies and dependants), built in one
pass: the plan and the run only ask for levels, neighbours and the heaviest path, which a
graph library would answer the same after building ten objects per agent (networkx's import
and graph were a twentieth of a 50,000-agent plan).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from agentflow.model.types import Workflow


@dataclass(frozen=True, slots=True)
class WorkflowGraph:
    """The dependency DAG of one workflow. Edges point from a dependency to its dependant.

    Neighbours are in file order: a node's predecessors in the order it names them, its
    successors in the order the dependants appear in the file.
    """

    levels: tuple[tuple[str, ...], ...]
    _predecessors: Mapping[str, tuple[str, ...]]
    _successors: Mapping[str, tuple[str, ...]]

    def predecessors(self, agent_id: str) -> tuple[str, ...]:
        return self._predecessors[agent_id]

    def successors(self, agent_id: str) -> tuple[str, ...]:
        return self._successors[agent_id]

    def critical_path(
        self, weight: Callable[[str], float] | None = None
    ) -> tuple[tuple[str, ...], float]:
        """The heaviest path through the DAG and its total weight (node weights; default 1)."""
        w = weight or (lambda _node: 1.0)
        best: dict[str, float] = {}
        back: dict[str, str | None] = {}
        predecessors = self._predecessors
        for level in self.levels:
            for node in level:
                own = w(node)
                # the first of equally heavy predecessors, in the order the node names them
                prev = max(predecessors[node], key=best.__getitem__, default=None)
                best[node] = own + (best[prev] if prev is not None else 0.0)
                back[node] = prev
        if not best:
            return (), 0.0
        end: str | None = max(best, key=best.__getitem__)
        total = best[end] if end is not None else 0.0
        path: list[str] = []
        while end is not None:
            path.append(end)
            end = back[end]
        return tuple(reversed(path)), total


def build_graph(nodes: Iterable[str], edges: Mapping[str, Iterable[str]]) -> WorkflowGraph:
    """The DAG with an edge dep -> node for every dependency of every node.

    Dependencies that are not nodes are left out, a repeated one counts once; nodes on a
    cycle (validation rejects those) are in no level.
    """
    successors: dict[str, list[str]] = {node: [] for node in nodes}
    predecessors: dict[str, tuple[str, ...]] = {}
    for node in successors:
        deps = tuple(edges.get(node, ()))
        if len(deps) == 1:  # most agents: nothing to leave out twice
            if deps[0] not in successors:
                deps = ()
        elif deps:
            deps = tuple(dict.fromkeys(d for d in deps if d in successors))
        predecessors[node] = deps
        for dep in deps:
            successors[dep].append(node)
    after = {node: tuple(nodes_after) for node, nodes_after in successors.items()}
    return WorkflowGraph(_kahn_levels(predecessors, after), predecessors, after)


def _kahn_levels(
    predecessors: Mapping[str, tuple[str, ...]], successors: Mapping[str, tuple[str, ...]]
) -> tuple[tuple[str, ...], ...]:
    order = {node: i for i, node in enumerate(predecessors)}
    indegree = {node: len(deps) for node, deps in predecessors.items()}
    current = [n for n, d in indegree.items() if d == 0]
    levels: list[tuple[str, ...]] = []
    while current:
        current.sort(key=order.__getitem__)
        levels.append(tuple(current))
        nxt: list[str] = []
        for node in current:
            for succ in successors[node]:
                indegree[succ] -= 1
                if indegree[succ] == 0:
                    nxt.append(succ)
        current = nxt
    return tuple(levels)


def compile_workflow(workflow: Workflow) -> WorkflowGraph:
    """The DAG of a validated workflow (validation has already rejected cycles)."""
    return build_graph(
        (a.id for a in workflow.agents), {a.id: a.depends_on for a in workflow.agents}
    )
