"""A run's work queue on a Redis Stream (`run --queue redis://...`, `agentflow worker`).

The process that starts a run puts its description and one entry per workflow instance
in Redis; workers on any host claim entries through a consumer group, relay the events
of what they run, and acknowledge an entry together with the instance's
`workflow.completed` event (one Lua script, lua/relay.lua). Keys, for run RUN (all
under `agentflow:`):

    queue:runs            sorted set   open runs, scored by when they were enqueued
    queue:RUN:spec        string       the run's description (`QueueSpec`, JSON)
    queue:RUN:work        stream       one entry per instance: `w` (file index), `i`
                                       (instance index), `inputs` (JSON); group `workers`
    queue:RUN:events      stream       relayed events, a JSON list per entry (`b`)
    queue:RUN:done        set          "w:i" of every instance whose final event is in
    queue:RUN:stop        string       set when the starter stopped: workers stop too

    queue = WorkQueue(redis, "RUN")
    await queue.enqueue(spec, [(0, 0, {...}), (0, 1, {...})])
    claims = await queue.claim("host-1234", count=10, block_ms=1000, lease_s=30)
    await queue.renew("host-1234", [c.entry_id for c in claims])   # while working
    await queue.hand_back("host-1234", ids, lease_s=30)            # on SIGTERM

An entry stays in the group's pending list until acknowledged; one whose holder has not
renewed it for `lease_s` is taken by the next worker that asks (XAUTOCLAIM). Handing back
marks an entry idle for a whole lease, so the next claim takes it at once.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentflow.state.lineage import sha256_of
from agentflow.state.redis_conn import RedisConnection

GROUP = "workers"  # lua/relay.lua names it too
_LUA = Path(__file__).with_name("lua")
DEFAULT_LEASE_S = 30.0
# Keys of a finished run stay this long (its events, for a starter that resumes late).
KEEP_S = 7 * 24 * 3600


@dataclass(frozen=True, slots=True)
class SpecFile:
    """One workflow file of a queued run: where the starter read it, and its text."""

    path: str
    text: str
    sha256: str

    @classmethod
    def of(cls, path: Path) -> SpecFile:
        """The file at `path` as the starter reads it."""
        return cls(str(path.resolve()), path.read_text(encoding="utf-8"), sha256_of(path))

    def to_list(self) -> list[str]:
        return [self.path, self.text, self.sha256]

    @classmethod
    def from_list(cls, fields: Sequence[Any]) -> SpecFile:
        path, text, sha256 = fields
        return cls(str(path), str(text), str(sha256))


@dataclass(frozen=True, slots=True)
class QueueSpec:
    """What a worker needs to run a queued run's instances (never a secret's value)."""

    run_id: str
    files: tuple[SpecFile, ...]
    instances: int
    mock: bool = False
    mock_latency: float = 0.0
    max_answer_bytes: int | None = None
    budget_usd: float | None = None
    budget_state: str | None = None  # the Redis (shown without password) holding the budget
    cache: bool | None = None
    log_prompts: bool = False
    secret_env: tuple[str, ...] = ()
    lineage: tuple[str, ...] = ()  # earlier runs whose journaled answers may be replayed
    fresh: tuple[tuple[str, int, str], ...] = ()  # agents `retry` asks again
    lease_s: float = DEFAULT_LEASE_S
    pricing: SpecFile | None = None  # --pricing FILE of the starter: prices over the files'

    def to_json(self) -> str:
        return json.dumps(
            {
                "run_id": self.run_id,
                "files": [f.to_list() for f in self.files],
                "instances": self.instances,
                "mock": self.mock,
                "mock_latency": self.mock_latency,
                "max_answer_bytes": self.max_answer_bytes,
                "budget_usd": self.budget_usd,
                "budget_state": self.budget_state,
                "cache": self.cache,
                "log_prompts": self.log_prompts,
                "secret_env": list(self.secret_env),
                "lineage": list(self.lineage),
                "fresh": [list(f) for f in self.fresh],
                "lease_s": self.lease_s,
                "pricing": self.pricing.to_list() if self.pricing is not None else None,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> QueueSpec:
        data = json.loads(text)
        pricing = data.get("pricing")
        return cls(
            run_id=str(data["run_id"]),
            files=tuple(SpecFile.from_list(f) for f in data["files"]),
            instances=int(data["instances"]),
            mock=bool(data.get("mock")),
            mock_latency=float(data.get("mock_latency") or 0.0),
            max_answer_bytes=data.get("max_answer_bytes"),
            budget_usd=data.get("budget_usd"),
            budget_state=data.get("budget_state"),
            cache=data.get("cache"),
            log_prompts=bool(data.get("log_prompts")),
            secret_env=tuple(data.get("secret_env") or ()),
            lineage=tuple(data.get("lineage") or ()),
            fresh=tuple((str(w), int(i), str(a)) for w, i, a in data.get("fresh") or ()),
            lease_s=float(data.get("lease_s") or DEFAULT_LEASE_S),
            pricing=SpecFile.from_list(pricing) if pricing else None,
        )


@dataclass(frozen=True, slots=True)
class Claim:
    """One instance a worker holds: its stream entry and what to run."""

    entry_id: str
    file_index: int
    instance: int
    inputs: Mapping[str, Any]

    @property
    def tag(self) -> str:
        return done_tag(self.file_index, self.instance)


def done_tag(file_index: int, instance: int) -> str:
    return f"{file_index}:{instance}"


def runs_key() -> str:
    return RedisConnection.key("queue", "runs")


class WorkQueue:
    """The Redis side of one queued run; see the module docstring."""

    def __init__(self, redis: RedisConnection, run_id: str) -> None:
        self.redis = redis
        self.run_id = run_id
        base = RedisConnection.key("queue", run_id)
        self.spec_key = base + ":spec"
        self.work_key = base + ":work"
        self.events_key = base + ":events"
        self.done_key = base + ":done"
        self.stop_key = base + ":stop"

    # -- the starter ------------------------------------------------------------------------

    async def enqueue(
        self, spec: QueueSpec, entries: Iterable[tuple[int, int, Mapping[str, Any]]]
    ) -> None:
        """Describe the run, create its group and put every instance on the stream."""

        async def work(client: Any) -> None:
            pipe = client.pipeline(transaction=True)
            pipe.set(self.spec_key, spec.to_json())
            pipe.delete(self.work_key, self.done_key, self.stop_key)
            pipe.xgroup_create(self.work_key, GROUP, id="0", mkstream=True)
            for file_index, instance, inputs in entries:
                fields = {"w": file_index, "i": instance, "inputs": json.dumps(inputs)}
                pipe.xadd(self.work_key, fields)
            pipe.zadd(runs_key(), {self.run_id: time.time()})
            await pipe.execute()

        await self.redis.call(work)

    async def read_events(
        self, after: str, *, count: int = 1000, block_ms: int = 1000
    ) -> list[tuple[str, list[dict[str, Any]]]]:
        """Relayed events after entry `after` ("0" for all): (entry id, events) pairs."""
        reply = await self.redis.call(
            lambda c: c.xread({self.events_key: after}, count=count, block=block_ms)
        )
        out: list[tuple[str, list[dict[str, Any]]]] = []
        for _stream, entries in reply or ():
            for entry_id, fields in entries:
                out.append((entry_id, json.loads(fields["b"])))
        return out

    async def done_count(self) -> int:
        return int(await self.redis.call(lambda c: c.scard(self.done_key)))

    async def stop(self) -> None:
        """The starter stopped: workers stop this run's work too."""
        await self.redis.call(lambda c: c.set(self.stop_key, "1", ex=KEEP_S))

    async def close(self) -> None:
        """The run is over: no worker looks for it again; its keys expire later."""

        async def work(client: Any) -> None:
            pipe = client.pipeline(transaction=True)
            pipe.zrem(runs_key(), self.run_id)
            for key in (self.spec_key, self.work_key, self.events_key, self.done_key):
                pipe.expire(key, KEEP_S)
            await pipe.execute()

        await self.redis.call(work)

    # -- workers ----------------------------------------------------------------------------

    async def spec(self) -> QueueSpec | None:
        text = await self.redis.call(lambda c: c.get(self.spec_key))
        return QueueSpec.from_json(text) if text else None

    async def stopped(self) -> bool:
        return bool(await self.redis.call(lambda c: c.exists(self.stop_key)))

    async def claim(
        self, consumer: str, *, count: int, block_ms: int, lease_s: float
    ) -> list[Claim]:
        """Up to `count` instances: first those whose holder's lease ran out, then new ones."""
        lease_ms = max(1, int(lease_s * 1000))
        stale = await self.redis.call(
            lambda c: c.xautoclaim(self.work_key, GROUP, consumer, lease_ms, "0-0", count=count)
        )
        claims = [_claim(entry_id, fields) for entry_id, fields in stale[1] if fields]
        if len(claims) < count:
            fresh = await self.redis.call(
                lambda c: c.xreadgroup(
                    GROUP,
                    consumer,
                    {self.work_key: ">"},
                    count=count - len(claims),
                    block=block_ms if block_ms > 0 and not claims else None,
                )
            )
            for _stream, entries in fresh or ():
                claims.extend(_claim(entry_id, fields) for entry_id, fields in entries)
        return claims

    async def done_among(self, claims: Sequence[Claim]) -> set[str]:
        """The tags of claimed instances already finished (by a holder that lost its lease)."""
        if not claims:
            return set()
        tags = [c.tag for c in claims]
        flags = await self.redis.call(lambda c: c.smismember(self.done_key, tags))
        return {tag for tag, flag in zip(tags, flags, strict=True) if flag}

    async def ack(self, entry_ids: Sequence[str]) -> None:
        if entry_ids:
            await self.redis.call(lambda c: c.xack(self.work_key, GROUP, *entry_ids))

    async def renew(self, consumer: str, entry_ids: Sequence[str]) -> None:
        """Reset the idle time of entries this worker holds: their lease starts again."""
        if entry_ids:
            await self.redis.call(
                lambda c: c.xclaim(self.work_key, GROUP, consumer, 0, list(entry_ids), justid=True)
            )

    async def hand_back(self, consumer: str, entry_ids: Sequence[str], *, lease_s: float) -> None:
        """Give entries up: marked idle for a whole lease, the next claim takes them at once."""
        if entry_ids:
            idle_ms = int(lease_s * 1000) + 1
            await self.redis.call(
                lambda c: c.xclaim(
                    self.work_key, GROUP, consumer, 0, list(entry_ids), idle=idle_ms, justid=True
                )
            )

    async def relay(self, events: str, finished: Sequence[Claim]) -> None:
        """Add one events entry (a JSON list) and, atomically with it, each finished
        instance's done mark and acknowledgement (lua/relay.lua): one script call, which
        shares its round trip with the other scripts of the turn."""
        args: list[str] = [events]
        for claim in finished:
            args += [claim.tag, claim.entry_id]
        await self.redis.run(
            self.redis.script(_LUA / "relay.lua"),
            keys=[self.events_key, self.done_key, self.work_key],
            args=args,
        )


def _claim(entry_id: str, fields: Mapping[str, str]) -> Claim:
    return Claim(entry_id, int(fields["w"]), int(fields["i"]), json.loads(fields["inputs"]))


async def open_runs(redis: RedisConnection) -> list[str]:
    """Runs that were enqueued and not closed yet, oldest first."""
    return list(await redis.call(lambda c: c.zrange(runs_key(), 0, -1)))
