"""Concurrency groups: only one run of a group at a time (`concurrency: {group, on_conflict}`).

A run takes every group its instances name (the template rendered with each instance's
inputs, so `nightly-{{ inputs.tenant }}` is one group per tenant) before its log exists,
and gives them back when it ends:

    with hold_groups(groups, "skip", run_id=run_id, lock_dir=state_dir / "locks",
                     shared_url=None) as held_by:
        if held_by is not None:        # skip: another run holds a group
            print(held_by.line())      # "... is held by run R (pid P on host H, since T)"
            return 0
        ...run...

Locally a group is an exclusive `flock` on `<lock_dir>/<group>.lock`, which the operating
system releases when the process dies; with `--state redis://...` it is a Redis key set with
NX and a 30 s lease that a thread of the holder renews every 10 s, so a crashed holder's group
is free after its lease. `queue` waits for the group; `fail` raises `GroupHeld`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import re
import socket
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any, Literal

from agentflow.errors import GroupHeld, SharedStateUnreachable, UsageError
from agentflow.model.types import Workflow

OnConflict = Literal["skip", "queue", "fail"]
LEASE_S = 30.0
RENEW_EVERY_S = 10.0
_QUEUE_POLL_S = 0.2

_RENEW = (
    "if redis.call('GET', KEYS[1]) == ARGV[1] then "
    "return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end"
)
_RELEASE = (
    "if redis.call('GET', KEYS[1]) == ARGV[1] then "
    "return redis.call('DEL', KEYS[1]) else return 0 end"
)


@dataclass(frozen=True, slots=True)
class Holder:
    """Who holds a group: enough for one line that says which run it is."""

    group: str
    run_id: str
    pid: int
    host: str
    since: str

    def line(self) -> str:
        return (
            f"concurrency group {self.group!r} is held by run {self.run_id} "
            f"(pid {self.pid} on {self.host}, since {self.since})"
        )


def groups_of(instances: Sequence[tuple[Workflow, Mapping[str, Any]]]) -> tuple[str, ...]:
    """Every group the instances name, rendered with their inputs, sorted (a fixed order
    of taking them, so two runs cannot each wait for the other)."""
    from agentflow.errors import TemplateRenderError
    from agentflow.templates import render

    names: set[str] = set()
    for workflow, inputs in instances:
        if workflow.concurrency is None:
            continue
        try:
            names.add(render(workflow.concurrency.group, {"inputs": dict(inputs)}))
        except TemplateRenderError as exc:
            raise UsageError(
                f"{workflow.path}: concurrency.group cannot be rendered: {exc}"
            ) from None
    return tuple(sorted(names))


def conflict_action(workflows: Sequence[Workflow]) -> OnConflict:
    """The strictest `on_conflict` of the workflows: fail, then queue, then skip."""
    actions = {w.concurrency.on_conflict for w in workflows if w.concurrency is not None}
    for action in ("fail", "queue", "skip"):
        if action in actions:
            return action
    return "skip"


@contextlib.contextmanager
def hold_groups(
    groups: Sequence[str],
    on_conflict: OnConflict,
    *,
    run_id: str,
    lock_dir: Path,
    shared_url: str | None,
) -> Iterator[Holder | None]:
    """Hold every group for the body; yields None, or (skip) the holder of a taken group."""
    if not groups:
        yield None
        return
    me = Holder(
        group="",
        run_id=run_id,
        pid=os.getpid(),
        host=socket.gethostname(),
        since=dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
    locks: _Locks = _RedisLocks(shared_url) if shared_url else _FileLocks(lock_dir)
    try:
        for group in groups:
            mine = Holder(group, me.run_id, me.pid, me.host, me.since)
            while True:
                other = locks.take(mine)
                if other is None:
                    break
                if on_conflict == "skip":
                    yield other
                    return
                if on_conflict == "fail":
                    raise GroupHeld(other.line() + "; on_conflict: fail")
                time.sleep(_QUEUE_POLL_S)
        locks.start_renewing()
        yield None
    finally:
        locks.release_all()


class _Locks:
    def take(self, mine: Holder) -> Holder | None:
        raise NotImplementedError

    def start_renewing(self) -> None:
        return None

    def release_all(self) -> None:
        raise NotImplementedError


def _file_name(group: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", group)
    return f"{safe}.lock"


class _FileLocks(_Locks):
    def __init__(self, lock_dir: Path) -> None:
        self._dir = lock_dir
        self._held: list[IO[str]] = []

    def take(self, mine: Holder) -> Holder | None:
        self._dir.mkdir(parents=True, exist_ok=True)
        handle = open(self._dir / _file_name(mine.group), "a+", encoding="utf-8")  # noqa: SIM115
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            text = handle.read()
            handle.close()
            return _holder_from(text, mine.group)
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps(asdict(mine)))
        handle.flush()
        self._held.append(handle)
        return None

    def release_all(self) -> None:
        for handle in self._held:
            with contextlib.suppress(OSError):
                handle.seek(0)
                handle.truncate()
                fcntl.flock(handle, fcntl.LOCK_UN)
            handle.close()
        self._held.clear()


def _holder_from(text: str, group: str) -> Holder:
    try:
        data = json.loads(text)
        return Holder(
            group,
            str(data["run_id"]),
            int(data["pid"]),
            str(data["host"]),
            str(data["since"]),
        )
    except (ValueError, KeyError, TypeError):
        return Holder(group, "(unknown)", 0, "(unknown host)", "(unknown)")


class _RedisLocks(_Locks):
    """Leased keys, renewed by a thread with its own event loop (the run's loop is busy)."""

    def __init__(self, url: str) -> None:
        from agentflow.state.redis_conn import parse_redis_url

        self._target = parse_redis_url(url)
        self._held: list[tuple[str, str]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _key(self, group: str) -> str:
        from agentflow.state.redis_conn import RedisConnection

        return RedisConnection.key("group", group)

    def _call(self, *command: Any) -> Any:
        from agentflow.state.redis_conn import RedisConnection, run_blocking

        async def one() -> Any:
            async with RedisConnection(self._target, timeout_s=5.0) as redis:
                return await redis.command(*command)

        return run_blocking(one)

    def take(self, mine: Holder) -> Holder | None:
        key, value = self._key(mine.group), json.dumps(asdict(mine))
        if self._call("SET", key, value, "NX", "PX", int(LEASE_S * 1000)):
            self._held.append((key, value))
            return None
        text = self._call("GET", key)
        if text is None:  # released in between: try again
            return self.take(mine)
        return _holder_from(str(text), mine.group)

    def start_renewing(self) -> None:
        if self._held:
            self._thread = threading.Thread(target=self._renew, name="group-lease", daemon=True)
            self._thread.start()

    def _renew(self) -> None:
        while not self._stop.wait(RENEW_EVERY_S):
            for key, value in self._held:
                with contextlib.suppress(SharedStateUnreachable):
                    self._call("EVAL", _RENEW, 1, key, value, int(LEASE_S * 1000))

    def release_all(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        for key, value in self._held:
            with contextlib.suppress(SharedStateUnreachable):
                self._call("EVAL", _RELEASE, 1, key, value)
        self._held.clear()
