"""A run's view of the state database: what it may replay, what it must record.

    journal = RunJournal(store, run_id="r2", lineage=("r1",))
    found = journal.replayed(place, fingerprint)      # an answer r1 paid for, or None
    await journal.record(place, fingerprint, response, cost)  # before llm.response is logged

`lineage` names the earlier runs (parent, grandparent, ...) whose answers this run may
replay: empty for a new run, the chain of parents for `resume` and `retry`. `fresh`
names agents that must be asked again even so (`retry` re-asks what failed: replaying
the answer that failed would fail again). The cache is separate: keyed by fingerprint
alone, used only for agents whose `cache:` is on (or all with `run --cache`).

Answers that arrive in the same turn of the event loop are committed together: `record`
queues its answer, the first one queued schedules one commit for the next turn, and every
`record` returns once that commit is done. Each answer is still on disk before its event
is written; a busy run pays for one transaction per turn instead of one per answer.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from agentflow.llm.types import LLMRequest, LLMResponse
from agentflow.model.types import Agent, CachePolicy
from agentflow.state.fingerprint import fingerprint
from agentflow.state.store import Answer, Journaled, Place, StateStore


@dataclass(frozen=True, slots=True)
class CacheChoice:
    """`run --cache` / `--no-cache`: None leaves each agent's `cache:` as written."""

    force: bool | None = None

    def policy(self, agent: Agent) -> CachePolicy | None:
        if self.force is False:
            return None
        if self.force is True:
            return agent.cache or CachePolicy()
        return agent.cache


class RunJournal:
    """Journal and cache access for one run (see the module docstring)."""

    def __init__(
        self,
        store: StateStore,
        *,
        run_id: str,
        lineage: Iterable[str] = (),
        fresh: Iterable[tuple[str, int, str]] = (),
        cache: CacheChoice = CacheChoice(),
        mock: bool = False,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.run_id = run_id
        self.lineage = tuple(lineage)
        self._fresh = frozenset(fresh)
        self._cache = cache
        self._mock = mock
        self._now = now
        self._queued: list[tuple[Answer, asyncio.Future[None]]] = []
        self.commits = 0

    def fingerprint(self, request: LLMRequest) -> str:
        """The request's fingerprint in this run: `--mock` answers get their own."""
        return fingerprint(request, mock=self._mock)

    def place(
        self, workflow: str, instance: int, agent: str, item: int | None, round_no: int
    ) -> Place:
        return Place(self.run_id, workflow, instance, agent, item, round_no)

    def _may_replay(self, place: Place) -> bool:
        return (
            bool(self.lineage) and (place.workflow, place.instance, place.agent) not in self._fresh
        )

    # -- model answers ----------------------------------------------------------------------

    def replayed(self, place: Place, fingerprint: str) -> Journaled | None:
        """An answer an earlier run of this lineage paid for at this place, if any."""
        if not self._may_replay(place):
            return None
        return self.store.journaled_response(self.lineage, place, fingerprint)

    async def record(
        self, place: Place, fingerprint: str, response: LLMResponse, cost_usd: float | None
    ) -> None:
        """Journal a paid answer; returns once it is committed (see the module docstring).

        Raises `StateError` when the commit fails. A caller cancelled while it waits does
        not withdraw its answer: the commit still happens, and the cancellation reaches
        the caller once it has.
        """
        done = asyncio.get_running_loop().create_future()
        if not self._queued:
            asyncio.get_running_loop().call_soon(self._commit_queued)
        self._queued.append(((place, fingerprint, response, cost_usd, self._now()), done))
        try:
            await asyncio.shield(done)
        except asyncio.CancelledError:
            # Stopped while waiting: the commit runs anyway (next turn); wait it out, so a
            # caller that reports the answer on its way out reports what is on disk.
            await done
            raise

    def _commit_queued(self) -> None:
        queued, self._queued = self._queued, []
        try:
            self.store.record_responses([answer for answer, _ in queued])
        except BaseException as exc:
            for _, done in queued:
                if not done.done():
                    done.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        self.commits += 1
        for _, done in queued:
            if not done.done():
                done.set_result(None)

    def cached(self, agent: Agent, fingerprint: str) -> Journaled | None:
        if self._cache.policy(agent) is None:
            return None
        return self.store.cached_response(fingerprint, self._now())

    def keep(
        self, agent: Agent, fingerprint: str, response: LLMResponse, cost_usd: float | None
    ) -> None:
        """Cache a good answer (the caller has checked it parsed; refusals are never kept)."""
        policy = self._cache.policy(agent)
        if policy is None or response.finish_reason == "content_filter":
            return
        self.store.cache_response(fingerprint, response, cost_usd, policy.ttl_s, self._now())

    # -- side-effecting tools ---------------------------------------------------------------

    def replayed_tool(self, place: Place, tool: str, arguments: str) -> tuple[bool, str] | None:
        if not self.lineage:
            return None
        return self.store.journaled_tool_result(self.lineage, place, tool, arguments)

    async def record_tool(
        self, place: Place, tool: str, arguments: str, ok: bool, content: str
    ) -> None:
        """Journal a side-effecting tool's result (awaited: a shared journal writes remotely)."""
        self.store.record_tool_result(place, tool, arguments, ok, content, self._now())
