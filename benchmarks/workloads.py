"""Generated workloads: seeded layered DAGs, their critical paths, and workflow YAML files.

    agents = layered_dag(levels=10, width=50, seed=1, latency_ms=(200, 800))
    critical_path_ms(agents)                       # the latency-weighted longest chain
    path.write_text(workflow_yaml("b1", agents, api_base=server.base_url))

The YAML goes through `agentflow.core.load_workflow` like any user's file, so loading,
validation and building are the real ones. Every string is written as a JSON scalar, which
YAML 1.2 reads unchanged.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

MODEL = "openai/gpt-4o-mini"


@dataclass(frozen=True, slots=True)
class AgentSpec:
    """One generated agent: its id, the agents it waits for, and its server-side latency."""

    id: str
    deps: tuple[str, ...]
    latency_ms: int
    refs: tuple[str, ...] = ()  # dependencies read through a template (the rest are `needs`)

    @property
    def prompt(self) -> str:
        text = f"Agent {self.id}: summarise your step in one sentence."
        for ref in self.refs:
            text += f" Previous: {{{{ agents.{ref}.output }}}}."
        if self.latency_ms:
            text += f" [[latency_ms={self.latency_ms}]]"
        return text

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "deps": list(self.deps), "latency_ms": self.latency_ms}

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> AgentSpec:
        return AgentSpec(str(data["id"]), tuple(data["deps"]), int(data["latency_ms"]))


def layered_dag(
    *,
    levels: int,
    width: int,
    seed: int,
    latency_ms: tuple[int, int] | int,
    max_deps: int = 3,
    template_refs: bool = False,
) -> list[AgentSpec]:
    """`levels` x `width` agents; each depends on 1..max_deps random agents of the level above.

    `latency_ms` is a fixed value or a (low, high) range drawn uniformly per agent. With
    `template_refs`, the first dependency is read in the prompt (`{{ agents.X.output }}`)
    instead of being listed under `needs`, as a mixed real workflow would.
    """
    rng = random.Random(seed)
    agents: list[AgentSpec] = []
    previous: list[str] = []
    for level in range(levels):
        current: list[str] = []
        for index in range(width):
            agent_id = f"l{level:03d}_a{index:03d}"
            deps: tuple[str, ...] = ()
            if previous:
                deps = tuple(sorted(rng.sample(previous, rng.randint(1, min(max_deps, width)))))
            if isinstance(latency_ms, int):
                latency = latency_ms
            else:
                latency = rng.randint(latency_ms[0], latency_ms[1])
            refs = deps[:1] if template_refs else ()
            agents.append(AgentSpec(agent_id, deps, latency, refs))
            current.append(agent_id)
        previous = current
    return agents


def independent_agents(count: int, latency_ms: int = 0) -> list[AgentSpec]:
    """`count` agents with no dependencies (throughput and rate-limit workloads)."""
    return [AgentSpec(f"a{index:05d}", (), latency_ms) for index in range(count)]


def critical_path_ms(agents: Sequence[AgentSpec]) -> int:
    """The largest sum of latencies along any dependency chain (agents in topological order)."""
    finish: dict[str, int] = {}
    for agent in agents:
        start = max((finish[d] for d in agent.deps), default=0)
        finish[agent.id] = start + agent.latency_ms
    return max(finish.values(), default=0)


def _scalar(value: Any) -> str:
    return json.dumps(value)


def _mapping(values: Mapping[str, Any]) -> str:
    return "{" + ", ".join(f"{k}: {_scalar(v)}" for k, v in values.items()) + "}"


def workflow_yaml(
    name: str,
    agents: Sequence[AgentSpec],
    *,
    api_base: str | None,
    model: str = MODEL,
    max_tokens: int = 64,
    timeout: str = "30s",
    retry: Mapping[str, Any] | None = None,
    limits: Mapping[str, Mapping[str, Any]] | None = None,
    inputs: Mapping[str, Mapping[str, Any]] | None = None,
    prompt_suffix: str = "",
) -> str:
    """A version-1 workflow file running `agents` (dependencies not read by a template go to `needs`)."""
    defaults: dict[str, Any] = {"model": model, "max_tokens": max_tokens, "timeout": timeout}
    if api_base is not None:
        defaults["api_base"] = api_base
    lines = ["version: 1", f"name: {name}", f"defaults: {_mapping(defaults)}"]
    if retry is not None:
        lines[-1] = lines[-1][:-1] + f", retry: {_mapping(retry)}}}"
    if inputs:
        lines.append("inputs:")
        lines.extend(f"  {key}: {_mapping(schema)}" for key, schema in inputs.items())
    if limits:
        lines.append("limits:")
        lines.extend(f"  {_scalar(key)}: {_mapping(limit)}" for key, limit in limits.items())
    lines.append("agents:")
    for agent in agents:
        lines.append(f"  {agent.id}:")
        lines.append(f"    prompt: {_scalar(agent.prompt + prompt_suffix)}")
        needs = [d for d in agent.deps if d not in agent.refs]
        if needs:
            lines.append(f"    needs: [{', '.join(needs)}]")
    return "\n".join(lines) + "\n"
