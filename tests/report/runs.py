"""Deterministic runs for the report tests: the real engine on virtual time, logged by the
real JSONL sink, so the reports read exactly what `agentflow run` writes (ids and clock fixed).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from agentflow.errors import BadRequest, ServerError
from agentflow.events.bus import EventBus
from agentflow.llm.types import LLMRequest, LLMResponse
from agentflow.model.types import Agent, Price, RetryPolicy, Workflow
from agentflow.run.clock import run_virtual, virtual_clock
from agentflow.run.engine import Engine, Instance, RunSettings
from agentflow.sinks.jsonl import JsonlSink

RETRY = RetryPolicy(max_attempts=3, initial_delay=0.5, jitter=False)
# USD per million tokens: fixed here, so the costs do not move with LiteLLM's price map.
PRICES = (Price("openai/gpt-4o-mini", 0.15, 0.6), Price("openai/gpt-4o", 2.5, 10.0))


def agent(agent_id: str, *deps: str, prompt: str = "", **fields: Any) -> Agent:
    fields.setdefault("model", "openai/gpt-4o-mini")
    fields.setdefault("retry", RETRY)
    return Agent(id=agent_id, depends_on=deps, prompt=prompt or f"do {agent_id}", **fields)


def invoice_workflow() -> Workflow:
    """extract -> (check, classify); check -> approve; classify fails on instance 1."""
    return Workflow(
        path=Path("invoices.yaml"),
        name="invoices",
        agents=(
            agent("extract", prompt="extract [latency=1]"),
            agent("check", "extract", model="openai/gpt-4o", prompt="check [latency=2] [flaky]"),
            agent("classify", "extract", prompt="classify [latency=0.5] [bad]"),
            agent("approve", "check", "classify", prompt="approve [latency=1]"),
        ),
        pricing=PRICES,
    )


class ScriptedClient:
    """Answers after `[latency=N]` virtual seconds. `[flaky]` fails its first call with a 500;
    `[bad]` fails with a 400 on the instances listed in `bad_instances`."""

    def __init__(self, bad_instances: frozenset[int] = frozenset({1})) -> None:
        self.bad_instances = bad_instances
        self.seen: dict[str, int] = {}

    async def complete(self, request: LLMRequest) -> LLMResponse:
        prompt = request.messages[-1].content or ""
        latency = (
            float(prompt.split("[latency=")[1].split("]")[0]) if "[latency=" in prompt else 1.0
        )
        await virtual_clock().sleep(latency)
        key = prompt
        self.seen[key] = self.seen.get(key, 0) + 1
        if "[flaky]" in prompt and self.seen[key] == 1:
            raise ServerError("500 Internal Server Error: upstream hiccup")
        if "[bad]" in prompt and any(f"instance={i}" in prompt for i in self.bad_instances):
            raise BadRequest("400 Bad Request: the field 'amount' is not a number")
        return LLMResponse(json.dumps({"ok": True}), (), 120, 40, request.model, "stop")

    async def aclose(self) -> None:
        pass


def run_logged(
    log_dir: Path,
    run_id: str,
    workflow: Workflow,
    instances: int = 2,
    client: ScriptedClient | None = None,
) -> Path:
    """Run `instances` instances of `workflow` on virtual time; the log's path."""
    path = log_dir / f"{run_id}.jsonl"
    fake = client or ScriptedClient()

    async def main() -> None:
        clock = virtual_clock()
        bus = EventBus(run_id, clock.wall, [JsonlSink(path)])
        engine = Engine(
            client=fake,
            clock=clock,
            bus=bus,
            settings=RunSettings(run_id=run_id, seed=1, log_path=str(path)),
        )
        wf = workflow
        await engine.run([Instance(_tagged(wf, i), i, {}) for i in range(instances)])
        bus.close()

    run_virtual(main())
    return path


def _tagged(workflow: Workflow, index: int) -> Workflow:
    # The instance's number in every prompt, so the scripted client can tell them apart.
    from dataclasses import replace

    agents = tuple(replace(a, prompt=f"{a.prompt} instance={index}") for a in workflow.agents)
    return replace(workflow, agents=agents)


def events(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def write_log(path: Path, lines: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path
