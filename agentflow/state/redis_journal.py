"""The journal of a queued run's paid answers, in the Redis its workers share.

A worker that claims an instance whose last holder died must replay what that holder
was answered, whatever host it ran on: so the model answers of a queued run are journaled
in Redis, one hash per instance, `agentflow:journal:RUN:WORKFLOW:INSTANCE`, a field per
answer (`AGENT|ITEM|ROUND|FINGERPRINT`, value `[response JSON, cost]`).

    journal = RedisJournal(store, redis, run_id="r1", lineage=("r1",))
    await journal.load([("invoices", 0), ("invoices", 1)])   # before those instances run
    journal.replayed(place, fingerprint)                     # from what was loaded
    await journal.record(place, fingerprint, response, cost)  # in Redis before its event

The results of side-effecting tools (`side_effects: true`) are journaled beside them, in
`agentflow:journal:RUN:WORKFLOW:INSTANCE:tools` (a field per call, `AGENT|ITEM|ROUND|TOOL|`
sha256 of its arguments, value `[ok, content]`), so an instance claimed again on another
host does not send the email twice.

`replayed` and `replayed_tool` are synchronous (the engine asks them before each call), so
what an instance was answered is read in one round trip before it runs. Answers of one
event-loop turn go to Redis in one pipeline, and `record` returns once it is written, as
`RunJournal` commits them to SQLite; `record_tool` returns once its result is written. The
response cache stays in the local state db `store`.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Iterable
from typing import Any

from agentflow.llm.types import LLMResponse
from agentflow.state.journal import RunJournal
from agentflow.state.redis_conn import RedisConnection
from agentflow.state.store import Journaled, Place, decode_response, encode_response

# A queued run's answers outlive it by this much: long enough to resume it.
KEEP_S = 7 * 24 * 3600


def journal_key(run_id: str, workflow: str, instance: int) -> str:
    return RedisConnection.key("journal", run_id, workflow, str(instance))


def tools_key(run_id: str, workflow: str, instance: int) -> str:
    return journal_key(run_id, workflow, instance) + ":tools"


def _tool_field(place: Place, tool: str, arguments: str) -> str:
    item = -1 if place.item is None else place.item
    digest = hashlib.sha256(arguments.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{place.agent}|{item}|{place.round}|{tool}|{digest}"


def _field(place: Place, fingerprint: str) -> str:
    item = -1 if place.item is None else place.item
    return f"{place.agent}|{item}|{place.round}|{fingerprint}"


class RedisJournal(RunJournal):
    """`RunJournal` whose model answers live in Redis; see the module docstring."""

    def __init__(self, store: Any, redis: RedisConnection, **kwargs: Any) -> None:
        super().__init__(store, **kwargs)
        self._redis = redis
        self._known: dict[tuple[str, int, str, str], Journaled] = {}
        self._tools: dict[tuple[str, int, str, str], tuple[bool, str]] = {}
        self._writes: list[tuple[Place, str, str, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def load(self, instances: Iterable[tuple[str, int]]) -> None:
        """Read what the lineage's runs were answered at these instances."""
        wanted = [(run, wf, inst) for wf, inst in instances for run in self.lineage]
        if not wanted:
            return

        async def work(client: Any) -> list[Any]:
            pipe = client.pipeline(transaction=False)
            for run, wf, inst in wanted:
                pipe.hgetall(journal_key(run, wf, inst))
                pipe.hgetall(tools_key(run, wf, inst))
            return list(await pipe.execute())

        replies = await self._redis.call(work)
        for n, (run, wf, inst) in enumerate(wanted):
            for name, value in replies[2 * n].items():
                text, cost = json.loads(value)
                self._known.setdefault(
                    (wf, inst, name, run), Journaled(decode_response(text), cost, run)
                )
            for name, value in replies[2 * n + 1].items():
                ok, content = json.loads(value)
                self._tools.setdefault((wf, inst, name, run), (bool(ok), str(content)))

    def replayed(self, place: Place, fingerprint: str) -> Journaled | None:
        if not self._may_replay(place):
            return None
        name = _field(place, fingerprint)
        for run in self.lineage:
            found = self._known.get((place.workflow, place.instance, name, run))
            if found is not None:
                return found
        return None

    def replayed_tool(self, place: Place, tool: str, arguments: str) -> tuple[bool, str] | None:
        if not self.lineage:
            return None
        name = _tool_field(place, tool, arguments)
        for run in self.lineage:
            found = self._tools.get((place.workflow, place.instance, name, run))
            if found is not None:
                return found
        return None

    async def record_tool(
        self, place: Place, tool: str, arguments: str, ok: bool, content: str
    ) -> None:
        key = tools_key(place.run_id, place.workflow, place.instance)
        name, value = _tool_field(place, tool, arguments), json.dumps([ok, content])

        async def work(client: Any) -> None:
            pipe = client.pipeline(transaction=True)
            pipe.hset(key, name, value)
            pipe.expire(key, KEEP_S)
            await pipe.execute()

        await asyncio.shield(self._redis.call(work))  # it ran: its result must be kept

    async def record(
        self, place: Place, fingerprint: str, response: LLMResponse, cost_usd: float | None
    ) -> None:
        done = asyncio.get_running_loop().create_future()
        value = json.dumps([encode_response(response), cost_usd])
        self._writes.append((place, _field(place, fingerprint), value, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(self._write())
        try:
            await asyncio.shield(done)
        except asyncio.CancelledError:
            await done  # paid: it is written anyway, and reported only once it is
            raise

    async def _write(self) -> None:
        while self._writes:
            await asyncio.sleep(0)  # gather what the rest of this turn records
            writes, self._writes = self._writes, []

            async def work(client: Any, writes: list[Any] = writes) -> None:
                pipe = client.pipeline(transaction=False)
                for place, name, value, _ in writes:
                    key = journal_key(place.run_id, place.workflow, place.instance)
                    pipe.hset(key, name, value)
                    pipe.expire(key, KEEP_S)
                await pipe.execute()

            try:
                await self._redis.call(work)
            except Exception as exc:
                for *_, done in writes:
                    if not done.done():
                        done.set_exception(exc)
                continue
            self.commits += 1
            for *_, done in writes:
                if not done.done():
                    done.set_result(None)

    async def aclose(self) -> None:
        """Wait for the answers still being written."""
        if self._writer is not None:
            await asyncio.wait((self._writer,))
