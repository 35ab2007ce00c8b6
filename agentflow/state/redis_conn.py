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

Scripts are `register_script` objects, so each call sends EVALSHA and falls back to EVAL
once after a server restart. Keys are prefixed `agentflow:` (`RedisConnection.key()`), so one
Redis can hold other data beside ours. A URL's password never appears in a message.
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
        """Run a registered script atomically on the server."""
        async with self.translated():
            return await script(keys=list(keys), args=list(args), client=self._client)

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
            raise StateError(
                f"the shared state at {self.target.display()} refused a command: {_reason(exc)}"
            ) from None


QUEUE_HINT = "start Redis there, or check the --queue URL"


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
