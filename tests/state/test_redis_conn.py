"""The Redis connection: URL parsing, the pool, the one translation of its errors."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from agentflow.errors import SharedStateUnreachable, StateError, UsageError
from agentflow.state.locator import is_redis_url
from agentflow.state.redis_conn import RedisConnection, parse_redis_url
from tests.redis_server import RedisServer, free_port


def test_redis_urls_are_told_apart_from_state_files() -> None:
    assert is_redis_url("redis://localhost:6379/0")
    assert is_redis_url("rediss://cache.internal/2")
    assert not is_redis_url(".agentflow/state.db")
    assert not is_redis_url(None)


def test_a_url_parses_into_host_port_and_db_and_displays_without_its_password() -> None:
    target = parse_redis_url("redis://user:s3cret@redis.internal:6380/3")
    assert (target.host, target.port, target.db, target.tls) == ("redis.internal", 6380, 3, False)
    assert target.display() == "redis://redis.internal:6380/3"
    assert "s3cret" not in target.display()
    assert parse_redis_url("redis://localhost").port == 6379
    assert parse_redis_url("redis://localhost").db == 0


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("redis:///0", "no host"),
        ("redis://localhost:6379/zero", "must be a number"),
        ("redis://localhost:notaport/0", "not a valid Redis URL"),
    ],
)
def test_a_malformed_url_is_a_usage_error_saying_what_is_wrong(url: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        parse_redis_url(url)


def test_commands_and_scripts_run_on_the_real_server(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    script_path = tmp_path / "incr.lua"
    script_path.write_text("return redis.call('INCRBY', KEYS[1], ARGV[1])")

    async def scenario() -> tuple[int, int, float]:
        async with RedisConnection(parse_redis_url(redis_server.url)) as redis:
            await redis.ping()
            script = redis.script(script_path)
            first = await redis.run(script, keys=[redis.key("n")], args=[5])
            second = await redis.run(script, keys=[redis.key("n")], args=[2])
            return first, second, await redis.time()

    first, second, now = asyncio.run(scenario())
    assert (first, second) == (5, 7)
    assert now > 1_600_000_000
    assert redis_server.command("GET", "agentflow:n").endswith(b"7\r\n")


def test_a_server_that_is_not_there_is_one_clear_error_without_the_password() -> None:
    url = f"redis://:hunter2@127.0.0.1:{free_port()}/0"

    async def scenario() -> None:
        async with RedisConnection(parse_redis_url(url), timeout_s=1.0) as redis:
            await redis.ping()

    with pytest.raises(SharedStateUnreachable) as caught:
        asyncio.run(scenario())
    message = str(caught.value)
    assert "cannot be reached" in message and "127.0.0.1" in message
    assert "hunter2" not in message
    assert "\n" not in message


def test_more_callers_than_connections_wait_for_the_pool_instead_of_failing(
    redis_server: RedisServer,
) -> None:
    async def scenario() -> int:
        target = parse_redis_url(redis_server.url)
        async with RedisConnection(target, max_connections=2) as redis:
            await asyncio.gather(*(redis.ping() for _ in range(50)))
            return 50

    assert asyncio.run(scenario()) == 50


def test_a_server_stopped_mid_use_becomes_unreachable(own_redis_server: RedisServer) -> None:
    async def scenario() -> None:
        async with RedisConnection(parse_redis_url(own_redis_server.url), timeout_s=1.0) as redis:
            await redis.ping()
            own_redis_server.stop()
            await redis.ping()

    with pytest.raises(SharedStateUnreachable, match="cannot be reached"):
        asyncio.run(scenario())


def _append_script(tmp_path: Path) -> Path:
    path = tmp_path / "append.lua"
    # Appends its argument to a list and returns the list's length: the order calls ran in.
    path.write_text(
        "if ARGV[1] == 'fail' then return redis.error_reply('ERR refused on purpose') end\n"
        "return redis.call('RPUSH', KEYS[1], ARGV[1])"
    )
    return path


async def _in_one_turn(
    redis: RedisConnection, script: Any, key: str, args: Sequence[str | int]
) -> list[object]:
    """`script` called once per argument, all in one turn of the event loop."""
    calls = (redis.run(script, keys=[key], args=[arg]) for arg in args)
    return list(await asyncio.gather(*calls, return_exceptions=True))


def test_scripts_called_in_one_turn_share_one_round_trip_and_run_in_call_order(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    async def scenario() -> tuple[list[object], int, int]:
        async with RedisConnection(parse_redis_url(redis_server.url)) as redis:
            script = redis.script(_append_script(tmp_path))
            key = redis.key("order")
            replies = await _in_one_turn(redis, script, key, range(100))
            stats = redis.statistics()
            return replies, stats.script_calls, stats.round_trips

    replies, calls, round_trips = asyncio.run(scenario())
    assert replies == list(range(1, 101))  # each ran once, in the order it was called
    assert (calls, round_trips) == (100, 1)
    listed = redis_server.command("LRANGE", "agentflow:order", "0", "-1").decode()
    assert listed.split("\r\n")[2::2][:100] == [str(n) for n in range(100)]


def test_a_refused_script_in_a_shared_round_trip_fails_only_its_own_caller(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    async def scenario() -> list[object]:
        async with RedisConnection(parse_redis_url(redis_server.url)) as redis:
            script = redis.script(_append_script(tmp_path))
            key = redis.key("refused")
            return await _in_one_turn(redis, script, key, ("a", "fail", "b"))

    first, refused, last = asyncio.run(scenario())
    assert (first, last) == (1, 2)
    assert isinstance(refused, StateError) and not isinstance(refused, SharedStateUnreachable)
    assert "refused on purpose" in str(refused)


def test_scripts_the_server_forgot_are_loaded_again_inside_a_shared_round_trip(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    async def scenario() -> list[object]:
        async with RedisConnection(parse_redis_url(redis_server.url)) as redis:
            script = redis.script(_append_script(tmp_path))
            key = redis.key("forgot")
            await redis.run(script, keys=[key], args=["first"])
            await redis.command("SCRIPT", "FLUSH")  # as after a restart
            return await _in_one_turn(redis, script, key, range(5))

    assert asyncio.run(scenario()) == [2, 3, 4, 5, 6]  # in call order


def test_callers_of_a_round_trip_to_a_stopped_server_each_get_the_clear_error(
    own_redis_server: RedisServer, tmp_path: Path
) -> None:
    async def scenario() -> list[object]:
        async with RedisConnection(parse_redis_url(own_redis_server.url), timeout_s=1.0) as redis:
            script = redis.script(_append_script(tmp_path))
            await redis.run(script, keys=[redis.key("gone")], args=["x"])
            own_redis_server.stop()
            return await _in_one_turn(redis, script, redis.key("gone"), range(3))

    outcomes = asyncio.run(scenario())
    assert all(isinstance(o, SharedStateUnreachable) for o in outcomes)
    assert len({id(o) for o in outcomes}) == 3  # one exception each, not one shared
