"""How many of a planned run's calls the response cache would answer.

`plan` prices a run before it starts; for agents whose `cache:` is on (or all, with
`--cache`) it also asks the state database which first calls it already holds. Only a
call whose request is known before the run can be looked up: the first call of an agent
whose prompts read inputs alone (each item of a fan-out over inputs counts once). A call
that reads another agent's answer, or comes after a tool round, is counted as unknown.
The lookup reads; it counts no hit and changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentflow.errors import AgentflowError
from agentflow.model.types import Agent, Workflow
from agentflow.run.calls import build_request, first_messages, tool_specs
from agentflow.state.fingerprint import fingerprint
from agentflow.state.journal import CacheChoice
from agentflow.state.store import StateStore
from agentflow.templates import evaluate, render


@dataclass(frozen=True, slots=True)
class CacheForecast:
    """What the cache would answer of a run's first calls."""

    cached_agents: int  # agents whose cache is on
    known_calls: int  # first calls whose request is known before the run
    hits: int  # of those, held by the cache (and not expired)
    saved_usd: float  # what the hits cost when they were paid for
    unknown_calls: int  # first calls that depend on answers the run has not made yet

    def as_json(self) -> dict[str, Any]:
        return {
            "cached_agents": self.cached_agents,
            "known_calls": self.known_calls,
            "hits": self.hits,
            "saved_usd": round(self.saved_usd, 10),
            "unknown_calls": self.unknown_calls,
        }

    def line(self) -> str:
        """One sentence for the plan's text and Markdown forms."""
        text = (
            f"Cache: {self.hits} of {self.known_calls} first call"
            f"{'s' if self.known_calls != 1 else ''} of cached agents would be answered from "
            f"the cache (${self.saved_usd:.4f} not spent)"
        )
        if self.unknown_calls:
            text += f"; {self.unknown_calls} more depend on answers not made yet"
        return text


def _requests(agent: Agent, workflow: Workflow, inputs: Mapping[str, Any]) -> list[Any] | None:
    """The first request of each of the agent's conversations, or None when unknowable."""
    context: dict[str, Any] = {"inputs": inputs}
    try:
        if agent.for_each is None:
            contexts = [context]
        else:
            items = evaluate(agent.for_each, context)
            if not isinstance(items, list | tuple):
                return None
            contexts = [{**context, "item": item, "index": i} for i, item in enumerate(items)]
        out = []
        for scoped in contexts:
            system = render(agent.system, scoped) if agent.system else None
            messages = first_messages(agent, system, render(agent.prompt, scoped))
            out.append(build_request(agent, messages, tool_specs(agent, workflow)))
        return out
    except AgentflowError:  # reads an agent's answer (or a bound): not known before the run
        return None


def forecast_cache(
    workflow: Workflow,
    instances: Sequence[Mapping[str, Any]],
    state: Path,
    *,
    choice: CacheChoice,
    now: float,
) -> CacheForecast | None:
    """The forecast for `instances` of `workflow` (None when no agent caches).

    Each instance is the inputs `run` would use (`parse_inputs`), so the requests rendered
    here are byte for byte those the run would send, and so are their fingerprints.
    """
    cached = [a for a in workflow.agents if choice.policy(a) is not None]
    if not cached:
        return None
    store = StateStore.open(state) if state.is_file() else None
    known = hits = unknown = 0
    saved = 0.0
    try:
        for inputs in instances:  # complete inputs, as `run` checks them (parse_inputs)
            for agent in cached:
                requests = _requests(agent, workflow, inputs)
                if requests is None:
                    unknown += 1
                    continue
                known += len(requests)
                for request in requests:
                    found = store.peek_cached(fingerprint(request), now) if store else None
                    if found is not None:
                        hits += 1
                        saved += found.cost_usd or 0.0
    finally:
        if store is not None:
            store.close()
    return CacheForecast(len(cached), known, hits, saved, unknown)
