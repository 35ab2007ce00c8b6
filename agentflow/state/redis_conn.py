"""The one owner of the connection to a shared Redis (`--state redis://HOST:PORT/DB`).

Every module that keeps shared state in Redis (limits, budgets, locks, the work
queue) goes through a `RedisConnection`: it parses the URL, holds one
`BlockingConnectionPool` (the default pool raises when exhausted; this one waits for a free
connection, up to `timeout_s`), loads the Lua scripts, and is the one place where redis-py's
exceptions become the project's (`SharedStateUnreachable` when the server cannot be reached,
`StateError` for anything else it answers):

    target = parse_redis_url("redis://localhost:6379/0")     # or None: not a Redis URL
    async with RedisConnection(target) as redis:
        await redis.ping()                                   # or SharedStateUnreachable
        script = redis.script(Path(__file__).with_name("limits.lua"))
        result = await redis.run(script, keys=["af:limit:*"], args=[1, 60])

Scripts are `register_script` objects, so each call sends EVALSHA and loads the script
again after a server restart. Script calls made in one turn of the event loop (a hundred
calls reaching their rate limit and budget at once) go out together as one pipeline: each
still runs atomically, in the order it was called, and they share one round trip, which
is most of what a call costs both sides (`statistics()` counts them). Keys are prefixed
`agentflow:` (`RedisConnection.key()`), so one Redis can hold other data beside ours. A
URL's password never appears in a message.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar
from urllib.parse import urlsplit

import redis.asyncio as aioredis
import redis.exceptions as redis_errors
from redis.commands.core import AsyncScript

from agentflow.errors import SharedStateUnreachable, StateError, UsageError

KEY_PREFIX = "agentflow:"
DEFAULT_MAX_CONNECTIONS = 32
DEFAULT_TIMEOUT_S = 5.0

ScriptArg = str | int | float


T = TypeVar("T")


def run_blocking(work: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a short Redis exchange to its end from synchronous code, on a loop of its own.

    Start-up checks (a ping, a group lock, a standing budget's balance) are synchronous
    steps of a run that may itself be set up inside a running loop (the Python API's
    `arun_file`, the CLI's `execute_run`): there the exchange runs in a thread of its own,
    and the caller waits for it.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(work())
    outcome: list[T] = []
    failure: list[BaseException] = []

    def target() -> None:
        try:
            outcome.append(asyncio.run(work()))
        except BaseException as exc:  # handed to the caller, in its thread
            failure.append(exc)

    thread = threading.Thread(target=target, name="redis-start-up", daemon=True)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return outcome[0]


@dataclass(frozen=True, slots=True)
class RedisStatistics:
    """A `RedisConnection`'s script calls and the round trips (pipelines) that carried them."""

    script_calls: int
    round_trips: int


@dataclass(frozen=True, slots=True)
class _ScriptCall:
    script: AsyncScript
    keys: list[str]
    args: list[ScriptArg]
    future: asyncio.Future[Any]


@dataclass(frozen=True, slots=True)
class RedisTarget:
    """A parsed `redis://[user:password@]HOST[:PORT][/DB]` URL."""

    url: str
    host: str
    port: int
    db: int
    tls: bool

    def display(self) -> str:
        """The URL without its credentials, for messages."""
        scheme = "rediss" if self.tls else "redis"
        return f"{scheme}://{self.host}:{self.port}/{self.db}"


def parse_redis_url(value: str, *, option: str = "--state") -> RedisTarget:
    """Parse a Redis URL given to `option`; a malformed one raises `UsageError` naming what
    is wrong."""
    try:
        parts = urlsplit(value)
        port = parts.port or 6379
    except ValueError as exc:
        raise UsageError(f"{option}: not a valid Redis URL ({exc})") from None
    if parts.scheme not in ("redis", "rediss"):
        raise UsageError(f"{option}: a Redis URL starts with redis:// or rediss://")
    if not parts.hostname:
        raise UsageError(f"{option}: the Redis URL has no host (redis://HOST:PORT/DB)")
    path = parts.path.strip("/")
    if path and not path.isdigit():
        raise UsageError(f"{option}: the Redis database must be a number, got {path!r}")
    target = RedisTarget(
        url=value,
        host=parts.hostname,
        port=port,
        db=int(path) if path else 0,
        tls=parts.scheme == "rediss",
    )
    return target


class RedisConnection:
    """One pool of connections to the shared Redis; see the module docstring.

    Create it inside the running event loop (the pool is bound to it) and close it with
    `aclose()` or `async with`.
    """

    def __init__(
        self,
        target: RedisTarget,
        *,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        hint: str = "start Redis there or run without --state redis://",
    ) -> None:
        self.target = target
        self._hint = hint  # what to do when it cannot be reached
        pool = aioredis.BlockingConnectionPool.from_url(
            target.url,
            max_connections=max_connections,
            timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            socket_timeout=timeout_s,
            decode_responses=True,
        )
        self._pool = pool
        self._client: aioredis.Redis = aioredis.Redis(connection_pool=pool)
        self._scripts: dict[Path, AsyncScript] = {}
        self._batch: list[_ScriptCall] = []  # called in this turn of the loop, not sent yet
        self._sending: set[asyncio.Task[None]] = set()
        self._round_trips = 0
        self._script_calls = 0

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close every pooled connection; errors while closing are of no interest."""
        while self._sending:  # script calls already made are answered first
            await asyncio.wait(set(self._sending))
        with contextlib.suppress(redis_errors.RedisError, OSError):
            await self._client.aclose()
        with contextlib.suppress(redis_errors.RedisError, OSError):
            await self._pool.disconnect()

    @staticmethod
    def key(*parts: str) -> str:
        """A key in agentflow's namespace: `key("limit", "*")` -> `agentflow:limit:*`."""
        return KEY_PREFIX + ":".join(parts)

    def script(self, path: Path) -> AsyncScript:
        """The Lua script in `path`, registered once per connection."""
        script = self._scripts.get(path)
        if script is None:
            script = self._scripts[path] = self._client.register_script(path.read_text())
        return script

    async def run(
        self, script: AsyncScript, *, keys: Sequence[str], args: Sequence[ScriptArg]
    ) -> Any:
        """Run a registered script atomically on the server (in one pipeline with the other
        scripts called in this turn of the event loop)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._batch.append(_ScriptCall(script, list(keys), list(args), future))
        if len(self._batch) == 1:
            loop.call_soon(self._send_batch)  # after every call made in this turn
        return await future

    def statistics(self) -> RedisStatistics:
        """Script calls made so far and the round trips that carried them."""
        return RedisStatistics(script_calls=self._script_calls, round_trips=self._round_trips)

    def _send_batch(self) -> None:
        batch, self._batch = self._batch, []
        if not batch:
            return
        # A task of this connection's (awaited by `aclose`): once sent, a script's answer is
        # taken even when its caller stopped waiting, so no caller's cancellation cuts a
        # reply off the shared connection half-read.
        task = asyncio.get_running_loop().create_task(self._execute(batch))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _execute(self, batch: list[_ScriptCall]) -> None:
        self._round_trips += 1
        self._script_calls += len(batch)
        try:
            async with self.translated():
                if len(batch) == 1:  # alone in its turn: one EVALSHA, no pipeline to set up
                    call = batch[0]
                    replies = [await call.script(call.keys, call.args, client=self._client)]
                else:
                    pipe = self._client.pipeline(transaction=False)
                    for call in batch:
                        pipe.evalsha(call.script.sha, len(call.keys), *call.keys, *call.args)
                    replies = await pipe.execute(raise_on_error=False)
                    for index, reply in enumerate(replies):
                        if isinstance(reply, redis_errors.NoScriptError):  # Redis restarted
                            call = batch[index]
                            replies[index] = await call.script(
                                call.keys, call.args, client=self._client
                            )
        except StateError as exc:
            for call in batch:
                if not call.future.done():
                    call.future.set_exception(type(exc)(*exc.args))
            return
        except BaseException:  # the loop is shutting down: no caller waits forever
            for call in batch:
                call.future.cancel()
            raise
        for call, reply in zip(batch, replies, strict=True):
            if call.future.done():
                continue  # its caller was cancelled
            if isinstance(reply, redis_errors.RedisError):
                call.future.set_exception(self._refused(reply))
            else:
                call.future.set_result(reply)

    async def ping(self) -> None:
        """Check the server answers (a clear `SharedStateUnreachable` if it does not)."""
        async with self.translated():
            await self._client.ping()

    async def time(self) -> float:
        """The server's clock (Redis TIME) in seconds."""
        async with self.translated():
            seconds, micros = await self._client.time()
        return float(seconds) + float(micros) / 1e6

    async def command(self, *args: ScriptArg) -> Any:
        """Send one plain command (`GET`, `DEL`, `HGETALL`, ...) and return its reply."""
        async with self.translated():
            return await self._client.execute_command(*args)  # type: ignore[no-untyped-call]

    async def call(self, work: Callable[[aioredis.Redis], Awaitable[Any]]) -> Any:
        """Run `work` with the client (typed stream commands, pipelines) inside `translated()`:

        await redis.call(lambda c: c.xack(stream, group, entry_id))
        """
        async with self.translated():
            return await work(self._client)

    @contextlib.asynccontextmanager
    async def translated(self) -> AsyncIterator[None]:
        """The one place redis-py's exceptions become the project's."""
        try:
            yield
        except (redis_errors.ConnectionError, redis_errors.TimeoutError, OSError) as exc:
            raise SharedStateUnreachable(
                f"the shared state at {self.target.display()} cannot be reached "
                f"({_reason(exc)}); {self._hint}"
            ) from None
        except redis_errors.RedisError as exc:
            raise self._refused(exc) from None

    def _refused(self, exc: redis_errors.RedisError) -> StateError:
        return StateError(
            f"the shared state at {self.target.display()} refused a command: {_reason(exc)}"
        )


QUEUE_HINT = "start Redis there, or check the --queue URL"


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
