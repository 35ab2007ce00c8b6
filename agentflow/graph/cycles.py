"""Dependency cycles, found without networkx so `validate` stays quick."""

from __future__ import annotations

from collections.abc import Iterable, Mapping


def find_cycle(nodes: Iterable[str], edges: Mapping[str, Iterable[str]]) -> list[str] | None:
    """One dependency cycle as a closed path `[a, b, a]` (a needs b, b needs a), or None.

    `edges[n]` are the nodes `n` depends on; names missing from `nodes` are ignored.
    Iterative depth-first search, so a 10,000-agent chain cannot overflow the stack.
    """
    order = list(nodes)
    known = set(order)
    state: dict[str, int] = {}  # 1 = on the current path, 2 = finished
    for root in order:
        if root in state:
            continue
        path: list[str] = [root]
        stack = [iter([d for d in edges.get(root, ()) if d in known])]
        state[root] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
                continue
            if state.get(nxt) == 1:
                start = path.index(nxt)
                return [*path[start:], nxt]
            if nxt not in state:
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter([d for d in edges.get(nxt, ()) if d in known]))
    return None
