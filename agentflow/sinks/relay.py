"""A worker's sink: its events go to the run's events stream in Redis, for the starter.

    relay = RelaySink(queue, claims_by_instance)
    bus = EventBus(run_id, time.time, [relay])
    async with asyncio.TaskGroup() as group:
        group.create_task(relay.pump())       # until `close()` and the last flush
        ... the engine runs, emitting into `bus` ...

`handle()` only buffers; `pump()` sends what was buffered as one stream entry at most
every 20 ms (`FLUSH_EVERY_S`; on the next turn once a call was sent), in one script call
with the done mark and acknowledgement of every instance whose `workflow.completed` is
among them (`WorkQueue.relay`): an instance's final event and its release from the queue
land together or not at all, and the entry shares its round trip with the other scripts
of the turn. Every event carries `src`, this relay's own id, so
the starter can tell one attempt at an instance from another (a call a dead worker left
open is not closed by the answer its successor gets). The engine's run-level events (`run.started`,
`run.completed`, `run.cancelled`) stay here: the starter writes its own. Secret values
this host knows (its provider keys, the run's `--secret-env` names) are redacted here, before
they leave it. An instance given
back to the queue (`withhold()`) is not reported finished: what its cancellation emits
after that is dropped, except calls that may have been paid.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import Mapping
from typing import Any

from agentflow.events.types import Event
from agentflow.redaction import Redactor, active
from agentflow.run.queue import Claim, WorkQueue

# At most one entry per this interval while no call is sent: a worker's hundred calls in
# flight report their answers in one round trip, not one each (the starter reads them,
# Redis stores them, both per entry). A call sent is relayed on the next turn.
FLUSH_EVERY_S = 0.02
_RUN_LEVEL = frozenset({"run.started", "run.completed", "run.cancelled"})
_MONEY = frozenset({"llm.request", "llm.response", "llm.abandoned", "llm.retry"})


class RelaySink:
    """Relays events to `agentflow:queue:RUN:events`; see the module docstring."""

    label = "the event relay"

    def __init__(
        self,
        queue: WorkQueue,
        claims: Mapping[tuple[str, int], Claim],
        redactor: Redactor | None = None,
    ) -> None:
        self._queue = queue
        self._redactor = redactor if redactor is not None else active()
        self._claims = dict(claims)
        self.source = uuid.uuid4().hex[:12]  # this attempt at its instances
        self._withheld: set[tuple[str, int]] = set()
        self._events: list[dict[str, Any]] = []
        self._finished: list[Claim] = []
        self._wake = asyncio.Event()
        self._now = asyncio.Event()  # flush on the next turn, not after the interval
        self._closed = False
        self.relayed = 0
        self.finished: set[tuple[str, int]] = set()

    def withhold(self, keys: set[tuple[str, int]]) -> None:
        """These instances go back to the queue: never report them finished."""
        self._withheld |= keys

    def handle(self, event: Event) -> None:
        name = event.event
        if name in _RUN_LEVEL:
            return
        key = (event.workflow or "", event.instance if event.instance is not None else -1)
        if key in self._withheld and name not in _MONEY:
            return
        self._events.append(
            {
                "event": name,
                "ts": event.ts,
                "workflow": event.workflow,
                "instance": event.instance,
                "agent": event.agent,
                "data": event.data,
                "src": self.source,
            }
        )
        if name == "llm.request":
            # A call on its way may be billed: the starter hears of it at once, so a worker
            # that dies now leaves it counted as unconfirmed cost, not unknown.
            self._now.set()
        elif name == "workflow.completed":
            claim = self._claims.get(key)
            if claim is not None:
                self._finished.append(claim)
                self.finished.add(key)
        self._wake.set()

    def close(self) -> None:
        self._closed = True
        self._now.set()
        self._wake.set()

    async def pump(self) -> None:
        """Send what was buffered, at most every `FLUSH_EVERY_S` unless a call was sent,
        until closed and empty."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self.flush()
            if self._closed and not self._events:
                return
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(FLUSH_EVERY_S):
                    await self._now.wait()  # a call sent, or closed: without the wait

    async def flush(self) -> None:
        if not self._events:
            return
        events, self._events = self._events, []
        finished, self._finished = self._finished, []
        if not self._closed:
            self._now.clear()  # the calls it was set for go now
        # Secrets of this host (its keys, --secret-env of the run) never leave it.
        text = json.dumps(events, default=str)
        if self._redactor.may_hold_secret(text):
            text = json.dumps(self._redactor.value(events), default=str)

        await self._queue.relay(text, finished)
        self.relayed += len(events)
