"""Fixtures shared by the whole suite. Keep bodies short; helpers live in their own modules."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakeserver import FakeLLMServer, ServerThread
from tests.redis_server import RedisServer, redis_server_binary


@pytest.fixture(scope="session")
def _fake_server_session() -> Iterator[FakeLLMServer]:
    with ServerThread() as server:
        yield server


@pytest.fixture
def fake_server(_fake_server_session: FakeLLMServer) -> Iterator[FakeLLMServer]:
    """The local fake OpenAI/Anthropic server (`.base_url`, `.url`, knobs), reset per test."""
    _fake_server_session.reset()
    yield _fake_server_session
    _fake_server_session.reset()


@pytest.fixture(scope="session")
def _redis_session() -> Iterator[RedisServer]:
    if redis_server_binary() is None:
        pytest.skip("redis-server is not installed and cannot be installed here")
    with RedisServer.start() as server:
        yield server


@pytest.fixture
def redis_server(_redis_session: RedisServer) -> Iterator[RedisServer]:
    """A real redis-server shared by the session (`.url`), emptied before each test."""
    if not _redis_session.running:  # a test stopped it on purpose
        _redis_session.restart()
    _redis_session.flush()
    yield _redis_session


@pytest.fixture
def own_redis_server() -> Iterator[RedisServer]:
    """A redis-server of this test alone, for tests that stop or restart it."""
    if redis_server_binary() is None:
        pytest.skip("redis-server is not installed and cannot be installed here")
    with RedisServer.start() as server:
        yield server
