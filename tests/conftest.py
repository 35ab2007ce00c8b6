"""Fixtures shared by the whole suite. Keep bodies short; helpers live in their own modules."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakeserver import FakeLLMServer, ServerThread


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
