"""The Mermaid and DOT exports parse with the real parsers, whatever the agent ids are called.

Mermaid: the `mermaid` npm package under node (with jsdom for the DOM it wants), installed
once into tests/.node_modules_cache (git-ignored). DOT: Graphviz's `dot`.
"""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from agentflow.graph.compile import compile_workflow
from agentflow.graph.export import to_dot, to_mermaid
from agentflow.model.types import Agent, Workflow
from tests.system_tools import ensure_tool

HERE = Path(__file__).parent
CACHE = HERE.parent / ".node_modules_cache"
NPM_PACKAGES = ("mermaid@11.17.2", "jsdom@29.1.1")

MERMAID_KEYWORDS = (
    "end", "graph", "style", "class", "click", "subgraph", "flowchart", "call", "href",
    "default", "linkstyle", "classdef", "direction", "callback", "interpolate", "accdescr",
    "acctitle", "td", "lr", "o", "x", "v", "a_b", "x1", "o_2", "node_3", "end_", "end2",
)  # fmt: skip
DOT_KEYWORDS = ("node", "edge", "graph", "digraph", "subgraph", "strict", "n1", "a_b")


def _agent(agent_id: str, *deps: str, needs: tuple[str, ...] = ()) -> Agent:
    return Agent(
        id=agent_id,
        model="openai/gpt-4o-mini",
        prompt="p",
        needs=needs,
        depends_on=(*needs, *deps),
    )


def _workflows(ids: tuple[str, ...]) -> list[Workflow]:
    # Each id alone, each as the source and the target of an edge, and all in one chain.
    out = [Workflow(name="w", path=Path("w.yaml"), agents=(_agent(i),)) for i in ids]
    out += [
        Workflow(
            name="w",
            path=Path("w.yaml"),
            agents=(_agent(i), _agent(f"{i}_next", i), _agent(f"first_{i}"), _agent("z", i)),
        )
        for i in ids
    ]
    chain = [_agent(ids[0])]
    for previous, agent_id in itertools.pairwise(ids):
        chain.append(_agent(agent_id, previous, needs=(ids[0],) if previous != ids[0] else ()))
    out.append(Workflow(name="w", path=Path("w.yaml"), agents=tuple(chain)))
    return out


def _mermaid_cache() -> Path:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node and npm are needed to run the Mermaid parser")
    if not (CACHE / "node_modules" / "mermaid" / "package.json").exists():
        CACHE.mkdir(exist_ok=True)
        done = subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", "--prefix", str(CACHE), *NPM_PACKAGES],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert done.returncode == 0, f"npm install of the Mermaid parser failed:\n{done.stderr}"
    return CACHE


def _parse_mermaid(diagrams: list[str]) -> list[str | None]:
    cache = _mermaid_cache()
    done = subprocess.run(
        ["node", str(HERE / "mermaid" / "parse.mjs"), str(cache)],
        input=json.dumps(diagrams),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    results: list[str | None] = json.loads(done.stdout)
    return results


def test_every_valid_agent_id_gives_a_mermaid_diagram_that_parses() -> None:
    workflows = _workflows(MERMAID_KEYWORDS)
    diagrams = [to_mermaid(w, compile_workflow(w)) for w in workflows]
    # The parser is strict: the same diagram with bare ids (the old export) is refused.
    bare = 'flowchart TD\n    end["end"]\n    end --> graph\n'
    results = _parse_mermaid([*diagrams, bare])
    errors = [(d, r) for d, r in zip(diagrams, results, strict=False) if r is not None]
    assert errors == []
    assert results[-1] is not None and "Parse error" in results[-1]
    # The labels still say the agent ids.
    assert '["end · openai/gpt-4o-mini"]' in diagrams[0]


def test_every_valid_agent_id_gives_a_dot_graph_that_graphviz_reads() -> None:
    dot = ensure_tool("dot", "graphviz")
    if dot is None:
        pytest.skip("Graphviz's dot is not installed and cannot be installed here")
    for workflow in _workflows(DOT_KEYWORDS):
        text = to_dot(workflow, compile_workflow(workflow))
        done = subprocess.run(
            [dot, "-Tcanon"], input=text, capture_output=True, text=True, timeout=30, check=False
        )
        assert done.returncode == 0, f"{done.stderr}\n{text}"
        for agent in workflow.agents:
            assert f'"{agent.id}"' in done.stdout or f"\t{agent.id}\t" in done.stdout
