"""The work queue against a real redis-server: claiming, leases, XAUTOCLAIM after a lease
ran out, handing back, and the relay's one transaction of final event + acknowledgement.

Each `WorkQueue` has its own connection, as a separate worker process would; leases are a
fraction of a second so that "after the lease" is a short real wait.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from agentflow.events.types import Event
from agentflow.llm.types import LLMResponse
from agentflow.redaction import Redactor
from agentflow.run.queue import QueueSpec, SpecFile, WorkQueue, open_runs
from agentflow.sinks.relay import RelaySink
from agentflow.state.redis_conn import RedisConnection, parse_redis_url
from agentflow.state.redis_journal import RedisJournal
from agentflow.state.store import Place, StateStore
from tests.redis_server import RedisServer

SPEC = QueueSpec(
    run_id="r1",
    files=(SpecFile("/w/flow.yaml", "version: 1\n", "abc"),),
    instances=3,
    mock=True,
    secret_env=("ACME_TOKEN",),
    lineage=("r0",),
    fresh=(("flow", 1, "a"),),
    lease_s=0.3,
)


def with_queues(
    server: RedisServer, count: int, body: Callable[[list[WorkQueue]], Awaitable[Any]]
) -> Any:
    async def scenario() -> Any:
        connections = [RedisConnection(parse_redis_url(server.url)) for _ in range(count)]
        try:
            return await body([WorkQueue(c, "r1") for c in connections])
        finally:
            for connection in connections:
                await connection.aclose()

    return asyncio.run(scenario())


def test_the_spec_survives_the_trip_through_redis_and_the_run_is_listed_open(
    redis_server: RedisServer,
) -> None:
    async def body(queues: list[WorkQueue]) -> tuple[QueueSpec | None, list[str]]:
        await queues[0].enqueue(SPEC, [(0, n, {"n": n}) for n in range(3)])
        return await queues[1].spec(), await open_runs(queues[1].redis)

    spec, runs = with_queues(redis_server, 2, body)
    assert spec == SPEC
    assert runs == ["r1"]


def test_each_instance_goes_to_one_worker_and_a_dead_ones_after_its_lease(
    redis_server: RedisServer,
) -> None:
    async def body(queues: list[WorkQueue]) -> dict[str, Any]:
        alive, dead = queues
        await alive.enqueue(SPEC, [(0, n, {"n": n}) for n in range(3)])
        held = await dead.claim("dead", count=2, block_ms=0, lease_s=0.3)
        rest = await alive.claim("alive", count=5, block_ms=0, lease_s=0.3)
        early = await alive.claim("alive", count=5, block_ms=0, lease_s=0.3)
        await asyncio.sleep(0.4)
        await alive.renew("alive", [c.entry_id for c in rest])  # alive keeps what it holds
        late = await alive.claim("alive", count=5, block_ms=0, lease_s=0.3)
        return {"held": held, "rest": rest, "early": early, "late": late}

    got = with_queues(redis_server, 2, body)
    assert [c.instance for c in got["held"]] == [0, 1]
    assert [c.instance for c in got["rest"]] == [2]
    assert got["early"] == []  # the dead worker's lease has not run out yet
    assert sorted(c.instance for c in got["late"]) == [0, 1]
    assert got["late"][0].inputs == {"n": 0}


def test_renewing_keeps_an_instance_and_handing_back_frees_it_at_once(
    redis_server: RedisServer,
) -> None:
    async def body(queues: list[WorkQueue]) -> tuple[list[int], list[int]]:
        holder, other = queues
        await holder.enqueue(SPEC, [(0, n, {"n": n}) for n in range(2)])
        held = await holder.claim("holder", count=2, block_ms=0, lease_s=0.3)
        for _ in range(4):  # 0.6 s in all, twice the lease, renewed every 0.15 s
            await asyncio.sleep(0.15)
            await holder.renew("holder", [c.entry_id for c in held])
        kept = [c.instance for c in await other.claim("other", count=2, block_ms=0, lease_s=0.3)]
        await holder.hand_back("holder", [held[1].entry_id], lease_s=0.3)
        back = [c.instance for c in await other.claim("other", count=2, block_ms=0, lease_s=0.3)]
        return kept, back

    kept, back = with_queues(redis_server, 2, body)
    assert kept == []
    assert back == [1]


def test_the_relay_acknowledges_an_instance_with_its_final_event_and_skips_run_events(
    redis_server: RedisServer,
) -> None:
    def event(name: str, instance: int | None, seq: int) -> Event:
        workflow = "flow" if instance is not None else None
        return Event(name, 1.5, "r1", seq, workflow, instance, None, {"status": "ok"})

    async def body(queues: list[WorkQueue]) -> dict[str, Any]:
        worker, starter = queues
        await starter.enqueue(SPEC, [(0, n, {"n": n}) for n in range(3)])
        claims = await worker.claim("w", count=3, block_ms=0, lease_s=0.3)
        redactor = Redactor.from_environment({"ACME_TOKEN": "tok-9f8e7d6c5b4a"}, ())
        relay = RelaySink(worker, {("flow", c.instance): c for c in claims}, redactor)
        relay.handle(event("run.started", None, 1))
        started = event("workflow.started", 0, 2)
        relay.handle(Event(**{**_fields(started), "data": {"echo": "key tok-9f8e7d6c5b4a"}}))
        relay.handle(event("workflow.completed", 0, 3))
        relay.withhold({("flow", 1)})
        relay.handle(event("workflow.completed", 1, 4))  # handed back: not finished
        relay.close()
        await relay.pump()
        await asyncio.sleep(0.4)
        return {
            "events": await starter.read_events("0", block_ms=0),
            "done": await starter.done_count(),
            "again": await starter.claim("s", count=3, block_ms=0, lease_s=0.3),
            "finished_by_other": await starter.done_among(claims),
        }

    got = with_queues(redis_server, 2, body)
    relayed = [e for _, batch in got["events"] for e in batch]
    assert [(e["event"], e["instance"]) for e in relayed] == [
        ("workflow.started", 0),
        ("workflow.completed", 0),
    ]
    assert relayed[0]["ts"] == 1.5
    assert relayed[0]["data"] == {"echo": "key [REDACTED]"}  # this host's secret stays here
    assert got["done"] == 1
    # instance 0 was acknowledged, so only 1 and 2 come back after the lease
    assert sorted(c.instance for c in got["again"]) == [1, 2]
    assert got["finished_by_other"] == {"0:0"}


@dataclass(frozen=True)
class _Workflow:
    name: str


@dataclass(frozen=True)
class _Instance:
    """What the collector reads of an instance: its workflow's name and its index."""

    name: str
    index: int

    @property
    def workflow(self) -> _Workflow:
        return _Workflow(self.name)


class _Keep:
    """A sink that keeps every event."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def handle(self, event: Event) -> None:
        self.events.append(event)

    def close(self) -> None:
        return None


def collect(server: RedisServer, *entries: list[dict[str, Any]]) -> tuple[Any, list[Event]]:
    """What the starter's collector makes of these relayed entries (one instance, flow#0):
    its result and every event it emitted."""
    from agentflow.events.bus import EventBus
    from agentflow.run.collect import Collector, Stamp
    from agentflow.run.engine import RunSettings

    kept = _Keep()

    async def body(queues: list[WorkQueue]) -> Any:
        (queue,) = queues
        stamp = Stamp()
        bus = EventBus("r1", stamp, [kept])
        collector = Collector(
            queue,
            bus,
            stamp,
            [_Instance("flow", 0)],
            RunSettings(run_id="r1"),
            run_started={},
            poll_ms=100,
        )

        for entry in entries:
            await queue.relay(json.dumps(entry), [])
        return await collector.run()

    return with_queues(server, 1, body), kept.events


def _fields(event: Event) -> dict[str, Any]:
    return {name: getattr(event, name) for name in Event.__dataclass_fields__}


def test_answers_journaled_by_one_worker_are_replayed_by_another_and_only_there(
    redis_server: RedisServer, tmp_path: Any
) -> None:
    answer = LLMResponse(
        content="paid once", tool_calls=(), input_tokens=3, output_tokens=4, model="gpt-4o"
    )

    async def body(queues: list[WorkQueue]) -> dict[str, Any]:
        first, second = (q.redis for q in queues)
        store = StateStore.open(tmp_path / "state.db")
        try:
            dead = RedisJournal(store, first, run_id="r1", lineage=("r1",))
            place = dead.place("flow", 0, "a", None, 0)
            await dead.record(place, "fp1", answer, 0.25)
            again = RedisJournal(store, second, run_id="r1", lineage=("r1",))
            await again.load([("flow", 0), ("flow", 1)])
            fresh = RedisJournal(store, second, run_id="r2", lineage=())
            await fresh.load([("flow", 0)])
            return {
                "same": again.replayed(place, "fp1"),
                "other_fp": again.replayed(place, "fp2"),
                "other_instance": again.replayed(Place("r1", "flow", 1, "a", None, 0), "fp1"),
                "no_lineage": fresh.replayed(place, "fp1"),
                "commits": dead.commits,
            }
        finally:
            store.close()

    got = with_queues(redis_server, 2, body)
    assert got["same"] is not None
    assert got["same"].response.content == "paid once"
    assert got["same"].cost_usd == 0.25
    assert got["same"].run_id == "r1"
    assert got["other_fp"] is None
    assert got["other_instance"] is None
    assert got["no_lineage"] is None
    assert got["commits"] == 1


def test_a_side_effecting_tool_run_by_a_dead_worker_is_replayed_on_another_host(
    redis_server: RedisServer, tmp_path: Any
) -> None:
    async def body(queues: list[WorkQueue]) -> dict[str, Any]:
        first, second = (q.redis for q in queues)
        # two hosts: each worker has a state db of its own
        here, there = StateStore.open(tmp_path / "a.db"), StateStore.open(tmp_path / "b.db")
        try:
            dead = RedisJournal(here, first, run_id="r1", lineage=("r1",))
            place = dead.place("flow", 0, "a", None, 1)
            await dead.record_tool(place, "send_email", '{"to": "ana"}', True, "sent #41")
            again = RedisJournal(there, second, run_id="r1", lineage=("r1",))
            await again.load([("flow", 0)])
            return {
                "same": again.replayed_tool(place, "send_email", '{"to": "ana"}'),
                "other_arguments": again.replayed_tool(place, "send_email", '{"to": "bo"}'),
                "other_round": again.replayed_tool(
                    Place("r1", "flow", 0, "a", None, 2), "send_email", '{"to": "ana"}'
                ),
                "local_db": there.journaled_tool_result(
                    ("r1",), place, "send_email", '{"to": "ana"}'
                ),
            }
        finally:
            here.close()
            there.close()

    got = with_queues(redis_server, 2, body)
    assert got["same"] == (True, "sent #41")
    assert got["other_arguments"] is None and got["other_round"] is None
    assert got["local_db"] is None  # it came from Redis, not from a shared file


def test_the_starter_takes_each_instance_once_and_keeps_a_late_attempts_paid_calls(
    redis_server: RedisServer,
) -> None:
    def relayed(name: str, instance: int, **data: Any) -> dict[str, Any]:
        return {"event": name, "ts": 2.25, "workflow": "flow", "instance": instance,
                "agent": "a" if name.startswith(("llm", "agent")) else None, "data": data}  # fmt: skip

    first = [
        relayed("llm.request", 0, model="m"),
        relayed("llm.response", 0, model="m", cost_usd=0.5, input_tokens=3, output_tokens=4),
        relayed("agent.completed", 0, output="x"),
        relayed("workflow.completed", 0, status="ok", outputs={"o": 1}, duration_s=1.0),
    ]
    late = [  # a worker that lost its lease finishes the same instance again
        relayed("agent.started", 0),
        relayed("llm.request", 0, model="m"),
        relayed("llm.response", 0, model="m", cost_usd=0.25, input_tokens=1, output_tokens=1),
        relayed("workflow.completed", 0, status="failed", outputs={}, duration_s=2.0),
    ]

    result, seen = collect(redis_server, first, late)
    names = [e.event for e in seen]
    assert names == [
        "run.started", "llm.request", "llm.response", "agent.completed", "workflow.completed",
        "llm.request", "llm.response", "run.completed",
    ]  # fmt: skip
    assert [e.seq for e in seen] == list(range(1, 9))
    assert seen[1].ts == 2.25  # the worker's time, not the starter's
    (instance,) = result.instances
    assert (instance.status, dict(instance.outputs)) == ("ok", {"o": 1})
    assert result.usage.cost_usd == pytest.approx(0.75)  # the late attempt was paid too
    assert seen[-1].data["totals"]["calls"] == 2
    assert result.exit_code == 0


def test_an_answer_whose_report_died_with_its_worker_is_counted_by_its_replay(
    redis_server: RedisServer,
) -> None:
    def response(agent: str, **data: Any) -> dict[str, Any]:
        return {"event": "llm.response", "ts": 1.0, "workflow": "flow", "instance": 0,
                "agent": agent, "data": {"round": 0, "index": None, **data}}  # fmt: skip

    relayed = [
        response("a", cost_usd=0.5),  # the dead worker reported this one
        # it died after journaling b's answer, before relaying it; then the instance ran again
        response("a", cost_usd=0.0, replayed=True, original_cost_usd=0.5),
        response("b", cost_usd=0.0, replayed=True, original_cost_usd=0.25),
        {
            "event": "workflow.completed",
            "ts": 1.0,
            "workflow": "flow",
            "instance": 0,
            "agent": None,
            "data": {"status": "ok", "outputs": {}},
        },
    ]

    result, _ = collect(redis_server, relayed)
    assert result.usage.cost_usd == pytest.approx(0.75)  # a once, b once: never $0 for b
    assert result.usage.replayed == 2


def test_calls_a_dead_worker_left_in_flight_are_kept_as_unconfirmed_cost(
    redis_server: RedisServer,
) -> None:
    def event(name: str, src: str, agent: str | None, **data: Any) -> dict[str, Any]:
        return {"event": name, "ts": 1.0, "workflow": "flow", "instance": 0, "agent": agent,
                "data": data, "src": src}  # fmt: skip

    call = {"model": "m", "attempt": 1, "round": 0, "index": None}
    relayed = [
        # the first worker sends a's and b's calls, journals b's answer, and dies
        event("llm.request", "w1", "a", **call, worst_cost_usd=0.04),
        event("llm.request", "w1", "b", **call, worst_cost_usd=0.03),
        # the second worker replays b's answer and pays for a again
        event(
            "llm.response", "w2", "b", **call, cost_usd=0.0, replayed=True, original_cost_usd=0.01
        ),
        event("llm.request", "w2", "a", **call, worst_cost_usd=0.04),
        event("llm.response", "w2", "a", **call, cost_usd=0.02),
        event("workflow.completed", "w2", None, status="ok", outputs={}),
    ]

    result, seen = collect(redis_server, relayed)
    lost = [e for e in seen if e.event == "llm.abandoned"]
    # a's first call may have been billed: its worst case is kept; b's was the replayed answer
    assert [(e.agent, e.data["reason"], e.data["unconfirmed_cost_usd"]) for e in lost] == [
        ("a", "worker_lost", 0.04)
    ]
    assert [e.event for e in seen].index("llm.abandoned") < [e.event for e in seen].index(
        "workflow.completed"
    )
    assert result.usage.cost_usd == pytest.approx(0.03)  # a's second answer and b's once
    assert result.usage.unconfirmed_cost_usd == pytest.approx(0.04)
    assert seen[-1].data["totals"]["unconfirmed_calls"] == 1
